"""Anonymize a CCTV archive: every face is destroyed before anything is written.

Reads video files (mp4, avi, mkv, mov, gif), folders of JPEG/PNG frames and tar/zip archives of
them from a file, folder, glob or archive on any Beam filesystem, and writes under OUTPUT:

    anonymized/<camera_id>/<yyyy-mm-dd>/<name>-<id>.mp4   one H.264 video per input
    restricted/<camera_id>/<yyyy-mm-dd>/<name>-<id>.<key>.mp4.sealed
                                                            kept faces only, sealed per account (AES-GCM)
    tables/{media,face_tracks,restricted,catalog,quarantine,runs,leak_audit}/<run_id>.parquet
    quarantine/<run_id>/<id>/                               refused inputs and why

Guarantees: every input ends exactly once as anonymized or quarantined (or is skipped because an
earlier run did it with the same content and settings); outputs and tables are published
atomically; an unknown camera or a detector error never lets a face through. A face is kept, in a
sealed restricted copy only, when the registries (--cameras, --sessions, --consents) link it by place
and time to a consented service session; footage of cameras at private locations is never processed.

Run:  python -m pipelines.anonymize INPUT OUTPUT [--redact blur|pixelate|mask|drop-frame] [beam options]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from fractions import Fraction

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import launch
from pipelines.options import AnonymizeOptions, UsageError, make_absolute, parse_command
from schemas import tables
from schemas.codes import PRIVATE_LOCATIONS, MediaStatus, Purpose, RedactionMode
from schemas.registries import Registry
from transforms import layout, storage
from transforms.catalog import CatalogArtifacts
from transforms.detection import DetectFaces, DetectorConfig
from transforms.encoding import EncoderConfig, JoinSegments
from transforms.ingest import ExpandInputs, IdentifyMedia
from transforms.keystore import open_keystore, subject_secret
from transforms.logic.archive import ArchiveLimits
from transforms.logic.audit import AuditConfig
from transforms.logic.identity import compile_template, parse_manifest
from transforms.logic.policy import PolicyConfig
from transforms.logic.registry import load_registry
from transforms.logic.retention import default_policy
from transforms.logic.tracking import TrackerConfig
from transforms.policy import ApplyPolicy, ScreenCameras, without_cancelled
from transforms.quarantine import QuarantineInputs
from transforms.redaction import RedactFrames
from transforms.segments import SplitSegments
from transforms.settings import JobSettings
from transforms.sinks import GatherAll, WriteTable, read_table
from transforms.tracking import TrackFaces

PATH_OPTIONS = ("input", "output", "manifest", "cameras", "sessions", "consents", "keystore")
"""The options that name files or folders."""


def settings_of(opts: AnonymizeOptions, registry_digest: str) -> dict:
    """The options that change what an output looks like; their hash decides whether a re-run may skip an input."""
    policy = policy_config(opts)
    return {
        "registries": registry_digest,
        "zone_share": policy.zone_share,
        "private_categories": sorted(policy.private_categories),
        "redact": opts.redact,
        "detector": repr(dataclasses.replace(detector_config(opts), threads=1)),
        "crf": opts.crf,
        "preset": opts.preset,
        "keep_audio": opts.keep_audio,
        "image_fps": opts.image_fps,
        "tracker": repr(tracker_config(opts)),
    }


def settings_hash(opts: AnonymizeOptions, registry_digest: str) -> str:
    return hashlib.sha256(json.dumps(settings_of(opts, registry_digest), sort_keys=True).encode()).hexdigest()[:16]


def policy_config(opts: AnonymizeOptions) -> PolicyConfig:
    extra = {c.strip() for c in opts.private_categories.split(",") if c.strip()}
    return PolicyConfig(zone_share=opts.zone_share, private_categories=PRIVATE_LOCATIONS | extra)


def keystore_uri(opts: AnonymizeOptions) -> str:
    return opts.keystore or layout.default_keystore(opts.output)


def measures(opts: AnonymizeOptions) -> dict:
    """The protective measures a run had in force, for its report (Article 15)."""
    keystore = keystore_uri(opts)
    policy = policy_config(opts)
    return {
        "redaction_mode": opts.redact,
        "encryption": "AES-256-GCM, one data key per account",
        "keystore": keystore,
        "keystore_beside_data": storage.contains(opts.output, keystore),
        "leak_audit_rate": opts.audit_rate,
        "zone_share": policy.zone_share,
        "private_categories": sorted(policy.private_categories),
        "audio_kept": opts.keep_audio,
    }


def _read(uri: str | None) -> tuple[str, bytes] | None:
    if not uri:
        return None
    with FileSystems.open(uri) as handle:
        return uri, handle.read()


def load_registries(opts: AnonymizeOptions) -> tuple[Registry, str]:
    """The run's registries, and a digest of their bytes (a changed registry re-processes every input)."""
    files = [_read(opts.cameras), _read(opts.sessions), _read(opts.consents)]
    digest = hashlib.sha256()
    for found in files:
        digest.update(hashlib.sha256(found[1]).digest() if found else b"-")
    return load_registry(*files), digest.hexdigest()[:16]


