"""Registries an operator keeps beside the footage: cameras, service sessions, consents.

Each registry is a file in YAML (a list of mappings), CSV (a header row), JSON Lines or Parquet;
the pyarrow schemas below are its columns. Polygons are lists of ``[x, y]`` points in coordinates
normalised to the frame (0..1 from the left and top edges), so one registry fits any resolution;
in CSV a polygon or the zones mapping is written as JSON text. Times are ISO 8601 (naive means UTC).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa

from schemas.codes import AccountEvent, ConsentKind, HoldScope, Purpose

TIMESTAMP = pa.timestamp("us", tz="UTC")
POLYGON = pa.list_(pa.list_(pa.float64()))

CAMERAS = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("site", pa.string(), nullable=False),
        pa.field("location_category", pa.string(), nullable=False),
        pa.field("purpose", pa.string(), nullable=False, metadata={"enum": "Purpose"}),
        pa.field("signage", pa.bool_(), nullable=False),
        pa.field("capture_area", POLYGON, nullable=False),
        pa.field("zones", pa.map_(pa.string(), POLYGON)),
        pa.field("raw_retention_days", pa.int64()),
        pa.field("anonymized_retention_days", pa.int64()),
    ]
)

SESSIONS = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("start", TIMESTAMP, nullable=False),
        pa.field("end", TIMESTAMP, nullable=False),
        pa.field("zone_id", pa.string(), nullable=False),
        pa.field("consent_id", pa.string()),
        pa.field("subjects", pa.int64(), metadata={"default": "1"}),
    ]
)

CONSENTS = pa.schema(
    [
        pa.field("consent_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False, metadata={"enum": "ConsentKind"}),
        pa.field("subject_minor", pa.bool_(), metadata={"default": "false"}),
        pa.field("granted_at", TIMESTAMP, nullable=False),
        pa.field("expires_at", TIMESTAMP),
        pa.field("withdrawn_at", TIMESTAMP),
    ]
)

ACCOUNT_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False, metadata={"enum": "AccountEvent"}),
        pa.field("time", TIMESTAMP, nullable=False),
    ]
)

HOLDS = pa.schema(
    [
        pa.field("hold_id", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False, metadata={"enum": "HoldScope"}),
        pa.field("target", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

REGISTRIES: dict[str, pa.Schema] = {
    "cameras": CAMERAS,
    "sessions": SESSIONS,
    "consents": CONSENTS,
    "events": ACCOUNT_EVENTS,
    "holds": HOLDS,
}

Point = tuple[float, float]
Polygon = tuple[Point, ...]


@dataclasses.dataclass(frozen=True)
class Camera:
    """A registered camera: where it is, why it records, and the part of the frame it may capture."""

    camera_id: str
    site: str
    location_category: str
    purpose: Purpose
    signage: bool
    capture_area: Polygon
    zones: dict[str, Polygon]
    raw_retention_days: int | None = None
    anonymized_retention_days: int | None = None


@dataclasses.dataclass(frozen=True)
class Session:
    """A service given to one account at one camera's zone during [start, end)."""

    session_id: str
    account_id: str
    camera_id: str
    start: dt.datetime
    end: dt.datetime
    zone_id: str
    consent_id: str | None
    subjects: int = 1


@dataclasses.dataclass(frozen=True)
class Consent:
    """An account's consent to keep its face: valid from granted_at until it expires or is withdrawn."""

    consent_id: str
    account_id: str
    kind: ConsentKind
    subject_minor: bool
    granted_at: dt.datetime
    expires_at: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class AccountEventRow:
    """Something that happened to an account; a cancellation makes everything linked to it due for deletion."""

    event_id: str
    account_id: str
    event: AccountEvent
    time: dt.datetime


@dataclasses.dataclass(frozen=True)
class Hold:
    """A legal hold: nothing of the camera (or the one artifact) it names is deleted while it stands."""

    hold_id: str
    scope: HoldScope
    target: str
    reason: str


@dataclasses.dataclass(frozen=True)
class RegistryIssue:
    """A registry row that was refused, located by file, line and field; ``key`` is its id when readable."""

    registry: str
    file: str
    line: int | None
    field: str | None
    message: str
    key: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field or 'row'}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Registry:
    """Every registry of a run, with the rows refused; refused rows only ever narrow what is kept.

    ``invalid_cameras`` holds ids of cameras whose row was malformed or contradictory: their footage
    is quarantined, since its location category (Article 6) cannot be trusted.
    """

    cameras: dict[str, Camera] = dataclasses.field(default_factory=dict)
    sessions: tuple[Session, ...] = ()
    consents: dict[str, Consent] = dataclasses.field(default_factory=dict)
    invalid_cameras: frozenset[str] = frozenset()
    issues: tuple[RegistryIssue, ...] = ()
