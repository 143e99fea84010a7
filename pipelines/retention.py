"""Enforce retention on an output root: purge raw footage, expire copies, carry out account cancellations.

Reads OUTPUT/tables/catalog (every artifact anonymize runs wrote), OUTPUT/ledger (what was already
done), each run's validation verdict, and the account events and legal holds given; computes what is
due (transforms/logic/retention.py), does it as a Beam job, appends what it did to the hash-chained
ledger and writes OUTPUT/tables/retention_plan/<run_id>.parquet: every pending action with its due
date and status, overdue ones flagged. A cancelled account's restricted copies, key and ids in Veil's
tables are dealt with at the first run after the event; its deadline (15 working days on the
calendar) is what the plan and validation check. It also removes the work folders (staged raw footage)
of anonymize runs whose launcher was killed on this machine.

Run:  veil retention OUTPUT [--as-of 2026-12-01 | --as-of 2026-12-01T08:00:00+08:00]
      [--events FILE] [--holds FILE] [--dry-run | --plan]
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.anonymize import new_run_id
from pipelines.launch import DEFAULT_RUNNER, is_dask
from pipelines.options import AnonymizeOptions, RetentionOptions, UsageError, make_absolute, parse_command
from pipelines.work_folders import remove_abandoned_work
from transforms.logic.identity import parse_moment
from transforms.retention import ApplyRetention, Fault, no_fault
from transforms.services import layout, validation
from transforms.services.retention_runs import enforce, rows_of
from transforms.services.validation import Outcome

DRY_RUN = ("--dry-run", "--dry_run")


def parse(argv: Sequence[str]) -> tuple[RetentionOptions, AnonymizeOptions, PipelineOptions, bool]:
    """The retention options, the shared ones (output root, key store, run id), the Beam options, and --dry-run."""
    args = [a for a in argv if a not in DRY_RUN]
    if args and not args[0].startswith("-"):
        args[0] = f"--output={args[0]}"
    options = parse_command("retention", args)
    standard = options.view_as(StandardOptions)
    if is_dask(options):
        # Its actions feed key destruction through a side input and the ledger through ToList; Beam 2.77's DaskRunner
        # re-runs a side input's whole upstream per consumer (shared/notes), so deletions could be done twice.
        raise ValueError(
            "the retention job is refused on Dask: Beam 2.77's DaskRunner recomputes side inputs and "
            "ToList's default from scratch and runs only the last of several sinks; use the local "
            "runner or a portable one"
        )
    standard.runner = standard.runner or DEFAULT_RUNNER
    shared = options.view_as(AnonymizeOptions)
    if not shared.output:
        raise UsageError("OUTPUT is required: veil retention OUTPUT [options]")
    # The ledger's anchor is keyed by the output root, and the catalog holds absolute paths: compare like with like.
    make_absolute(shared, "output", "keystore")
    opts = options.view_as(RetentionOptions)
    if opts.as_of:
        parse_moment(opts.as_of)
    return opts, shared, options, len(args) != len(argv)


class RetentionSettings(NamedTuple):
    """What a retention run is configured with, read before anything is done."""

    output: str
    keystore: str
    run_id: str
    events: list
    holds: list
    as_of: dt.datetime
    calendars: tuple[str, ...]
    plan_only: bool
    """--plan or --dry-run: print the plan and change nothing."""


def prepare(opts: RetentionOptions, shared: AnonymizeOptions, dry_run: bool) -> RetentionSettings:
    """All the reading before the plan: the events and holds files (a bad row stops the run)."""
    return RetentionSettings(
        shared.output,
        layout.keystore_of(shared.output, shared.keystore),
        shared.run_id or new_run_id(),
        rows_of("events", opts.events),
        rows_of("holds", opts.holds),
        parse_moment(opts.as_of) if opts.as_of else dt.datetime.now(dt.UTC),
        tuple(opts.calendar),
        dry_run or opts.plan,
    )


def build(pipeline: beam.Pipeline, actions: list, s: RetentionSettings, fault: Fault = no_fault) -> beam.PCollection:
    """Compose the job that carries out the due ``actions`` (no I/O here)."""
    return pipeline | "Apply Retention" >> ApplyRetention(actions, s.output, s.run_id, s.keystore, fault)


class Result(NamedTuple):
    """What a retention run did: its settings, the plan rows, and the verdict on the run (None for a plan only)."""

    settings: RetentionSettings
    rows: list[dict]
    outcomes: list[Outcome] | None


def run(argv: Sequence[str] | None = None, fault: Fault = no_fault) -> Result:
    """Plan and (unless --dry-run or --plan) apply retention, then validate the run. ``fault`` is told each step done
    (tests stop a run there)."""
    opts, shared, options, dry_run = parse(sys.argv[1:] if argv is None else argv)
    settings = prepare(opts, shared, dry_run)

    def in_a_job(actions, output, run_id, keystore):
        with beam.Pipeline(options=options) as pipeline:
            build(pipeline, actions, settings, fault)

    s = settings
    rows = enforce(
        s.output, s.keystore, s.run_id, s.events, s.holds, s.as_of, s.calendars, None if s.plan_only else in_a_job
    )
    if s.plan_only:
        return Result(settings, rows, None)
    # Staged raw footage of anonymize runs whose launcher was killed on this machine: the daily run is the janitor
    # when no further anonymize run comes.
    remove_abandoned_work(layout.work_root(s.output))
    return Result(settings, rows, validation.validate(s.output, s.run_id, s.keystore))
