"""Keep an output root up to date with a landing zone: anonymize each new recording as it lands, apply account
events as they land, and validate per event-time window.

    veil anonymize --streaming LANDING OUTPUT [--events EVENTS] [--window 60s] [--stop-after 10m] [...]

Each new file under LANDING (sub-folders included) is taken once its size and time have settled (--settle), and
is anonymized as a run of its own with the batch job's stages: its video, its rows of every table, its validation
and its run report are published as soon as it is done (transforms/recording.py). Files an earlier job finished
(the catalog says which, and when) are not taken again unless they changed since. Account event files (JSON Lines)
landing under EVENTS each start a retention run in the job: due dates are recorded and due deletions done at once,
with ledger entries. Finished recordings are aggregated per event-time window (their start time) into
OUTPUT/tables/stream_windows, each window validated with the same suites, and OUTPUT/reports/<stream_id>/ is the
stream's report. The job stops cleanly, finishing the recording in hand, on --stop-after or SIGINT/SIGTERM.

Locally (the default) it runs in one process on the local runner, where windows fire when the job stops; on
Dataflow (--runner DataflowRunner, optionally --pubsub-subscription) windows fire as the watermark passes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines import anonymize, launch
from pipelines.options import AnonymizeOptions, RetentionOptions, StreamOptions, make_absolute
from transforms import landing
from transforms.events import ApplyAccountEvents
from transforms.logic.identity import new_run_id
from transforms.logic.landing import parse_duration
from transforms.recording import AnonymizeRecordings
from transforms.retention import apply_in_process
from transforms.services import layout, report, retention_runs, storage, validation
from transforms.services.settings import JobSettings
from transforms.windows import SummarizeWindows

STREAMING = "--streaming"
FOREVER = 10 * 365 * 86400.0
"""The watch's own limit when no --stop-after is given: in effect none."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """The streaming job's durations, in seconds."""

    window: float
    lateness: float
    delay: float
    settle: float
    interval: float
    stop_after: float | None


def timing(opts: StreamOptions) -> Timing:
    found = Timing(
        parse_duration(opts.window),
        parse_duration(opts.allowed_lateness),
        parse_duration(opts.landing_delay),
        parse_duration(opts.settle),
        parse_duration(opts.poll_interval),
        parse_duration(opts.stop_after) if opts.stop_after else None,
    )
    if found.window <= 0 or found.interval <= 0:
        raise ValueError("--window and --poll-interval must be longer than zero")
    return found


def is_streaming(argv: Sequence[str]) -> bool:
    return STREAMING in argv


def parse(argv: Sequence[str]) -> tuple[AnonymizeOptions, StreamOptions, RetentionOptions, PipelineOptions]:
    """Options of ``veil anonymize --streaming LANDING OUTPUT ...``; LANDING becomes --input."""
    args = [a for a in argv if a != STREAMING]
    opts, options = anonymize.parse(args, "anonymize --streaming")
    options.view_as(StandardOptions).streaming = True
    if launch.is_dask(options):
        raise ValueError(
            "streaming is refused on Dask: Beam 2.77's DaskRunner gets windowing wrong with no error "
            "(shared/notes/beam-runtime-facts.md); use the local runner or Dataflow"
        )
    if options.view_as(StandardOptions).runner == launch.DEFAULT_RUNNER:
        # One in-process worker: the watch, the signal handlers and the recordings share the launching process.
        direct = options.view_as(DirectOptions)
        direct.direct_running_mode, direct.direct_num_workers = "in_memory", 1
    stream, events = options.view_as(StreamOptions), options.view_as(RetentionOptions)
    make_absolute(events, "events")
    timing(stream)
    if events.events and (storage.contains(opts.input, events.events) or storage.contains(events.events, opts.input)):
        raise ValueError("EVENTS and LANDING must not contain each other: event files would be taken for recordings")
    for name, prefix in (("LANDING", None if stream.pubsub_subscription else opts.input), ("EVENTS", events.events)):
        # A mistyped local folder would be watched, empty, for ever; an object-store prefix exists once written to.
        if (
            prefix
            and storage.is_local(prefix)
            and not landing.is_glob(prefix)
            and not os.path.isdir(storage.local_path(prefix))
        ):
            raise ValueError(f"{name} {prefix} is not a folder: create it first (files land in it)")
    return opts, stream, events, options


def publish_run(output: str, run_id: str, settings: JobSettings) -> bool:
    """Validate one recording's run and write its run report; True when it passed."""
    outcomes, _, _ = anonymize.publish(settings, run_id)
    passed = not validation.critical_failures(outcomes)
    print(f"veil: run {run_id} published, validation {'passed' if passed else 'FAILED'}", file=sys.stderr)
    return passed