def prepare_keys(registry: Registry, keystore: str) -> None:
    """Create the data keys of every account a session may keep a face for, and the secret of subject tokens,
    before any worker needs one.

    Created here, in the launching process, so workers only read the key store and never race to write it.
    """
    accounts = {
        s.account_id
        for s in registry.sessions
        if s.consent_id in registry.consents
        and getattr(registry.cameras.get(s.camera_id), "purpose", None) is Purpose.SERVICE
    }
    if accounts:
        store = open_keystore(keystore)
        subject_secret(store)
        for account in sorted(accounts):
            store.key_for(account)


def load_manifest(uri: str | None) -> dict:
    if not uri:
        return {}
    with FileSystems.open(uri) as handle:
        return parse_manifest(handle.read().decode("utf-8-sig"), uri)


def done_inputs(output: str, force: bool) -> frozenset:
    """(input_uri, sha256, settings_hash) of inputs earlier runs anonymized, unless --force."""
    media = None if force else read_table(output, "media")
    if media is None:
        return frozenset()
    rows = media.filter(media.column("status").to_numpy(zero_copy_only=False) == MediaStatus.ANONYMIZED.value)
    return frozenset(zip(*(rows.column(c).to_pylist() for c in tables.DONE_KEY)))


def detector_config(opts: AnonymizeOptions, threads: int = 1) -> DetectorConfig:
    return DetectorConfig(
        every=opts.detect_every,
        face_threshold=opts.face_threshold,
        candidate_threshold=opts.candidate_threshold,
        head_threshold=opts.head_threshold,
        head_every=opts.head_every,
        centerface_threshold=opts.centerface_threshold,
        threads=threads,
    )


def tracker_config(opts: AnonymizeOptions) -> TrackerConfig:
    """The tracker, its cover reaching over the frames between two looks for heads (the sparser scan)."""
    return TrackerConfig().covering(detector_config(opts).head_stride)


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def job_settings(opts: AnonymizeOptions) -> JobSettings:
    """Everything the stages are configured with; creates the accounts' keys first (see prepare_keys)."""
    registry, registry_digest = load_registries(opts)
    threads = launch.threads_per_worker(opts)
    keystore = keystore_uri(opts)
    registry = without_cancelled(registry, opts.output, keystore)
    prepare_keys(registry, keystore)
    options_json = json.dumps(
        {k: v for k, v in opts.get_all_options(drop_default=True).items()}, default=str, sort_keys=True
    )
    return JobSettings(
        output=opts.output,
        manifest=load_manifest(opts.manifest),
        template=compile_template(opts.path_template) if opts.path_template else None,
        settings_hash=settings_hash(opts, registry_digest),
        registry=registry,
        policy=policy_config(opts),
        image_fps=Fraction(opts.image_fps).limit_denominator(1001),
        segment_frames=opts.segment_frames,
        detector=detector_config(opts, threads),
        tracker=tracker_config(opts),
        mode=RedactionMode(opts.redact),
        encoder=EncoderConfig(crf=opts.crf, preset=opts.preset),
        audit=AuditConfig(rate=opts.audit_rate),
        keystore=keystore,
        keep_audio=opts.keep_audio,
        limits=ArchiveLimits(max_total_bytes=opts.max_archive_bytes),
        retention=default_policy(),
        options_json=options_json,
    )


