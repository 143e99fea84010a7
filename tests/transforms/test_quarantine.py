"""Quarantine in a TestPipeline: an unexpected exception quarantines its input and the run goes on, and a refused
input is kept with its reason under the run's quarantine folder."""

import json
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import QuarantineReason
from schemas.elements import QuarantineRecord
from schemas.tables import quarantine_row
from transforms.logic.identity import media_id
from transforms.quarantine import QuarantineInputs, guarded_pardo


def test_quarantine_record_keeps_the_reason():
    record = QuarantineRecord("/x", QuarantineReason.EMPTY_FILE, "file is empty")
    assert record.reason.value == "empty_file"


class _FragileFn(beam.DoFn):
    """Stands in for a stage that meets something nobody expected on one input."""

    def process(self, media):
        if media.source.origin_uri.endswith("bad.mp4"):
            raise RuntimeError("decoder exploded")
        yield media.media_id


def test_an_unexpected_exception_quarantines_its_input_and_the_run_goes_on(beam_options, media_info):
    good, bad = media_info(uri="/in/good.mp4"), media_info(uri="/in/bad.mp4")
    with TestPipeline(options=beam_options) as p:
        out = guarded_pardo(p | beam.Create([good, bad]), "Fragile", _FragileFn(), "ids")
        assert_that(out["ids"], equal_to([good.media_id]), label="Good")
        refused = out["quarantine"] | beam.Map(lambda q: (q.input_uri, q.reason, q.media_id, "exploded" in q.message))
        expected = [("/in/bad.mp4", QuarantineReason.PROCESSING_ERROR, bad.media_id, True)]
        assert_that(refused, equal_to(expected), label="Bad")


def test_quarantine_inputs_keeps_a_copy_of_each_refused_file_and_its_reason(tmp_path, beam_options):
    junk = tmp_path / "in" / "junk.mp4"
    junk.parent.mkdir()
    junk.write_bytes(b"not a video")
    records = [
        QuarantineRecord(str(junk), QuarantineReason.CORRUPT_MEDIA, "not a video", "m-junk", str(junk), "cam-1"),
        # Footage that must not exist is not copied.
        QuarantineRecord("/in/bathroom.mp4", QuarantineReason.PROHIBITED_LOCATION, "private", "m-bath", None, "cam-9"),
        QuarantineRecord("/in/gone.mp4", QuarantineReason.EMPTY_FILE, "file is empty", None, "/in/gone.mp4"),
    ]
    folder = str(tmp_path / "quarantine")
    with TestPipeline(options=beam_options) as p:
        rows = p | beam.Create(records) | QuarantineInputs(folder)
        assert_that(rows, equal_to([quarantine_row(r) for r in records]))
    gone = media_id("/in/gone.mp4")
    assert sorted(os.listdir(folder)) == sorted(["m-junk", "m-bath", gone])
    assert (tmp_path / "quarantine" / "m-junk" / "junk.mp4").read_bytes() == b"not a video"
    assert os.listdir(tmp_path / "quarantine" / "m-bath") == ["reason.json"]
    assert os.listdir(tmp_path / "quarantine" / gone) == ["reason.json"]
    reasons = {
        key: json.loads((tmp_path / "quarantine" / key / "reason.json").read_text())
        for key in ("m-junk", "m-bath", gone)
    }
    assert reasons["m-junk"] == {
        **quarantine_row(records[0]),
        "kept_copy": str(tmp_path / "quarantine" / "m-junk" / "junk.mp4"),
        "copy_error": None,
    }
    assert (reasons["m-bath"]["kept_copy"], reasons["m-bath"]["copy_error"]) == (None, None)
    assert reasons[gone]["kept_copy"] is None
    assert reasons[gone]["copy_error"].startswith("input could not be copied into quarantine:")
