"""Event-time windows of a streaming job's finished recordings: aggregates only, each window validated."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.utils.windowed_value import PaneInfoTiming

from schemas import tables
from transforms.catalog import run_entries
from transforms.logic.retention import RetentionPolicy
from transforms.recording import RecordingDone
from transforms.services.table_files import write_run_table

"""The partitions a window writes (validation adds validation_failures)."""

PublishWindow = Callable[[str, str], bool]
"""Called with (output, window run id) once a window's row is written: validates it, updates the stream report."""


def window_id(stream_id: str, start: dt.datetime) -> str:
    """The run id a window's partitions, validation and report go by."""
    return f"{stream_id}-w{start:%Y%m%dT%H%M%S}Z"


def window_row(
    stream_id: str, start: dt.datetime, end: dt.datetime, pane: int, timing: str, recordings: Iterable[RecordingDone]
) -> dict:
    """The stream_windows row of one pane of a window, from every recording in it so far."""
    return tables.stream_window_row(stream_id, start, end, pane, timing, list(recordings), dt.datetime.now(dt.UTC))


class _WindowRowFn(beam.DoFn):
    """Write one pane's stream_windows row (a later pane rewrites the window's partition whole), catalog it, and
    hand the window to ``publish``; emits the row."""

    def __init__(self, output: str, stream_id: str, policy: RetentionPolicy, publish: PublishWindow):
        self._output = output
        self._stream_id = stream_id
        self._policy = policy
        self._publish = publish

    def process(self, keyed, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        _, recordings = keyed
        start, end = win.start.to_utc_datetime(has_tz=True), win.end.to_utc_datetime(has_tz=True)
        run_id = window_id(self._stream_id, start)
        row = {
            **window_row(self._stream_id, start, end, pane.index, PaneInfoTiming.to_string(pane.timing), recordings),
            "run_id": run_id,
        }
        write_run_table(self._output, "stream_windows", run_id, [row])
        catalog = run_entries(
            self._output, run_id, self._policy, row["written_at"], tables.WINDOW_TABLES + tables.WRITTEN_BY_VALIDATION
        )
        write_run_table(self._output, "catalog", run_id, catalog)
        try:
            self._publish(self._output, run_id)
        except Exception:  # noqa: BLE001 - the window's row stands; its missing verdict shows in the stream report
            logging.exception("window %s could not be validated", run_id)
        yield row


class SummarizeWindows(beam.PTransform):
    """Fixed event-time windows over finished recordings (event time: the recording's start), with allowed
    lateness: a late recording fires its own window again, which then counts it too (accumulating panes)."""

    def __init__(
        self,
        output: str,
        stream_id: str,
        seconds: float,
        lateness: float,
        policy: RetentionPolicy,
        publish: PublishWindow,
    ):
        super().__init__()
        self._seconds = seconds
        self._lateness = lateness
        self._stream_id = stream_id
        self._fn = _WindowRowFn(output, stream_id, policy, publish)

    def expand(self, done):
        stream_id = self._stream_id
        return (
            done
            | "Event Time Windows"
            >> beam.WindowInto(
                window.FixedWindows(self._seconds),
                trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
                allowed_lateness=self._lateness,
            )
            | "Key By Stream" >> beam.Map(lambda r: (stream_id, r))
            | "Per Window" >> beam.GroupByKey()
            | "Write Window" >> beam.ParDo(self._fn)
        )
