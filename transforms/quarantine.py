"""Keep what could not be processed: the input's bytes and the reason, under OUT/quarantine/<run_id>/."""
from __future__ import annotations

import json
import posixpath

import apache_beam as beam

from schemas import tables
from schemas.elements import QuarantineRecord
from transforms import storage
from transforms.ingest import media_id


class _QuarantineFn(beam.DoFn):
    def __init__(self, folder: str):
        self._folder = folder
        self._count = beam.metrics.Metrics.counter("veil", "inputs_quarantined")

    def process(self, record: QuarantineRecord):
        key = record.media_id or media_id(record.input_uri)
        target = storage.join(self._folder, key)
        kept = None
        if record.source_uri and storage.exists(record.source_uri):
            kept = storage.join(target, posixpath.basename(record.source_uri))
            with storage.local_copy(record.source_uri) as path:
                storage.publish_file(path, kept)
        row = tables.quarantine_row(record)
        storage.publish_bytes(json.dumps({**row, "kept_copy": kept}, indent=1).encode(),
                              storage.join(target, "reason.json"))
        self._count.inc()
        yield row


class QuarantineInputs(beam.PTransform):
    """Copy each refused input (when it is a single file) and its reason into the run's quarantine folder.

    Emits the quarantine table rows.
    """

    def __init__(self, folder: str):
        super().__init__()
        self._folder = folder

    def expand(self, records):
        return records | "Keep Refused Input" >> beam.ParDo(_QuarantineFn(self._folder))
