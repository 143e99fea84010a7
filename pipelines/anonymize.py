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

import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import launch
from pipelines.options import AnonymizeOptions, UsageError, config_of, make_absolute, parse_command
from pipelines.settings import (
    detector_config,
    done_inputs,
    load_manifest,
    load_registries,
    measures,
    policy_config,
    prepare_keys,
    settings_hash,
    tracker_config,
)
from schemas import tables
from schemas.codes import RedactionMode
from transforms.catalog import CatalogArtifacts
from transforms.chain import AnonymizeInputs, anonymize_stages
from transforms.encoding import RESTRICTED, TRACKS
from transforms.ingest import SKIPPED, list_input
from transforms.logic.archive import ArchiveLimits
from transforms.logic.audit import AuditConfig
from transforms.logic.identity import compile_template, new_run_id
from transforms.logic.retention import default_policy
from transforms.policy import without_cancelled
from transforms.quarantine import QUARANTINE, QuarantineInputs
from transforms.redaction import AUDIT
from transforms.services import layout, report, storage, validation
from transforms.services.media import EncoderConfig
from transforms.services.settings import JobSettings
from transforms.services.validation import Outcome
from transforms.sinks import GatherAll, WriteTable

Notify = Callable[[str], object]
"""Told, line by line, what the operator should know before a job starts."""
Watch = Callable[[str | None], contextlib.AbstractContextManager]
"""Entered while a job runs, with the folder its stages note their progress in (None: no progress is noted)."""

PATH_OPTIONS = ("input", "output", "manifest", "cameras", "sessions", "consents", "keystore")
"""The options that name files or folders."""


def prepare(opts: AnonymizeOptions) -> JobSettings:
    """All the I/O before the graph: the input listed (a missing one is refused before anything is made), then what
    ``stage_settings`` reads and creates."""
    list_input(opts.input)
    return stage_settings(opts, opts.run_id or new_run_id())


def stage_settings(opts: AnonymizeOptions, run_id: str) -> JobSettings:
    """What the stages are configured with, batch or streaming (``run_id`` a stream's id): registries and manifest
    read, accounts' keys created (see prepare_keys), the inputs earlier runs did looked up."""
    storage.check_writable(opts.output)
    registry, registry_digest = load_registries(opts)
    threads = launch.threads_per_worker(opts)
    keystore = layout.keystore_of(opts.output, opts.keystore)
    registry = without_cancelled(registry, opts.output, keystore)
    prepare_keys(registry, keystore)
    options_json = json.dumps(
        {k: v for k, v in opts.get_all_options(drop_default=True).items()}, default=str, sort_keys=True
    )
    return JobSettings(
        input=opts.input,
        output=opts.output,
        run_id=run_id,
        started=dt.datetime.now(dt.UTC),
        done=done_inputs(opts.output, opts.force),
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
        encoder=config_of(EncoderConfig, "encoder", opts),
        audit=config_of(AuditConfig, "audit", opts),
        keystore=keystore,
        keep_audio=opts.keep_audio,
        limits=config_of(ArchiveLimits, "limits", opts),
        retention=default_policy(),
        options_json=options_json,
        measures=measures(opts),
        progress=layout.progress_folder(opts.output, run_id) if storage.is_local(opts.output) else None,
    )


class Outputs(NamedTuple):
    """The rows of each table an anonymize run writes, for tests to assert on."""

    media: beam.PCollection
    face_tracks: beam.PCollection
    restricted: beam.PCollection
    quarantine: beam.PCollection
    leak_audit: beam.PCollection
    runs: beam.PCollection


