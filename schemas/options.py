"""Every option of Veil's commands, defined once: name, type, default, help, group and the config field it sets.

The PipelineOptions classes (pipelines/options.py), the defaults of the config dataclasses, the Dataflow template's
metadata (deploy/dataflow/metadata.json) and the CLI reference (docs/cli.md) are derived from ``OPTIONS``;
``make docs`` writes the derived files and tests/pipelines/test_options.py keeps them equal to what this defines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from schemas.codes import RedactionMode, values

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

INPUT, DETECTION, REDACTION, POLICY, OUTPUT, RUNNER, RETENTION, STREAMING = (
    "input",
    "detection",
    "redaction",
    "policy and registries",
    "output",
    "runner",
    "retention",
    "streaming",
)
GROUPS = (INPUT, DETECTION, REDACTION, POLICY, OUTPUT, RUNNER, RETENTION, STREAMING)
"""Groups in the order --help lists them."""

ANONYMIZE, LAUNCH, RETAIN, STREAM = "anonymize", "launch", "retention", "stream"
"""The PipelineOptions class that registers an option. Beam parses every registered class together, so each flag has
exactly one owner, and a command takes options of several classes (pipelines/options.COMMANDS)."""

SWITCH = bool
"""``type`` of an on/off flag: given means true."""
REPEATED = list
"""``type`` of an option that may be given several times, each value kept."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One command-line option.

    name: the destination, with underscores; the command line takes it with dashes and with underscores.
    config: "<config>.<field>" of the config dataclass it sets, whose default is this option's.
    label: its label as a Dataflow template parameter; an option without one is no template parameter.
    uri: it names a file or folder (made absolute once; gs:// in the template).
    pattern: a regular expression values must match in the template, where type and choices say too little.
    shown_default: how the default reads in help, where the value itself would not say it.
    """

    name: str
    help: str
    group: str
    owner: str
    type: type = str
    default: Any = None
    choices: tuple[str, ...] = ()
    config: str = ""
    label: str = ""
    uri: bool = False
    pattern: str = ""
    metavar: str = ""
    shown_default: str = ""

    @property
    def flags(self) -> tuple[str, ...]:
        """The spellings on the command line: --with-dashes first, --with_underscores too."""
        dashed = "--" + self.name.replace("_", "-")
        return (dashed,) if "_" not in self.name else (dashed, "--" + self.name)

    @property
    def default_text(self) -> str:
        """The default as help shows it, or "" when there is none to show."""
        if self.shown_default:
            return self.shown_default
        if self.type in (SWITCH, REPEATED) or self.default in (None, ""):
            return ""
        return str(self.default)

    @property
    def described(self) -> str:
        """The help line with its default."""
        return f"{self.help} (default: {self.default_text})" if self.default_text else self.help


# fmt: off
OPTIONS: tuple[Option, ...] = (
    # veil anonymize (also the streaming job's, and the template's parameters)
    Option("input", "file, folder, glob or tar/zip archive of footage (local, gs://, s3://)", INPUT, ANONYMIZE,
           label="Input footage", uri=True),
    Option("output", "output root: anonymized videos, sealed restricted copies, tables, quarantine and reports "
           "(local, gs://, s3://); must not lie inside the input", OUTPUT, ANONYMIZE, label="Output root", uri=True),
    Option("manifest", "CSV or JSON Lines of path, camera_id, start_time for each input", INPUT, ANONYMIZE,
           label="Manifest", uri=True, metavar="FILE"),
    Option("path_template", "camera and start time from the path, e.g. '{camera_id}/{date}/{time}.mp4', matched "
           "against the end of each path (for inputs no manifest names)", INPUT, ANONYMIZE, label="Path template",
           metavar="T"),
    Option("image_fps", "frame rate given to folders of still frames", INPUT, ANONYMIZE, float, 10.0,
           label="Frame rate of still frames", shown_default="10"),
    Option("max_archive_bytes", "refuse archives that expand beyond this many bytes", INPUT, ANONYMIZE, int,
           20 << 30, config="limits.max_total_bytes", label="Archive size limit", shown_default="20 GiB"),
    Option("segment_frames", "frames per segment, rounded up to the next keyframe (the unit of parallelism)", INPUT,
           ANONYMIZE, int, 150, label="Frames per segment"),
    Option("detect_every", "scan one frame in this many for faces; face tracks cover the frames between (1 scans "
           "every frame)", DETECTION, ANONYMIZE, int, 2, config="detector.every", label="Scan one frame in"),
    Option("face_threshold", "BlazeFace detections scoring at least this are faces", DETECTION, ANONYMIZE, float,
           0.5, config="detector.face_threshold", label="Face threshold"),
    Option("candidate_threshold", "BlazeFace detections scoring at least this, but under --face-threshold, are "
           "checked by CenterFace", DETECTION, ANONYMIZE, float, 0.2, config="detector.candidate_threshold",
           label="Candidate threshold"),
    Option("centerface_threshold", "CenterFace detections in the square around a candidate scoring at least this "
           "are faces (0: CenterFace off, candidates dropped, leaks more)", DETECTION, ANONYMIZE, float, 0.2,
           config="detector.centerface_threshold", label="CenterFace threshold"),
    Option("head_threshold", "people the pose detector finds scoring at least this have their head redacted where no "
           "face was found in it: turned away, looking down", DETECTION, ANONYMIZE, float, 0.3,
           config="detector.head_threshold", label="Head threshold"),
    Option("head_every", "look for heads (the pose detector) on one scanned frame in this many (2: one frame in 4 at "
           "--detect-every 2; 1: every scanned frame)", DETECTION, ANONYMIZE, int, 2, config="detector.head_every",
           label="Look for heads on one scanned frame in"),
    Option("audit_rate", "share of redacted frames the leak audit re-examines with Haar cascades, 0 to 1", DETECTION,
           ANONYMIZE, float, 0.05, config="audit.rate", label="Leak audit rate"),
    Option("redact", "how faces are destroyed", REDACTION, ANONYMIZE, default=RedactionMode.BLUR.value,
           choices=tuple(values(RedactionMode)), label="Redaction mode"),
    Option("crf", "x264 constant rate factor, 0 to 51", REDACTION, ANONYMIZE, int, 23, config="encoder.crf",
           label="x264 CRF"),
    Option("preset", "x264 speed preset", REDACTION, ANONYMIZE, default="veryfast", choices=X264_PRESETS,
           config="encoder.preset", label="x264 preset"),
    Option("keep_audio", "copy audio through (dropped by default: voices are personal data too)", REDACTION,
           ANONYMIZE, SWITCH, label="Keep audio"),
    Option("cameras", "camera registry (YAML, CSV, JSON Lines or Parquet; see schemas/registries.py); without it "
           "every camera is unregistered and every face redacted", POLICY, ANONYMIZE, label="Camera registry",
           uri=True, metavar="FILE"),
    Option("sessions", "service session registry: who was served where and when", POLICY, ANONYMIZE,
           label="Session registry", uri=True, metavar="FILE"),
    Option("consents", "consent registry: the consents sessions refer to", POLICY, ANONYMIZE,
           label="Consent registry", uri=True, metavar="FILE"),
    Option("zone_share", "share of a track's detections that must lie in a session's zone during the session for "
           "the face to count as the session's subject, 0 to 1", POLICY, ANONYMIZE, float, 0.6,
           config="policy.zone_share", label="Zone share"),
    Option("private_categories", "comma-separated camera location categories to treat as private (Article 6), "
           "besides hotel_room, bathroom, changing_room and the like", POLICY, ANONYMIZE, default="",
           label="Extra private categories"),
    Option("force", "re-process inputs an earlier run already anonymized with the same settings", OUTPUT, ANONYMIZE,
           SWITCH, label="Force"),
    Option("keystore", "key store of the per-account keys of restricted copies; keep it apart from the data in "
           "production", OUTPUT, ANONYMIZE, label="Key store", uri=True, metavar="URI",
           shown_default="OUTPUT/keys/keystore.json"),
    Option("run_id", "id of this run; it names table partitions and folders", OUTPUT, ANONYMIZE, label="Run id",
           pattern="^[A-Za-z0-9][A-Za-z0-9._-]*$", shown_default="UTC time and a random suffix"),
    # where veil anonymize's workers run, and what the terminal shows (not template parameters: a Dataflow job has no
    # use for them)
    Option("workers", "with --runner dask: start a local Dask cluster of this many worker processes", RUNNER, LAUNCH,
           int, shown_default="one per core"),
    Option("dask_address", "with --runner dask: HOST:PORT of a running Dask scheduler to use instead", RUNNER,
           LAUNCH),
    Option("direct_workers", "worker processes of the local runner", RUNNER, LAUNCH, int,
           shown_default="one per core"),
    Option("verbose", "show Beam's, the workers' and the libraries' logs on the terminal too (they always go to the "
           "run's log, reports/RUN_ID/run.log)", RUNNER, LAUNCH, SWITCH),
    # veil retention
    Option("as_of", "the moment to plan for: a date (the start of that day, UTC) or an ISO 8601 timestamp (no zone "
           "means UTC); what is due by then is done", RETENTION, RETAIN, metavar="T", shown_default="now"),
    Option("events", "account events (event_id, account_id, event, time): cancellations; in a streaming job, the "
           "prefix account event files land under", RETENTION, RETAIN, metavar="FILE"),
    Option("holds", "legal holds (hold_id, scope camera|artifact, target, reason)", RETENTION, RETAIN,
           metavar="FILE"),
    Option("calendar", "working-day calendar file extending or overriding the shipped Chinese one (repeatable)",
           RETENTION, RETAIN, REPEATED, [], metavar="FILE"),
    Option("plan", "print every pending action with its due date and status, and change nothing", RETENTION, RETAIN,
           SWITCH),
    # veil anonymize --streaming
    Option("window", "event-time window of the per-window aggregates and validation", STREAMING, STREAM,
           default="60s", metavar="DURATION"),
    Option("allowed_lateness", "how late a recording may still land in its window", STREAMING, STREAM,
           default="1h", metavar="DURATION"),
    Option("landing_delay", "how long after its start a recording is expected to land: the watermark trails the "
           "clock by this much", STREAMING, STREAM, default="5m", metavar="DURATION"),
    Option("settle", "a file is taken once its size and time have not changed for this long", STREAMING, STREAM,
           default="5s", metavar="DURATION"),
    Option("poll_interval", "how often the landing zone is listed", STREAMING, STREAM, default="2s",
           metavar="DURATION"),
    Option("stop_after", "stop cleanly after this long (e.g. 10m)", STREAMING, STREAM,
           shown_default="run until SIGINT/SIGTERM", metavar="DURATION"),
    Option("pubsub_subscription", "projects/P/subscriptions/S receiving Cloud Storage notifications of LANDING's "
           "bucket: read new recordings from it instead of listing LANDING (Dataflow)", STREAMING, STREAM),
)
# fmt: on

BY_NAME = {option.name: option for option in OPTIONS}


def config_default(config: str, field: str) -> Any:
    """The default of a config dataclass's field that an option sets: the option's own."""
    (option,) = [o for o in OPTIONS if o.config == f"{config}.{field}"]
    return option.default


def config_fields(config: str) -> dict[str, str]:
    """The fields of a config dataclass that options set, each with its option's name."""
    return {o.config.split(".", 1)[1]: o.name for o in OPTIONS if o.config.split(".", 1)[0] == config}
