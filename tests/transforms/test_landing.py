"""WatchLanding in a TestPipeline: the settled files under a landing prefix and an events prefix, each emitted once
with its kind; files still being written, and files an earlier run finished, are not."""

import datetime as dt
import os
import threading
import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import ArtifactKind
from schemas.tables import catalog_row
from transforms import landing
from transforms.landing import EVENTS, RECORDING, WatchLanding, of_kind
from transforms.services.table_files import write_run_table


def test_watch_landing_emits_each_settled_file_once_with_its_kind(tmp_path, beam_options, monkeypatch):
    # A streaming job run before in this process leaves the stop signal set.
    monkeypatch.setattr(landing, "STOP", threading.Event())
    land, events, output = tmp_path / "land", tmp_path / "events", str(tmp_path / "out")
    (land / "cam-1").mkdir(parents=True)
    events.mkdir()
    for path in (land / "a.mp4", land / "cam-1" / "b.mp4", land / ".c.mp4.tmp", land / "done.mp4"):
        path.write_bytes(b"footage")
    (events / "cancel.jsonl").write_text("{}\n")
    # An earlier run finished done.mp4 after its last change: a restart must not take it again.
    finished = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    row = catalog_row(
        "a1", ArtifactKind.RAW_INPUT.value, str(land / "done.mp4"), "m", None, None, finished, finished, "r", True
    )
    write_run_table(output, "catalog", "run-0", [row])
    # Settled after 0.1 s, listed every 0.1 s; the watch ends after 5 s, the pipeline's start-up included.
    watch = WatchLanding(str(land), str(events), 0.1, 0.1, 0.0, time.time() + 5, output, 60)
    with TestPipeline(options=beam_options) as p:
        files = p | watch
        assert_that(
            files | "Named" >> beam.Map(lambda pair: (pair[0], os.path.relpath(pair[1].path, tmp_path), pair[1].size)),
            equal_to(
                [(RECORDING, "land/a.mp4", 7), (RECORDING, "land/cam-1/b.mp4", 7), (EVENTS, "events/cancel.jsonl", 3)]
            ),
            label="Files",
        )
        recordings = of_kind(files, RECORDING, "Recordings") | "Paths" >> beam.Map(
            lambda item: os.path.basename(item.path)
        )
        assert_that(recordings, equal_to(["a.mp4", "b.mp4"]), label="Recordings")