def publish_window(output: str, window_run_id: str, stream_id: str, keystore: str) -> bool:
    """Validate one window and bring the stream's report up to date; True when the window passed."""
    outcomes = validation.validate(output, window_run_id, keystore)
    report.write_report(output, stream_id, report.stream_report(output, stream_id), report.render_stream_html)
    return not validation.critical_failures(outcomes)


def enforce_events(
    output: str, run_id: str, events: list, keystore: str, holds: str | None, calendars: Sequence[str]
) -> int:
    """A retention run for the events of one landed file, done in the job's own process."""
    rows = retention_runs.enforce(
        output,
        keystore,
        run_id,
        events,
        retention_runs.rows_of("holds", holds),
        dt.datetime.now(dt.UTC),
        calendars,
        apply_in_process,
        logging.getLogger(__name__).info,
    )
    print(
        f"veil: account events applied by retention run {run_id}: "
        f"{sum(r['status'] == 'done' for r in rows)} action(s) done, {sum(r['overdue'] for r in rows)} overdue",
        file=sys.stderr,
    )
    return len(rows)


def new_stream_id() -> str:
    return "s" + new_run_id()


class StreamSettings(NamedTuple):
    """What the streaming job is configured with: the anonymize stages', its timing and where events land."""

    job: JobSettings
    timing: Timing
    deadline: float | None
    """When the watch stops (time.time()), or None to run until stopped."""
    landing: str | None
    """The prefix listed for recordings; None when Pub/Sub notifications announce them."""
    subscription: str | None
    events: str | None
    holds: str | None
    calendars: tuple[str, ...]


def prepare(opts: AnonymizeOptions, stream: StreamOptions, events: RetentionOptions) -> StreamSettings:
    """All the I/O before the graph: the anonymize job's (registries, keys, inputs done before)."""
    times = timing(stream)
    return StreamSettings(
        # No progress line: a stream reports each recording as it is published.
        dataclasses.replace(anonymize.stage_settings(opts, opts.run_id or new_stream_id()), progress=None),
        times,
        time.time() + times.stop_after if times.stop_after is not None else None,
        None if stream.pubsub_subscription else opts.input,
        stream.pubsub_subscription,
        events.events,
        events.holds,
        tuple(events.calendar),
    )


class Outputs(NamedTuple):
    """The streaming job's results: one RecordingDone per recording, window rows, retention runs for events."""

    recordings: beam.PCollection
    windows: beam.PCollection
    events: beam.PCollection


