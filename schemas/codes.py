"""Enumerations shared by every stage: one place for every action, reason and status code."""
import enum


class RedactionMode(enum.StrEnum):
    """How a redacted face is destroyed in the output."""

    BLUR = "blur"
    PIXELATE = "pixelate"
    MASK = "mask"
    DROP_FRAME = "drop-frame"


class Action(enum.StrEnum):
    """What the policy does with a face track."""

    REDACT = "redact"
    KEEP = "keep"


class ReasonCode(enum.StrEnum):
    """Why a track got its action (Article 18: anything not positively linked to a service is redacted)."""

    NO_SERVICE_LINK = "no_service_link"
    UNKNOWN_CAMERA = "unknown_camera"


class MediaStatus(enum.StrEnum):
    """Where an input ended; every input ends in exactly one of these."""

    ANONYMIZED = "anonymized"
    QUARANTINED = "quarantined"


class QuarantineReason(enum.StrEnum):
    """Why an input could not be processed into output."""

    EMPTY_FILE = "empty_file"
    CORRUPT_MEDIA = "corrupt_media"
    TRUNCATED_MEDIA = "truncated_media"
    UNSUPPORTED_CODEC = "unsupported_codec"
    UNSUPPORTED_FILE = "unsupported_file"
    UNSAFE_ARCHIVE_PATH = "unsafe_archive_path"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    CORRUPT_ARCHIVE = "corrupt_archive"
    UNREADABLE_FRAMES = "unreadable_frames"
    PROCESSING_ERROR = "processing_error"


class SecondDetector(enum.StrEnum):
    """The detector run beside MediaPipe, for faces turned away from the camera."""

    CENTERFACE = "centerface"
    NONE = "none"


class IdentitySource(enum.StrEnum):
    """Where an input's camera id and start time came from."""

    MANIFEST = "manifest"
    PATH_TEMPLATE = "path_template"
    CONTAINER = "container"
    UNKNOWN = "unknown"


def values(enum_cls: type[enum.Enum]) -> list[str]:
    """The string values of an enumeration, in declaration order (for schemas and suites)."""
    return [member.value for member in enum_cls]
