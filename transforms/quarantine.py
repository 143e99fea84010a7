"""Keep what could not be processed: the input's bytes and the reason, under OUT/quarantine/<run_id>/."""

from __future__ import annotations

import functools
import json
import posixpath

import apache_beam as beam

from schemas import tables
from schemas.codes import QuarantineReason
from schemas.elements import MediaInfo, MediaSource, QuarantineRecord
from transforms.logic.identity import media_id
from transforms.services import progress, storage
from transforms.tags import SplitByTag

QUARANTINE = "quarantine"


def origin_of(element) -> tuple[str, str | None, str | None]:
    """The input an element of a media-level stage belongs to: origin uri, media id, readable single file."""
    if isinstance(element, MediaInfo):
        return element.source.origin_uri, element.media_id, element.source.single_file
    if isinstance(element, MediaSource):
        return element.origin_uri, None, element.single_file
    if isinstance(element, tuple) and len(element) == 2 and isinstance(element[1], dict) and element[1].get("plan"):
        media = next(iter(element[1]["plan"])).media
        return media.source.origin_uri, media.media_id, media.source.single_file
    return str(element), None, str(element)


def guarded_pardo(pcoll, label: str, fn: beam.DoFn, main: str, *tags: str) -> dict:
    """Apply ``fn`` so that an unexpected exception quarantines the input it was processing (fail closed).

    Expected bad input is the DoFn's own business (its QUARANTINE output); anything it did not
    expect lands there too, as ``processing_error`` with the exception, and the run goes on.
    Returns the outputs by tag, QUARANTINE holding both kinds.
    """
    return pcoll | label >> guarded(fn, label, main, *tags)


def guarded(fn: beam.DoFn, label: str, main: str, *tags: str) -> SplitByTag:
    """The transform ``guarded_pardo`` applies; its ``pairs`` run the same guard in-process (streaming)."""
    return SplitByTag(fn, main, (*tags, QUARANTINE), functools.partial(_unexpected, stage=label))


def _unexpected(element, error: Exception, stage: str) -> tuple[str, QuarantineRecord]:
    uri, key, source = origin_of(element)
    return QUARANTINE, QuarantineRecord(
        uri, QuarantineReason.PROCESSING_ERROR, f"{stage} failed unexpectedly: {error!r}", key, source
    )


class QuarantineFn(beam.DoFn):
    """Keep one refused input's bytes and reason under the run's quarantine folder; emits its table row."""

    def __init__(self, folder: str, progress: str | None = None):
        self._folder = folder
        self._progress = progress
        self._count = beam.metrics.Metrics.counter("veil", "inputs_quarantined")

    def process(self, record: QuarantineRecord):
        key = record.media_id or media_id(record.input_uri)
        target = storage.join(self._folder, key)
        kept, copy_error = None, None
        if record.source_uri:
            kept = storage.join(target, posixpath.basename(record.source_uri))
            try:
                with storage.local_copy(record.source_uri) as path:
                    storage.publish_file(path, kept)
            except OSError as err:
                # The record matters more than the copy: the input stays where it was, and the reason says so.
                kept, copy_error = None, f"input could not be copied into quarantine: {err}"
        row = tables.quarantine_row(record)
        details = {**row, "kept_copy": kept, "copy_error": copy_error}
        storage.publish_bytes(json.dumps(details, indent=1).encode(), storage.join(target, "reason.json"))
        self._count.inc()
        progress.note(self._progress, progress.DONE, key)
        yield row


class QuarantineInputs(beam.PTransform):
    """Copy each refused input (when it is a single file) and its reason into the run's quarantine folder.

    Emits the quarantine table rows.
    """

    def __init__(self, folder: str, progress: str | None = None):
        super().__init__()
        self._fn = QuarantineFn(folder, progress)

    def expand(self, records):
        return records | "Keep Refused Input" >> beam.ParDo(self._fn)
