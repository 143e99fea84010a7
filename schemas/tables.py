"""Pyarrow schemas of every table Veil writes, and the functions that build their rows: no column name is spelled
anywhere else."""

import statistics

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

MEDIA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("input_uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("camera_id", pa.string()),
        pa.field("camera_known", pa.bool_(), nullable=False),
        pa.field("identity_source", pa.string(), nullable=False),
        pa.field("start_time", TIMESTAMP),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("frames_out", pa.int64(), nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("output_uri", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("redaction_mode", pa.string(), nullable=False),
        pa.field("faces_redacted", pa.int64(), nullable=False),
        pa.field("tracks_redacted", pa.int64(), nullable=False),
        pa.field("tracks_kept", pa.int64(), nullable=False),
        pa.field("settings_hash", pa.string(), nullable=False),
    ]
)

FACE_TRACKS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("track_id", pa.int64(), nullable=False),
        pa.field("first_frame", pa.int64(), nullable=False),
        pa.field("last_frame", pa.int64(), nullable=False),
        pa.field("frame_count", pa.int64(), nullable=False),
        pa.field("max_score", pa.float64(), nullable=False),
        pa.field("mean_box_width", pa.float64(), nullable=False),
        pa.field("mean_box_height", pa.float64(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("reason_code", pa.string(), nullable=False),
        pa.field("zone_share", pa.float64()),
        pa.field("session_id", pa.string()),
        pa.field("consent_id", pa.string()),
        pa.field("account_id", pa.string()),
    ]
)

RESTRICTED = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("key_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("tracks_kept", pa.int64(), nullable=False),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("input_uri", pa.string(), nullable=False),
        pa.field("media_id", pa.string()),
        pa.field("camera_id", pa.string()),
        pa.field("reason_code", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
    ]
)

RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("started_at", TIMESTAMP, nullable=False),
        pa.field("finished_at", TIMESTAMP, nullable=False),
        pa.field("options", pa.string(), nullable=False),
        pa.field("inputs", pa.int64(), nullable=False),
        pa.field("anonymized", pa.int64(), nullable=False),
        pa.field("quarantined", pa.int64(), nullable=False),
        pa.field("skipped", pa.int64(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("faces_redacted", pa.int64(), nullable=False),
        pa.field("tracks_redacted", pa.int64(), nullable=False),
        pa.field("tracks_kept", pa.int64(), nullable=False),
    ]
)

CATALOG = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("media_id", pa.string()),
        pa.field("camera_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("created_at", TIMESTAMP, nullable=False),
        pa.field("retention_until", TIMESTAMP, nullable=False),
        pa.field("basis", pa.string(), nullable=False),
        pa.field("requires_approval", pa.bool_(), nullable=False),
    ]
)

RETENTION_PLAN = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("as_of", TIMESTAMP, nullable=False),
        pa.field("artifact_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("event_id", pa.string()),
        pa.field("due_at", TIMESTAMP, nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("note", pa.string(), nullable=False),
        pa.field("overdue", pa.bool_(), nullable=False),
    ]
)

LEAK_AUDIT = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("media_id", pa.string(), nullable=False),
        pa.field("frame", pa.int64(), nullable=False),
        pa.field("regions", pa.int64(), nullable=False),
        pa.field("detections_over_redacted", pa.int64(), nullable=False),
    ]
)

VALIDATION_FAILURES = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("row_key", pa.string(), nullable=False),
        pa.field("expectation", pa.string(), nullable=False),
        pa.field("column", pa.string()),
        pa.field("article", pa.string(), nullable=False),
        pa.field("critical", pa.bool_(), nullable=False),
    ]
)

STREAM_WINDOWS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("stream_id", pa.string(), nullable=False),
        pa.field("window_start", TIMESTAMP, nullable=False),
        pa.field("window_end", TIMESTAMP, nullable=False),
        pa.field("pane", pa.int64(), nullable=False),
        pa.field("timing", pa.string(), nullable=False),
        pa.field("recordings", pa.int64(), nullable=False),
        pa.field("anonymized", pa.int64(), nullable=False),
        pa.field("quarantined", pa.int64(), nullable=False),
        pa.field("skipped", pa.int64(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("faces_redacted", pa.int64(), nullable=False),
        pa.field("tracks_kept", pa.int64(), nullable=False),
        pa.field("lag_median_s", pa.float64(), nullable=False),
        pa.field("lag_max_s", pa.float64(), nullable=False),
        pa.field("runs_passed", pa.int64(), nullable=False),
        pa.field("runs_failed", pa.int64(), nullable=False),
        pa.field("written_at", TIMESTAMP, nullable=False),
    ]
)
"""One row per event-time window of a streaming job (rewritten whole by each later pane): what its recordings
amounted to, how long they took from landing to output, and whether each one's run passed validation."""

