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

    CONSENTED_SERVICE_SUBJECT = "consented_service_subject"
    UNKNOWN_CAMERA = "unknown_camera"
    UNREGISTERED_CAMERA = "unregistered_camera"
    UNKNOWN_START_TIME = "unknown_start_time"
    OUTSIDE_CAPTURE_AREA = "outside_capture_area"
    PURPOSE_KEEPS_NO_FACES = "purpose_keeps_no_faces"
    NO_SERVICE_LINK = "no_service_link"
    EXCESS_SUBJECT = "excess_subject"
    CONSENT_MISSING = "consent_missing"
    CONSENT_NOT_YET_GRANTED = "consent_not_yet_granted"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    GUARDIAN_CONSENT_MISSING = "guardian_consent_missing"
    REGISTRY_CONFLICT = "registry_conflict"


class Purpose(enum.StrEnum):
    """Why a camera was installed (Articles 7, 8); only service cameras may keep a face."""

    SERVICE = "service"
    PUBLIC_SAFETY = "public_safety"
    INTERNAL_MANAGEMENT = "internal_management"


class ConsentKind(enum.StrEnum):
    """How consent was given (Articles 5, 13): guardian consent is the only kind valid for a minor under 14."""

    SEPARATE = "separate"
    WRITTEN = "written"
    GUARDIAN = "guardian"


PRIVATE_LOCATIONS = frozenset(
    {"hotel_room", "bathroom", "public_bathroom", "changing_room", "toilet", "shower_room", "locker_room"}
)
"""Location categories where no image capture is allowed (Article 6); more can be configured per run."""


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
    PROHIBITED_LOCATION = "prohibited_location"
    INVALID_CAMERA_REGISTRY = "invalid_camera_registry"
    INVALID_ACCOUNT_EVENTS = "invalid_account_events"


class ArtifactKind(enum.StrEnum):
    """What a catalog entry is; each kind has its own retention window (schemas/retention.json)."""

    RAW_INPUT = "raw_input"
    QUARANTINED_INPUT = "quarantined_input"
    PUBLIC_COPY = "public_copy"
    RESTRICTED_COPY = "restricted_copy"
    TABLE_PARTITION = "table_partition"
    RUN_REPORT = "run_report"


class RetentionRule(enum.StrEnum):
    """Why the retention job deletes or anonymizes something."""

    RAW_PURGE = "article_17_raw_purge"
    PROHIBITED_PURGE = "article_6_prohibited_purge"
    QUARANTINE_WINDOW = "quarantine_window"
    RETENTION_WINDOW = "retention_window"
    ACCOUNT_CANCELLATION = "account_cancellation"


class LedgerAction(enum.StrEnum):
    """What the retention job did, as recorded in the ledger."""

    DELETE_FILE = "delete_file"
    DESTROY_KEY = "destroy_key"
    ANONYMIZE_ROWS = "anonymize_rows"


class PlanStatus(enum.StrEnum):
    """Where a retention action stands after a run (the retention_plan table's status)."""

    DONE = "done"
    DUE = "due"
    HELD = "held"
    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    REFUSED = "refused"
    """The catalog does not name the artifact unambiguously (a relative path): an operator must act."""


class AccountEvent(enum.StrEnum):
    """Account events the retention job acts on."""

    CANCELLED = "cancelled"


class HoldScope(enum.StrEnum):
    """What a legal hold covers: every artifact of a camera, or one artifact."""

    CAMERA = "camera"
    ARTIFACT = "artifact"


class IdentitySource(enum.StrEnum):
    """Where an input's camera id and start time came from."""

    MANIFEST = "manifest"
    PATH_TEMPLATE = "path_template"
    CONTAINER = "container"
    UNKNOWN = "unknown"


def values(enum_cls: type[enum.Enum]) -> list[str]:
    """The string values of an enumeration, in declaration order (for schemas and suites)."""
    return [member.value for member in enum_cls]


IN_WORDS: dict[str, str] = {
    # Why a track was kept or redacted.
    ReasonCode.CONSENTED_SERVICE_SUBJECT: "kept: the consented subject of a service session",
    ReasonCode.UNKNOWN_CAMERA: "redacted: the camera is not known (no manifest row or path match)",
    ReasonCode.UNREGISTERED_CAMERA: "redacted: the camera is not in the camera registry",
    ReasonCode.UNKNOWN_START_TIME: "redacted: the recording's start time is not known",
    ReasonCode.OUTSIDE_CAPTURE_AREA: "redacted: outside the camera's registered capture area",
    ReasonCode.PURPOSE_KEEPS_NO_FACES: "redacted: the camera's purpose keeps no faces",
    ReasonCode.NO_SERVICE_LINK: "redacted: not linked to any service session",
    ReasonCode.EXCESS_SUBJECT: "redacted: more faces than the session has subjects",
    ReasonCode.CONSENT_MISSING: "redacted: the session has no consent",
    ReasonCode.CONSENT_NOT_YET_GRANTED: "redacted: the consent was not yet granted",
    ReasonCode.CONSENT_EXPIRED: "redacted: the consent had expired",
    ReasonCode.CONSENT_WITHDRAWN: "redacted: the consent was withdrawn",
    ReasonCode.GUARDIAN_CONSENT_MISSING: "redacted: a minor's guardian consent is missing",
    ReasonCode.REGISTRY_CONFLICT: "redacted: the registries contradict each other",
    # Why an input was quarantined.
    QuarantineReason.EMPTY_FILE: "the file is empty",
    QuarantineReason.CORRUPT_MEDIA: "the video cannot be read",
    QuarantineReason.TRUNCATED_MEDIA: "the video breaks off before its end",
    QuarantineReason.UNSUPPORTED_CODEC: "no decoder for the video's codec",
    QuarantineReason.UNSUPPORTED_FILE: "not a video, frame folder or archive Veil reads",
    QuarantineReason.UNSAFE_ARCHIVE_PATH: "an archive member's path leads outside the archive",
    QuarantineReason.ARCHIVE_TOO_LARGE: "the archive expands beyond the size limit",
    QuarantineReason.CORRUPT_ARCHIVE: "the archive cannot be read",
    QuarantineReason.UNREADABLE_FRAMES: "a still frame cannot be read",
    QuarantineReason.PROCESSING_ERROR: "a stage failed on it unexpectedly",
    QuarantineReason.PROHIBITED_LOCATION: "the camera is at a private location (Article 6): never processed",
    QuarantineReason.INVALID_CAMERA_REGISTRY: "the camera's registry row cannot be trusted",
    QuarantineReason.INVALID_ACCOUNT_EVENTS: "the account events file cannot be read",
}
"""Each reason and quarantine code in words, for the terminal and the run report (codes stay in the tables)."""