def build(pipeline: beam.Pipeline, s: StreamSettings) -> Outputs:
    """Compose the streaming job from prepared settings (no I/O here)."""
    job, times = s.job, s.timing
    # With Pub/Sub notifications the landing zone is not listed; an events prefix still is.
    watched = pipeline | "Watch Landing" >> landing.WatchLanding(
        s.landing,
        s.events,
        times.settle,
        times.interval,
        times.delay,
        s.deadline,
        job.output,
        times.stop_after or FOREVER,
    )
    if s.subscription:
        announced = pipeline | "Notifications" >> landing.ReadNotifications(s.subscription)
        recordings = landing.of_kind(announced, landing.RECORDING, "Recordings")
    else:
        recordings = landing.of_kind(watched, landing.RECORDING, "Recordings")
    if str(pipeline.options.view_as(StandardOptions).runner) not in launch.LOCAL_RUNNERS:
        # A cloud runner runs a Watch's outputs on the worker that polled them unless they are shuffled; the local
        # runner would hold everything below a shuffle until the job stops, so there it is left out.
        recordings = recordings | "Spread Recordings" >> beam.Reshuffle()
    finished = recordings | "Anonymize Each" >> AnonymizeRecordings(job, functools.partial(publish_run, settings=job))
    windows = finished | "Windows" >> SummarizeWindows(
        job.output,
        job.run_id,
        times.window,
        times.lateness,
        job.retention,
        functools.partial(publish_window, stream_id=job.run_id, keystore=job.keystore),
    )
    applied = landing.of_kind(watched, landing.EVENTS, "Event Files") | "Apply Events" >> ApplyAccountEvents(
        job.output,
        job.run_id,
        job.retention,
        functools.partial(enforce_events, keystore=job.keystore, holds=s.holds, calendars=s.calendars),
    )
    return Outputs(finished, windows, applied)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT or SIGTERM ends the watch (the recording in hand is finished and the windows flushed); a second
    SIGINT interrupts at once, which leaves nothing half-written either, since every file is published atomically."""
    landing.STOP.clear()

    def stop(signum, _frame):
        print(
            f"veil: {signal.Signals(signum).name} received: finishing the recording in hand, then stopping "
            "(Ctrl-C again to stop at once)",
            file=sys.stderr,
        )
        landing.STOP.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Result(NamedTuple):
    """What a stopped streaming job did: its settings and how long it ran (seconds)."""

    settings: StreamSettings
    seconds: float


def run(argv: Sequence[str], wait: bool = True, notify: anonymize.Notify = logging.info) -> Result:
    """Parse, prepare, build and run the streaming job until it is stopped (``wait``), or only submit it. Each
    recording's run is validated and reported as it finishes, each window as it fires."""
    opts, stream, events, options = parse(argv)
    settings = prepare(opts, stream, events)
    for issue in settings.job.registry.issues:
        notify(f"registry row refused (keeps nothing more): {issue}")
    pipeline = beam.Pipeline(options=options)
    build(pipeline, settings)
    if not wait:
        pipeline.run()
        return Result(settings, 0.0)
    notify(f"watching {opts.input}; stop with Ctrl-C (the recording in hand is finished first)")
    started = time.monotonic()
    work = layout.work_folder(opts.output, settings.job.run_id)
    with stop_on_signals():
        launch.run(pipeline, work)
    storage.delete_work(work)
    return Result(settings, time.monotonic() - started)


def summarize(output: str, stream_id: str, seconds: float) -> str:
    """What the stream did, for the terminal: files per minute and lag from landing to output."""
    found = report.stream_report(output, stream_id)
    windows = found["windows"]
    totals = found["totals"]
    per_minute = found["recordings"] / (seconds / 60) if seconds > 0 else 0.0
    lag_max = max((w["lag_max_s"] for w in windows), default=0.0)
    lag_median = sorted(w["lag_median_s"] for w in windows)[len(windows) // 2] if windows else 0.0
    failed = [w for w in windows if not (w["validation"] or {}).get("passed")]
    return "\n".join(
        [
            f"stream {stream_id}: ran {seconds / 60:.1f} min",
            f"  recordings: {found['recordings']} ({per_minute:.2f}/min)  inputs: {totals['inputs']}  "
            f"anonymized: {totals['anonymized']}  quarantined: {totals['quarantined']}  skipped: {totals['skipped']}",
            f"  lag from landing to output: median of windows {lag_median:.1f} s, max {lag_max:.1f} s",
            f"  windows: {len(windows)} ({len(failed)} failed validation)",
            f"  stream report: {storage.join(layout.report_folder(output, stream_id), 'report.html')}",
        ]
    )