TABLES: dict[str, pa.Schema] = {
    "media": MEDIA,
    "face_tracks": FACE_TRACKS,
    "restricted": RESTRICTED,
    "catalog": CATALOG,
    "quarantine": QUARANTINE,
    "runs": RUNS,
    "leak_audit": LEAK_AUDIT,
    "retention_plan": RETENTION_PLAN,
    "stream_windows": STREAM_WINDOWS,
    "validation_failures": VALIDATION_FAILURES,
}

ANONYMIZE_TABLES = ("media", "face_tracks", "restricted", "quarantine", "leak_audit", "catalog", "runs")
"""The tables an anonymize run writes (batch, or a streaming job's recording), in the order a recording writes them:
the runs row last, as it marks the run complete."""
WINDOW_TABLES = ("stream_windows", "catalog")
"""The tables a streaming job's window writes."""
QUARANTINE_TABLES = ("quarantine", "catalog")
"""The tables a run that only quarantines writes (an events file a streaming job could not read)."""
WRITTEN_BY_VALIDATION = ("validation_failures",)
"""What validating a run adds to it: the failing rows of its failed expectations."""
VALIDATED = tuple(name for name in TABLES if name not in WRITTEN_BY_VALIDATION)
"""The tables every run validates against its suite in schemas/expectations/<table>.json."""

ROW_KEYS: dict[str, tuple[str, ...]] = {
    "media": ("media_id",),
    "face_tracks": ("media_id", "track_id"),
    "restricted": ("media_id", "key_id"),
    "catalog": ("artifact_id", "media_id"),
    "retention_plan": ("artifact_id", "action", "event_id"),
    "quarantine": ("input_uri",),
    "runs": ("run_id",),
    "leak_audit": ("media_id", "frame"),
    "stream_windows": ("window_start", "pane"),
}
"""Columns that name a row in validation_failures."""

DERIVED: dict[str, dict[str, str]] = {
    "catalog": {
        "retention_days": "whole days from created_at to retention_until",
        "max_days": "the retention policy's maximum for the row's kind (schemas/retention.json)",
    },
    "runs": {
        "accounted": "media rows plus quarantine rows of the run, counted from those tables",
        "media_rows": "media rows of the run, counted from that table",
    },
}
"""Columns the validator adds before validating, so a suite can compare a table with the others."""


def media_row(
    plan,
    output_uri: str,
    frames_out: int,
    status: str,
    redaction_mode: str,
    settings_hash: str,
    faces_redacted: int,
    tracks_redacted: int,
    tracks_kept: int,
) -> dict:
    """The media table row of an input that was written out."""
    media, stream = plan.media, plan.tracks.stream
    return {
        "media_id": media.media_id,
        "input_uri": media.source.origin_uri,
        "sha256": media.sha256,
        "camera_id": media.camera_id,
        "camera_known": media.camera_known,
        "identity_source": media.identity_source.value,
        "start_time": media.start_time,
        "frames": stream.frames,
        "frames_out": frames_out,
        "fps": float(stream.fps),
        "width": stream.width,
        "height": stream.height,
        "output_uri": output_uri,
        "status": status,
        "redaction_mode": redaction_mode,
        "faces_redacted": faces_redacted,
        "tracks_redacted": tracks_redacted,
        "tracks_kept": tracks_kept,
        "settings_hash": settings_hash,
    }


def face_track_row(media_id: str, track, decision) -> dict:
    """The face_tracks row of one track: extent, strength and decision; no pixels, no templates."""
    dets = track.detections
    return {
        "media_id": media_id,
        "track_id": track.track_id,
        "first_frame": track.first_frame,
        "last_frame": track.last_frame,
        "frame_count": len(dets),
        "max_score": max(d.score for d in dets),
        "mean_box_width": sum(d.box[2] for d in dets) / len(dets),
        "mean_box_height": sum(d.box[3] for d in dets) / len(dets),
        "action": decision.action.value,
        "reason_code": decision.reason.value,
        "zone_share": decision.zone_share,
        "session_id": decision.session_id,
        "consent_id": decision.consent_id,
        "account_id": decision.account_id,
    }


