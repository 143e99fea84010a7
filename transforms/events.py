"""Apply account events as they land during a streaming job: each events file is one retention run."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import tables
from schemas.codes import QuarantineReason
from schemas.elements import QuarantineRecord
from transforms.catalog import quarantine_entries, run_entries
from transforms.logic.identity import media_id
from transforms.logic.landing import Listed, recording_run_id
from transforms.logic.registry import parse_registry
from transforms.logic.retention import RetentionPolicy
from transforms.quarantine import QuarantineFn
from transforms.services import layout
from transforms.services.table_files import write_run_table

Enforce = Callable[[str, str, list], int]
"""Runs retention on (output, run_id, events): plans as of now, does what is due, records it; returns the number of
plan rows."""


class _ApplyEventsFn(beam.DoFn):
    """Read one landed events file and run retention with its events; a file with a bad row is quarantined whole,
    as ``veil retention --events`` refuses one, since guessing could delete too much or too little."""

    def __init__(self, output: str, stream_id: str, policy: RetentionPolicy, enforce: Enforce):
        self._output = output
        self._stream_id = stream_id
        self._policy = policy
        self._enforce = enforce
        self._applied = beam.metrics.Metrics.counter("veil", "event_files_applied")
        self._refused = beam.metrics.Metrics.counter("veil", "event_files_quarantined")

    def process(self, landed: Listed):
        run_id = recording_run_id(self._stream_id, landed)
        try:
            with FileSystems.open(landed.path) as handle:
                events, issues = parse_registry("events", handle.read(), landed.path)
            problem = "; ".join(str(i) for i in issues)
            if not problem:
                yield run_id, self._enforce(self._output, run_id, events)
                self._applied.inc()
                return
        except Exception as err:  # noqa: BLE001 - the job goes on; the file and the reason are kept for the operator
            logging.exception("account events %s could not be applied", landed.path)
            problem = f"could not be applied: {err!r}"
        self._refused.inc()
        self._quarantine(
            run_id,
            QuarantineRecord(
                landed.path, QuarantineReason.INVALID_ACCOUNT_EVENTS, problem, media_id(landed.path), landed.path
            ),
        )
        yield run_id, 0

    def _quarantine(self, run_id: str, record: QuarantineRecord) -> None:
        started = dt.datetime.now(dt.UTC)
        folder = layout.quarantine_folder(self._output, run_id)
        rows = list(QuarantineFn(folder).process(record))
        catalog = [e for row in rows for e in quarantine_entries(row, folder, self._policy, started)] + run_entries(
            self._output, run_id, self._policy, started, tables.QUARANTINE_TABLES
        )
        for table, found in zip(tables.QUARANTINE_TABLES, (rows, catalog)):
            write_run_table(self._output, table, run_id, found)


class ApplyAccountEvents(beam.PTransform):
    """Run retention for each landed events file, as it lands; emits (run_id, plan rows)."""

    def __init__(self, output: str, stream_id: str, policy: RetentionPolicy, enforce: Enforce):
        super().__init__()
        self._fn = _ApplyEventsFn(output, stream_id, policy, enforce)

    def expand(self, landed):
        return landed | "Run Retention" >> beam.ParDo(self._fn)
