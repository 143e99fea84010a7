"""Anonymize each landed recording as a run of its own, start to finish inside one DoFn (the streaming job's core).

The stages are the batch job's own DoFns and pure functions, applied in the batch graph's order; what changes is
that a recording never crosses a GroupByKey. On the local runner anything below a GroupByKey runs only when the
source ends (shared/notes/beam-runtime-facts.md), so a recording's video, tables, validation and report are
published as soon as it is done, while the job keeps watching. Each recording is one run
(``<stream_id>-<hash of the landed file's version>``): every table, the catalog, ``veil validate --run`` and the
retention job treat it like any batch run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

import apache_beam as beam
from apache_beam.utils import shared
from apache_beam.utils.timestamp import Timestamp

from schemas import tables
from schemas.codes import QuarantineReason
from schemas.elements import MediaInfo, QuarantineRecord
from transforms import layout, storage
from transforms.catalog import media_entries, quarantine_entries, restricted_entry, run_entries
from transforms.detection import DetectSegmentFn, FaceModelHandler
from transforms.encoding import RESTRICTED, TRACKS, JoinFn
from transforms.ingest import IMAGE_SUFFIXES, SKIPPED, ExpandArchiveFn, IdentifyFn, ListFilesFn, staging_folder
from transforms.logic.identity import media_id as media_id_of
from transforms.logic.landing import Listed, recording_run_id
from transforms.policy import ScreenFn, plan, without_cancelled
from transforms.quarantine import QUARANTINE, QuarantineFn, guarded
from transforms.redaction import AUDIT, RedactSegmentFn, segment_jobs
from transforms.segments import SplitFn
from transforms.settings import JobSettings
from transforms.sinks import write_table
from transforms.tags import SplitByTag
from transforms.tracking import assemble

WRITTEN_LAST = "runs"
"""The table whose row marks a run complete: written after every other one."""


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


def _collect(pairs, element) -> dict[str, list]:
    found: dict[str, list] = defaultdict(list)
    for tag, value in pairs.process(element):
        found[tag].append(value)
    return found


class AnonymizeRecordingFn(beam.DoFn):
    """Take one landed file through every stage, write its run's tables (runs last), then validate and report."""

    def __init__(self, settings: JobSettings, stream_id: str, done: frozenset, publish: Publish):
        s = settings
        self._settings = settings
        self._stream_id = stream_id
        self._publish = publish
        work = layout.work_folder(s.output, stream_id)
        self._staging, self._parts = storage.join(work, "staging"), storage.join(work, "parts")
        # The batch job's stages, each behind the same guard as in the batch graph.
        self._list = guarded(ListFilesFn(), "List Files", "sources", "archives").pairs
        self._expand = guarded(ExpandArchiveFn(self._staging, s.limits), "Expand Archives", "sources").pairs
        self._identify = guarded(
            IdentifyFn(dict(s.manifest), s.template, done, s.settings_hash), "Hash And Identify", "media", SKIPPED
        ).pairs
        self._screen = SplitByTag(ScreenFn(s.registry, s.policy), "media", (QUARANTINE,)).pairs
        self._split = guarded(SplitFn(s.image_fps, s.segment_frames), "Probe And Split", "segments").pairs
        self._detect = DetectSegmentFn(FaceModelHandler(s.detector), s.detector, shared.Shared())
        self._redact = SplitByTag(
            RedactSegmentFn(s.mode, s.encoder, self._parts, s.audit, s.keystore), "parts", (AUDIT,)
        ).pairs
        self._join = guarded(
            JoinFn(s.output, s.mode.value, s.settings_hash, s.keep_audio, s.keystore),
            "Join And Publish",
            "media",
            TRACKS,
            RESTRICTED,
        ).pairs
        self._stages = (
            self._list,
            self._expand,
            self._identify,
            self._screen,
            self._split,
            self._detect,
            self._redact,
            self._join,
        )
        self._recordings = beam.metrics.Metrics.counter("veil", "recordings_processed")

    def _each_stage(self, method: str) -> None:
        for stage in self._stages:
            getattr(stage, method)()

    def setup(self) -> None:
        self._each_stage("setup")

    def start_bundle(self) -> None:
        self._each_stage("start_bundle")

    def finish_bundle(self) -> None:
        self._each_stage("finish_bundle")

    def teardown(self) -> None:
        self._each_stage("teardown")

    def process(self, landed: Listed):
        started = dt.datetime.now(dt.UTC)
        run_id = recording_run_id(self._stream_id, landed)
        scratch: list[str] = []
        try:
            rows, refused, skipped, starts = self._anonymize(landed.path, scratch)
        except Exception as err:  # noqa: BLE001 - fail closed: anything unforeseen quarantines the recording
            rows, skipped, starts = defaultdict(list), 0, []
            refused = [
                QuarantineRecord(
                    landed.path,
                    QuarantineReason.PROCESSING_ERROR,
                    f"streaming stage failed unexpectedly: {err!r}",
                    media_id_of(landed.path),
                    landed.path,
                )
            ]
        folder = layout.quarantine_folder(self._settings.output, run_id)
        quarantine = QuarantineFn(folder)
        rows["quarantine"] = [row for record in refused for row in quarantine.process(record)]
        self._write(run_id, rows, skipped, started, folder)
        # Only this recording's scratch: other workers may be using the stream's work folder.
        for path in scratch:
            storage.delete_path(path)
        try:
            passed = self._publish(self._settings.output, run_id)
        except Exception:  # noqa: BLE001 - the run's outputs stand; unvalidated, its raw input is never purged
            logging.exception("run %s could not be validated", run_id)
            passed = False
        self._recordings.inc()
        finished = dt.datetime.now(dt.UTC)
        landed_at = dt.datetime.fromtimestamp(landed.modified, dt.UTC)
        media = rows["media"]
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
                skipped,
                sum(r["frames"] for r in media),
                sum(r["faces_redacted"] for r in media),
                sum(r["tracks_kept"] for r in media),
                passed,
            ),
            Timestamp.from_utc_datetime(event_time),
        )

    def _anonymize(
        self, uri: str, scratch: list[str]
    ) -> tuple[dict[str, list], list[QuarantineRecord], int, list[dt.datetime]]:
        """The batch graph's stages in its order, for one landed file; returns rows per table, refused inputs, the
        number skipped as done before, and the known start times. Adds the work folders it used to ``scratch``."""
        s = self._settings
        rows: dict[str, list] = defaultdict(list)
        if uri.lower().endswith(IMAGE_SUFFIXES):
            # A folder of frames cannot land atomically one frame at a time: it lands as an archive.
            return (
                rows,
                [
                    QuarantineRecord(
                        uri,
                        QuarantineReason.UNSUPPORTED_FILE,
                        "a still frame landed on its own: land a folder of frames as a tar or zip archive",
                        media_id_of(uri),
                        uri,
                    )
                ],
                0,
                [],
            )
        listed = _collect(self._list, uri)
        refused = list(listed[QUARANTINE])
        sources = list(listed["sources"])
        for archive in listed["archives"]:
            scratch.append(staging_folder(self._staging, archive))
            expanded = _collect(self._expand, archive)
            sources += expanded["sources"]
            refused += expanded[QUARANTINE]
        media: list[MediaInfo] = []
        skipped = 0
        for source in sources:
            identified = _collect(self._identify, source)
            refused += identified[QUARANTINE]
            skipped += len(identified[SKIPPED])
            for info in identified["media"]:
                screened = _collect(self._screen, info)
                refused += screened[QUARANTINE]
                media += screened["media"]
        for info in media:
            split = _collect(self._split, info)
            refused += split[QUARANTINE]
            if not split["segments"]:
                continue
            scratch.append(storage.join(self._parts, info.media_id))
            detections = [found for segment in split["segments"] for found in self._detect.process(segment)]
            # Looked up per recording: an account cancelled earlier in this job keeps nothing from now on.
            registry = without_cancelled(s.registry, s.output, s.keystore)
            media_plan = plan(assemble(detections, s.tracker), registry, s.policy, s.tracker)
            parts = []
            for job in segment_jobs(media_plan):
                encoded = _collect(self._redact, job)
                parts += encoded["parts"]
                rows["leak_audit"] += encoded[AUDIT]
            joined = _collect(self._join, (info.media_id, {"plan": [media_plan], "parts": parts}))
            refused += joined[QUARANTINE]
            rows["media"] += joined["media"]
            rows["face_tracks"] += joined[TRACKS]
            rows["restricted"] += joined[RESTRICTED]
        starts = [info.start_time for info in media if info.start_time is not None]
        return rows, refused, skipped, starts

    def _write(self, run_id: str, rows: dict[str, list], skipped: int, started: dt.datetime, folder: str) -> None:
        """Every table of the run, as the batch job writes them; the runs row last, so it marks a complete run."""
        s = self._settings
        rows["catalog"] = (
            [e for row in rows["media"] for e in media_entries(row, s.registry, s.retention, started)]
            + [restricted_entry(row, s.registry, s.retention, started) for row in rows["restricted"]]
            + [e for row in rows["quarantine"] for e in quarantine_entries(row, folder, s.retention, started)]
            + run_entries(s.output, run_id, s.retention, started)
        )
        rows[WRITTEN_LAST] = [
            tables.runs_row(
                started, dt.datetime.now(dt.UTC), s.options_json, rows["media"], len(rows["quarantine"]), skipped
            )
        ]
        for table in ("media", "face_tracks", "restricted", "quarantine", "leak_audit", "catalog", WRITTEN_LAST):
            write_table(
                [{**row, "run_id": run_id} for row in rows[table]],
                tables.TABLES[table],
                layout.table_uri(s.output, table, run_id),
            )


class AnonymizeRecordings(beam.PTransform):
    """Anonymize each landed file as its own run, publishing everything it produces before the next one; emits a
    RecordingDone per file, timestamped with the recording's start (or its landing time when unknown)."""

    def __init__(self, settings: JobSettings, stream_id: str, done: frozenset, publish: Publish):
        super().__init__()
        self._fn = AnonymizeRecordingFn(settings, stream_id, done, publish)

    def expand(self, landed):
        return landed | "Anonymize Recording" >> beam.ParDo(self._fn)