def restricted_row(
    media_id: str, camera_id: str, account_id: str, key_id: str, uri: str, frames: int, tracks_kept: int
) -> dict:
    """The restricted table row of one account's sealed copy of an input."""
    return {
        "media_id": media_id,
        "camera_id": camera_id,
        "account_id": account_id,
        "key_id": key_id,
        "uri": uri,
        "frames": frames,
        "tracks_kept": tracks_kept,
    }


def leak_audit_row(media_id: str, frame: int, regions: int, detections_over_redacted: int) -> dict:
    """The leak_audit row of one audited output frame."""
    return {
        "media_id": media_id,
        "frame": frame,
        "regions": regions,
        "detections_over_redacted": detections_over_redacted,
    }


def quarantine_row(record) -> dict:
    """The quarantine table row of a refused input."""
    return {
        "input_uri": record.input_uri,
        "media_id": record.media_id,
        "camera_id": record.camera_id,
        "reason_code": record.reason.value,
        "message": record.message,
    }


DONE_KEY = ("input_uri", "sha256", "settings_hash")
"""Media columns that say an input was already anonymized with the same settings."""


def runs_row(started_at, finished_at, options: str, media_rows: list[dict], quarantined: int, skipped: int) -> dict:
    """The runs table row of a finished run, from its media rows and counts of refused and skipped inputs."""
    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "options": options,
        "inputs": len(media_rows) + quarantined,
        "anonymized": len(media_rows),
        "quarantined": quarantined,
        "skipped": skipped,
        "frames": sum(r["frames"] for r in media_rows),
        "faces_redacted": sum(r["faces_redacted"] for r in media_rows),
        "tracks_redacted": sum(r["tracks_redacted"] for r in media_rows),
        "tracks_kept": sum(r["tracks_kept"] for r in media_rows),
    }


def catalog_row(
    artifact_id: str,
    kind: str,
    uri: str,
    media_id: str | None,
    camera_id: str | None,
    account_id: str | None,
    created_at,
    retention_until,
    basis: str,
    requires_approval: bool,
) -> dict:
    """The catalog row of one artifact a run left behind."""
    return {
        "artifact_id": artifact_id,
        "kind": kind,
        "uri": uri,
        "media_id": media_id,
        "camera_id": camera_id,
        "account_id": account_id,
        "created_at": created_at,
        "retention_until": retention_until,
        "basis": basis,
        "requires_approval": requires_approval,
    }


def retention_plan_row(as_of, action, status: str, note: str, overdue: bool) -> dict:
    """The retention_plan row of one pending or done action (a transforms.logic.retention.Action)."""
    return {
        "as_of": as_of,
        "artifact_id": action.artifact_id,
        "kind": action.kind,
        "action": action.action.value,
        "rule": action.rule.value,
        "event_id": action.event_id,
        "due_at": action.due_at,
        "status": status,
        "note": note,
        "overdue": overdue,
    }


def validation_failure_row(outcome, row_key: str) -> dict:
    """The validation_failures row of one failing row of a failed expectation (a validation Outcome)."""
    return {
        "table": outcome.table,
        "row_key": row_key,
        "expectation": outcome.expectation,
        "column": outcome.column,
        "article": outcome.article,
        "critical": outcome.critical,
    }


def stream_window_row(stream_id: str, start, end, pane: int, timing: str, recordings: list, written_at) -> dict:
    """The stream_windows row of one pane of a window, from every recording in it so far (RecordingDone each)."""
    lags = [r.lag_seconds for r in recordings] or [0.0]
    return {
        "stream_id": stream_id,
        "window_start": start,
        "window_end": end,
        "pane": pane,
        "timing": timing,
        "recordings": len(recordings),
        "anonymized": sum(r.anonymized for r in recordings),
        "quarantined": sum(r.quarantined for r in recordings),
        "skipped": sum(r.skipped for r in recordings),
        "frames": sum(r.frames for r in recordings),
        "faces_redacted": sum(r.faces_redacted for r in recordings),
        "tracks_kept": sum(r.tracks_kept for r in recordings),
        "lag_median_s": float(statistics.median(lags)),
        "lag_max_s": float(max(lags)),
        "runs_passed": sum(r.passed for r in recordings),
        "runs_failed": sum(not r.passed for r in recordings),
        "written_at": written_at,
    }
