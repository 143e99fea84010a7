"""Element types that flow between Veil's transforms: frozen, picklable, free of pixel data."""

from __future__ import annotations

import dataclasses
import datetime as dt
from fractions import Fraction

from schemas.codes import Action, IdentitySource, QuarantineReason, ReasonCode

Box = tuple[float, float, float, float]
"""x, y, width, height in pixels of the original frame."""


@dataclasses.dataclass(frozen=True)
class MediaSource:
    """One input stream: a video file, or a folder of still frames ordered by name."""

    origin_uri: str
    uri: str
    kind: str
    frame_uris: tuple[str, ...] = ()

    @property
    def single_file(self) -> str | None:
        """The readable file behind this input, when it is one file (what quarantine keeps a copy of)."""
        return None if self.frame_uris else self.uri


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """An identified input: where it came from, which camera, when it started."""

    source: MediaSource
    media_id: str
    sha256: str
    camera_id: str | None
    start_time: dt.datetime | None
    identity_source: IdentitySource

    @property
    def camera_known(self) -> bool:
        return self.camera_id is not None


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    """What probing a media input found: frame count, rate, size, segment boundaries."""

    frames: int
    fps: Fraction
    width: int
    height: int
    has_audio: bool


@dataclasses.dataclass(frozen=True)
class Segment:
    """An independently decodable run of frames [start_frame, end_frame) of one input."""

    media: MediaInfo
    stream: StreamInfo
    index: int
    count: int
    start_frame: int
    end_frame: int
    start_pts: int | None
    end_pts: int | None


@dataclasses.dataclass(frozen=True)
class Detection:
    """One face found by the detector in one frame."""

    frame: int
    box: Box
    score: float


class InputRefused(Exception):
    """An input, or part of one, that cannot be processed; carries the reason it is quarantined for."""

    def __init__(self, reason: QuarantineReason, message: str):
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why a stage could not process an element; the input it belongs to is quarantined."""

    reason: QuarantineReason
    message: str


@dataclasses.dataclass(frozen=True)
class SegmentDetections:
    """Every detection of one segment, or the failure that stopped its decoding."""

    segment: Segment
    detections: tuple[Detection, ...]
    failure: Failure | None = None


@dataclasses.dataclass(frozen=True)
class Track:
    """A face followed across frames; the detections that make it up."""

    track_id: int
    detections: tuple[Detection, ...]

    @property
    def first_frame(self) -> int:
        return self.detections[0].frame

    @property
    def last_frame(self) -> int:
        return self.detections[-1].frame


@dataclasses.dataclass(frozen=True)
class Decision:
    """The policy's verdict on one track; a track linked to a session names it, its consent and account."""

    track_id: int
    action: Action
    reason: ReasonCode
    zone_share: float | None = None
    session_id: str | None = None
    consent_id: str | None = None
    account_id: str | None = None


@dataclasses.dataclass(frozen=True)
class MediaTracks:
    """One input's segments and the face tracks found across all of them (or why it failed)."""

    media: MediaInfo
    stream: StreamInfo
    segments: tuple[Segment, ...]
    tracks: tuple[Track, ...]
    failure: Failure | None = None


Regions = dict[int, tuple[Box, ...]]
"""Boxes to destroy, by frame index."""


@dataclasses.dataclass(frozen=True)
class MediaPlan:
    """What to do with one input: a decision per track and the regions to destroy in each copy.

    ``regions`` is the public copy's: every face, kept ones included. ``restricted`` holds, per account
    with a kept face, the regions of that account's restricted copy: every face but the account's own.
    """

    tracks: MediaTracks
    decisions: tuple[Decision, ...]
    regions: Regions
    restricted: dict[str, Regions] = dataclasses.field(default_factory=dict)

    @property
    def media(self) -> MediaInfo:
        return self.tracks.media


@dataclasses.dataclass(frozen=True)
class SegmentJob:
    """One segment to redact and encode, with the regions to destroy in each of its frames, per copy."""

    segment: Segment
    regions: Regions
    restricted: dict[str, Regions] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EncodedSegment:
    """A redacted, encoded segment waiting in temporary storage to be joined.

    ``account_id`` is None for the public copy; a restricted copy's part is sealed with that account's key.
    """

    segment: Segment
    uri: str | None
    frames_written: int
    failure: Failure | None = None
    account_id: str | None = None


@dataclasses.dataclass(frozen=True)
class QuarantineRecord:
    """An input that could not be processed, and why."""

    input_uri: str
    reason: QuarantineReason
    message: str
    media_id: str | None = None
    source_uri: str | None = None
    """Where the input's bytes can be read, when it is a single file (kept in quarantine for the operator)."""
    camera_id: str | None = None
    """The input's camera, once identified (legal holds and reports go by camera)."""
