"""Anonymize each landed recording as a run of its own, start to finish inside one DoFn (the streaming job's core).

The stages are the batch job's own, from the one definition of the chain (transforms/chain.py), run in-process
(transforms/stage.py): what changes is that a recording never crosses a GroupByKey. On the local runner anything
below a GroupByKey runs only when the source ends (shared/notes/beam-runtime-facts.md), so a recording's video,
tables, validation and report are published as soon as it is done, while the job keeps watching. Each recording is
one run (``<stream_id>-<hash of the landed file's version>``): every table, the catalog, ``veil validate --run`` and
the retention job treat it like any batch run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

import apache_beam as beam
from apache_beam.utils.timestamp import Timestamp

from schemas import tables
from schemas.codes import QuarantineReason
from schemas.elements import QuarantineRecord
from transforms.catalog import media_entries, quarantine_entries, restricted_entry, run_entries
from transforms.chain import SPEC, anonymize_stages
from transforms.ingest import IMAGE_SUFFIXES, SKIPPED, staging_folder
from transforms.logic.identity import media_id as media_id_of
from transforms.logic.landing import Listed, recording_run_id
from transforms.quarantine import QUARANTINE, QuarantineFn
from transforms.services import layout, storage
from transforms.services.settings import JobSettings
from transforms.services.table_files import write_run_table
from transforms.stage import InProcess


@dataclasses.dataclass(frozen=True)
class RecordingDone:
    """What the windows need of a finished recording: its run, counts and timings (event time is ``event_time``)."""

    run_id: str
    input_uri: str
    event_time: dt.datetime
    landed_at: dt.datetime
    finished_at: dt.datetime
    anonymized: int
    quarantined: int
    skipped: int
    frames: int
    faces_redacted: int
    tracks_kept: int
    passed: bool
    """Whether the recording's run passed validation."""

    @property
    def lag_seconds(self) -> float:
        """From the file's landing (its last modification) to its outputs being published."""
        return max(0.0, (self.finished_at - self.landed_at).total_seconds())


Publish = Callable[[str, str], bool]
"""Called with (output, run_id) once a run's tables are written: validates it and writes its report; returns
whether it passed."""


class _AnonymizeRecordingFn(beam.DoFn):
    """Take one landed file through every stage, write its run's tables (runs last), then validate and report."""

    def __init__(self, settings: JobSettings, publish: Publish):
        self._settings = settings
        self._publish = publish
        self._chain = InProcess(anonymize_stages(settings, streaming=True))
        self._recordings = beam.metrics.Metrics.counter("veil", "recordings_processed")

    def setup(self) -> None:
        self._chain.each("setup")

    def start_bundle(self) -> None:
        self._chain.each("start_bundle")

    def finish_bundle(self) -> None:
        self._chain.each("finish_bundle")

    def teardown(self) -> None:
        self._chain.each("teardown")

    def process(self, landed: Listed):
        s = self._settings
        started = dt.datetime.now(dt.UTC)
        run_id = recording_run_id(s.run_id, landed)
        streams = self._anonymize(landed.path)
        folder = layout.quarantine_folder(s.output, run_id)
        quarantine = QuarantineFn(folder)
        rows = {table: list(streams[table]) for table in tables.ANONYMIZE_TABLES}
        rows["quarantine"] = [row for record in streams[QUARANTINE] for row in quarantine.process(record)]
        self._write(run_id, rows, len(streams[SKIPPED]), started, folder)
        # Only this recording's scratch: other workers may be using the stream's work folder.
        for archive in streams["archives"]:
            storage.delete_path(staging_folder(layout.staging_folder(s.output, s.run_id), archive))
        for media_id in {segment.media.media_id for segment in streams["segments"]}:
            storage.delete_path(storage.join(layout.parts_folder(s.output, s.run_id), media_id))
        try:
            passed = self._publish(s.output, run_id)
        except Exception:  # noqa: BLE001 - the run's outputs stand; unvalidated, its raw input is never purged
            logging.exception("run %s could not be validated", run_id)
            passed = False
        self._recordings.inc()
        finished = dt.datetime.now(dt.UTC)
        landed_at = dt.datetime.fromtimestamp(landed.modified, dt.UTC)
        media = rows["media"]
        starts = [info.start_time for info in streams["screened"] if info.start_time is not None]
        event_time = min(starts) if starts else landed_at
        yield beam.window.TimestampedValue(
            RecordingDone(
                run_id,
                landed.path,
                event_time,
                landed_at,
                finished,
                len(media),
                len(rows["quarantine"]),
                len(streams[SKIPPED]),
                sum(r["frames"] for r in media),
                sum(r["faces_redacted"] for r in media),
                sum(r["tracks_kept"] for r in media),
                passed,
            ),
            Timestamp.from_utc_datetime(event_time),
        )

    def _anonymize(self, uri: str) -> dict[str, list]:
        """Every stream the chain writes for one landed file; anything unforeseen quarantines the whole file."""
        refused = None
        if uri.lower().endswith(IMAGE_SUFFIXES):
            # A folder of frames cannot land atomically one frame at a time: it lands as an archive.
            refused = (
                QuarantineReason.UNSUPPORTED_FILE,
                "a still frame landed on its own: land a folder of frames as a tar or zip archive",
            )
        else:
            try:
                return self._chain.run({SPEC: [uri]})
            except Exception as err:  # noqa: BLE001 - fail closed: anything unforeseen quarantines the recording
                refused = (QuarantineReason.PROCESSING_ERROR, f"streaming stage failed unexpectedly: {err!r}")
        streams: dict[str, list] = defaultdict(list)
        streams[QUARANTINE].append(QuarantineRecord(uri, *refused, media_id_of(uri), uri))
        return streams

    def _write(self, run_id: str, rows: dict[str, list], skipped: int, started: dt.datetime, folder: str) -> None:
        """Every table of the run, as the batch job writes them; the runs row last, so it marks a complete run."""
        s = self._settings
        rows["catalog"] = (
            [e for row in rows["media"] for e in media_entries(row, s.registry, s.retention, started)]
            + [restricted_entry(row, s.registry, s.retention, started) for row in rows["restricted"]]
            + [e for row in rows["quarantine"] for e in quarantine_entries(row, folder, s.retention, started)]
            + run_entries(s.output, run_id, s.retention, started)
        )
        rows["runs"] = [
            tables.runs_row(
                started, dt.datetime.now(dt.UTC), s.options_json, rows["media"], len(rows["quarantine"]), skipped
            )
        ]
        for table in tables.ANONYMIZE_TABLES:
            write_run_table(s.output, table, run_id, rows[table])


class AnonymizeRecordings(beam.PTransform):
    """Anonymize each landed file as its own run, publishing everything it produces before the next one; emits a
    RecordingDone per file, timestamped with the recording's start (or its landing time when unknown).

    The runs are named after the settings' run id (the stream's); inputs in the settings' ``done`` are skipped."""

    def __init__(self, settings: JobSettings, publish: Publish):
        super().__init__()
        self._fn = _AnonymizeRecordingFn(settings, publish)

    def expand(self, landed):
        return landed | "Anonymize Recording" >> beam.ParDo(self._fn)