def build(pipeline: beam.Pipeline, opts: AnonymizeOptions, run_id: str) -> dict:
    """Compose the anonymize job; returns its named outputs (table rows per table) for tests to assert on."""
    started = dt.datetime.now(dt.UTC)
    s = job_settings(opts)
    output = s.output
    work = layout.work_folder(output, run_id)
    registry = s.registry

    sources = pipeline | "Expand Inputs" >> ExpandInputs(opts.input, storage.join(work, "staging"), s.limits)
    media = sources["sources"] | "Identify Media" >> IdentifyMedia(
        s.manifest, s.template, done_inputs(output, opts.force), s.settings_hash
    )
    screened = media["media"] | "Screen Cameras" >> ScreenCameras(registry, s.policy)
    split = screened["media"] | "Split Segments" >> SplitSegments(s.image_fps, s.segment_frames)
    plans = (
        split["segments"]
        | "Detect Faces" >> DetectFaces(s.detector)
        | "Track Faces" >> TrackFaces(s.tracker)
        | "Apply Policy" >> ApplyPolicy(registry, s.policy, s.tracker)
    )
    redacted = plans | "Redact Frames" >> RedactFrames(
        s.mode, s.encoder, storage.join(work, "parts"), s.audit, s.keystore
    )
    joined = (plans, redacted["parts"]) | "Join Segments" >> JoinSegments(
        output, opts.redact, s.settings_hash, opts.keep_audio, s.keystore
    )

    refused = (
        sources["quarantine"],
        media["quarantine"],
        screened["quarantine"],
        split["quarantine"],
        joined["quarantine"],
    ) | "All Quarantined" >> beam.Flatten()
    quarantine_rows = refused | "Quarantine Inputs" >> QuarantineInputs(layout.quarantine_folder(output, run_id))
    written = {
        "media": joined["media"] | "Write Media" >> WriteTable(output, "media", run_id),
        "face_tracks": joined["face_tracks"] | "Write Face Tracks" >> WriteTable(output, "face_tracks", run_id),
        "restricted": joined["restricted"] | "Write Restricted" >> WriteTable(output, "restricted", run_id),
        "quarantine": quarantine_rows | "Write Quarantine" >> WriteTable(output, "quarantine", run_id),
        "leak_audit": redacted["leak_audit"] | "Write Leak Audit" >> WriteTable(output, "leak_audit", run_id),
        "catalog": (
            (joined["media"], joined["restricted"], quarantine_rows)
            | "Catalog Artifacts" >> CatalogArtifacts(output, run_id, registry, s.retention, started)
            | "Write Catalog" >> WriteTable(output, "catalog", run_id)
        ),
    }

    def run_row(facts):
        return tables.runs_row(
            started,
            dt.datetime.now(dt.UTC),
            s.options_json,
            [row for kind, row in facts if kind == "media"],
            sum(kind == "quarantined" for kind, _ in facts),
            sum(kind == "skipped" for kind, _ in facts),
        )

    # Main inputs only, no side inputs: the run row then waits for every table on every runner, and DaskRunner,
    # which computes only the graph's last leaf and re-runs a side input's upstream per consumer, runs it all once.
    facts = (
        joined["media"] | "Fact Media" >> beam.Map(lambda row: ("media", row)),
        quarantine_rows | "Fact Quarantined" >> beam.Map(lambda _: ("quarantined", None)),
        media["skipped"] | "Fact Skipped" >> beam.Map(lambda _: ("skipped", None)),
        *[count | f"Fact Wrote {table}" >> beam.Map(lambda _: ("written", None)) for table, count in written.items()],
    ) | "Run Facts" >> beam.Flatten()
    runs = facts | "Gather Run Facts" >> GatherAll() | "Summarize Run" >> beam.Map(run_row)
    done = runs | "Write Runs" >> WriteTable(output, "runs", run_id)
    _ = done | "Remove Work Files" >> beam.Map(lambda _: storage.delete_work(work))
    return {
        "media": joined["media"],
        "face_tracks": joined["face_tracks"],
        "restricted": joined["restricted"],
        "quarantine": quarantine_rows,
        "leak_audit": redacted["leak_audit"],
        "runs": runs,
    }


def parse(argv: Sequence[str], command: str = "anonymize") -> tuple[AnonymizeOptions, PipelineOptions]:
    """Options from a command line whose first two positional arguments may be INPUT and OUTPUT; raises UsageError
    for an option ``veil COMMAND`` does not take. Local paths are made absolute here, once: the tables and the
    catalog record them, and retention, run from anywhere, deletes what they name."""
    args = list(argv)
    positional = []
    while args and not args[0].startswith("-") and len(positional) < 2:
        positional.append(args.pop(0))
    args = [f"--{name}={value}" for name, value in zip(("input", "output"), positional)] + args
    options = parse_command(command, args)
    launch.configure(options, args)
    opts = options.view_as(AnonymizeOptions)
    if not opts.input or not opts.output:
        raise UsageError(f"INPUT and OUTPUT are required: veil {command} INPUT OUTPUT [options]")
    make_absolute(opts, *PATH_OPTIONS)
    if storage.contains(opts.input, opts.output):
        raise ValueError(f"OUTPUT {opts.output} lies inside INPUT {opts.input}: a re-run would ingest its own outputs")
    RedactionMode(opts.redact)
    AuditConfig(rate=opts.audit_rate)
    EncoderConfig(crf=opts.crf, preset=opts.preset)
    detector_config(opts)
    policy_config(opts)
    return opts, options


def run(argv: Sequence[str] | None = None) -> str:
    """Parse, build and run the job; returns the run id."""
    opts, options = parse(sys.argv[1:] if argv is None else argv)
    storage.check_writable(opts.output)
    run_id = opts.run_id or new_run_id()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, opts, run_id)
    launch.run(pipeline, layout.work_folder(opts.output, run_id))
    return run_id


if __name__ == "__main__":
    from pipelines.cli import main

    sys.exit(main(["anonymize", *sys.argv[1:]]))