def build(pipeline: beam.Pipeline, s: JobSettings) -> Outputs:
    """Compose the anonymize job from prepared settings (no I/O here)."""
    output, run_id, started = s.output, s.run_id, s.started
    chain = (
        pipeline | "Input Spec" >> beam.Create([s.input]) | "Anonymize Inputs" >> AnonymizeInputs(anonymize_stages(s))
    )
    quarantine_rows = chain[QUARANTINE] | "Quarantine Inputs" >> QuarantineInputs(
        layout.quarantine_folder(output, run_id), s.progress
    )
    rows = {table: chain[table] for table in ("media", TRACKS, RESTRICTED, AUDIT)} | {"quarantine": quarantine_rows}
    rows["catalog"] = (rows["media"], rows["restricted"], quarantine_rows) | "Catalog Artifacts" >> CatalogArtifacts(
        output, run_id, s.registry, s.retention, started
    )
    written = {
        table: rows[table] | f"Write {table.replace('_', ' ').title()}" >> WriteTable(output, table, run_id)
        for table in tables.ANONYMIZE_TABLES
        if table != "runs"
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
        rows["media"] | "Fact Media" >> beam.Map(lambda row: ("media", row)),
        quarantine_rows | "Fact Quarantined" >> beam.Map(lambda _: ("quarantined", None)),
        chain[SKIPPED] | "Fact Skipped" >> beam.Map(lambda _: ("skipped", None)),
        *[count | f"Fact Wrote {table}" >> beam.Map(lambda _: ("written", None)) for table, count in written.items()],
    ) | "Run Facts" >> beam.Flatten()
    runs = facts | "Gather Run Facts" >> GatherAll() | "Summarize Run" >> beam.Map(run_row)
    done = runs | "Write Runs" >> WriteTable(output, "runs", run_id)
    work = layout.work_folder(output, run_id)
    _ = done | "Remove Work Files" >> beam.Map(lambda _: storage.delete_work(work))
    return Outputs(rows["media"], rows[TRACKS], rows["restricted"], quarantine_rows, rows[AUDIT], runs)


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
    for config, name in ((AuditConfig, "audit"), (EncoderConfig, "encoder"), (ArchiveLimits, "limits")):
        config_of(config, name, opts)
    detector_config(opts)
    policy_config(opts)
    return opts, options


class Result(NamedTuple):
    """What a finished run did: its settings, and the verdict, report page and report warnings published for it
    (None when the job was only submitted)."""

    settings: JobSettings
    outcomes: list[Outcome] | None
    report: str | None
    warnings: list[str] | None


def run(
    argv: Sequence[str] | None = None,
    wait: bool = True,
    notify: Notify = logging.info,
    watch: Watch = lambda _folder: contextlib.nullcontext(),
) -> Result:
    """Parse, prepare, build and run the job. With ``wait``, wait for it, then validate the run's tables and publish
    its run report; without, only submit it (a Flex Template's launcher must return at once, and a scheduled
    ``veil validate`` then validates). ``notify`` is told what the operator should know before the job starts;
    ``watch`` is entered, with the folder the stages note their progress in, while the job runs."""
    opts, options = parse(sys.argv[1:] if argv is None else argv)
    settings = prepare(opts)
    for issue in settings.registry.issues:
        notify(f"registry row refused (keeps nothing more): {issue}")
    pipeline = beam.Pipeline(options=options)
    build(pipeline, settings)
    if not wait:
        pipeline.run()
        return Result(settings, None, None, None)
    with watch(settings.progress):
        launch.run(pipeline, layout.work_folder(settings.output, settings.run_id))
    return Result(settings, *publish(settings))


def publish(s: JobSettings, run_id: str | None = None) -> tuple[list[Outcome], str, list[str]]:
    """Validate a finished run's tables and publish its run report; returns the outcomes, the report's page and the
    report's warnings."""
    run_id = run_id or s.run_id
    outcomes = validation.validate(s.output, run_id, s.keystore)
    found = report.build_report(s.output, run_id, s.registry, s.measures)
    _, page = report.write_report(s.output, run_id, found)
    return outcomes, page, report.warnings_in(found)


if __name__ == "__main__":
    from pipelines.cli import main

    sys.exit(main(["anonymize", *sys.argv[1:]]))
