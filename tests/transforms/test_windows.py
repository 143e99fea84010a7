"""Event-time windows of a streaming job, driven by TestStream: on-time and late panes, each validated."""

import datetime as dt
import json
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp

from pipelines.stream import publish_window
from schemas import tables
from transforms.logic.retention import default_policy
from transforms.recording import RecordingDone
from transforms.services import layout
from transforms.services.table_files import read_table, write_table
from transforms.windows import SummarizeWindows, window_id, window_row

STREAM = "s-test"
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def done(run: str, start_s: float, lag_s: float = 2.0, passed: bool = True, frames: int = 10) -> RecordingDone:
    start = T0 + dt.timedelta(seconds=start_s)
    landed = start + dt.timedelta(minutes=1)
    return RecordingDone(
        f"{STREAM}-{run}",
        f"/land/{run}.mp4",
        start,
        landed,
        landed + dt.timedelta(seconds=lag_s),
        1,
        0,
        0,
        frames,
        3,
        0,
        passed,
    )


def at(seconds: float) -> Timestamp:
    return Timestamp.from_utc_datetime(T0 + dt.timedelta(seconds=seconds))


def stamped(record: RecordingDone):
    return beam.window.TimestampedValue(record, Timestamp.from_utc_datetime(record.event_time))


def test_windows_fire_on_time_and_again_for_a_late_recording_and_each_pane_passes_validation(tmp_path):
    out = str(tmp_path / "out")
    events = (
        TestStream()
        .advance_watermark_to(at(0))
        .add_elements([stamped(done("a", 10)), stamped(done("b", 50))])
        .add_elements([stamped(done("c", 90))])
        .advance_watermark_to(at(180))
        # Late for its window (08:00) but within the allowed lateness: the window fires again, with it.
        .add_elements([stamped(done("late", 30, lag_s=9.0))])
        # Beyond the allowed lateness: dropped from the aggregates (its own run's tables stand regardless).
        .add_elements([stamped(done("too-late", -3600))])
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    options.view_as(StandardOptions).streaming = True
    with TestPipeline(options=options) as p:
        rows = p | events | SummarizeWindows(out, STREAM, 60, 600, default_policy(), _publish)
        assert_that(
            rows
            | beam.Map(
                lambda r: (r["window_start"].isoformat(), r["pane"], r["timing"], r["recordings"], r["lag_max_s"])
            ),
            equal_to(
                [
                    ("2026-11-20T08:00:00+00:00", 0, "ON_TIME", 2, 2.0),
                    ("2026-11-20T08:01:00+00:00", 0, "ON_TIME", 1, 2.0),
                    ("2026-11-20T08:00:00+00:00", 1, "LATE", 3, 9.0),
                ]
            ),
        )

    first = window_id(STREAM, T0)
    written = read_table(out, "stream_windows", first).to_pylist()
    assert [(r["pane"], r["recordings"], r["frames"]) for r in written] == [(1, 3, 30)]
    for start in (T0, T0 + dt.timedelta(minutes=1)):
        with open(os.path.join(out, "reports", window_id(STREAM, start), "validation.json")) as handle:
            assert json.load(handle)["passed"]
    with open(os.path.join(out, "reports", STREAM, "report.json")) as handle:
        report = json.load(handle)
    assert [w["recordings"] for w in report["windows"]] == [3, 1]


def _publish(output: str, run_id: str) -> bool:
    return publish_window(output, run_id, STREAM, layout.default_keystore(output))


def test_a_window_with_a_recording_that_failed_validation_fails_its_own(tmp_path):
    out = str(tmp_path / "out")
    run_id = window_id(STREAM, T0)
    row = {
        **window_row(
            STREAM, T0, T0 + dt.timedelta(minutes=1), 0, "ON_TIME", [done("a", 1), done("b", 2, passed=False)]
        ),
        "run_id": run_id,
    }
    write_table([row], tables.STREAM_WINDOWS, os.path.join(out, "tables", "stream_windows", f"{run_id}.parquet"))
    assert publish_window(out, run_id, STREAM, layout.default_keystore(out)) is False
    failures = read_table(out, "validation_failures", run_id).to_pylist()
    assert {f["expectation"] for f in failures} >= {
        "expect_column_values_to_be_between",
        "expect_column_pair_values_to_be_equal",
    }


def test_a_window_row_sums_its_recordings_and_takes_median_and_max_lag():
    row = window_row(
        STREAM,
        T0,
        T0 + dt.timedelta(minutes=1),
        0,
        "ON_TIME",
        [done("a", 1, lag_s=1), done("b", 2, lag_s=3), done("c", 3, lag_s=10, frames=5)],
    )
    assert (row["recordings"], row["frames"], row["lag_median_s"], row["lag_max_s"]) == (3, 25, 3.0, 10.0)
