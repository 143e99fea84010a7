"""GatherAll and WriteTable in a TestPipeline: all elements as one list, once, also when there are none; a table's
rows written as the run's one partition, stamped with its run id."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import QuarantineReason
from schemas.elements import QuarantineRecord
from schemas.tables import quarantine_row
from transforms.services.table_files import read_table
from transforms.sinks import GatherAll, WriteTable


@pytest.mark.parametrize("elements", [[], [3, 1, 2, 2]], ids=["none", "some"])
def test_gather_all_emits_every_element_as_one_list_exactly_once(beam_options, elements):
    with TestPipeline(options=beam_options) as p:
        gathered = p | beam.Create(elements) | GatherAll()
        assert_that(gathered | beam.Map(sorted), equal_to([sorted(elements)]))


def test_write_table_writes_the_runs_partition_with_its_run_id_and_emits_the_row_count(beam_options, tmp_path):
    rows = [
        quarantine_row(QuarantineRecord(f"/in/{name}", QuarantineReason.EMPTY_FILE, "file is empty (0 bytes)"))
        for name in ("a.mp4", "b.mp4")
    ]
    output = str(tmp_path / "out")
    with TestPipeline(options=beam_options) as p:
        written = p | "Rows" >> beam.Create(rows) | "Write" >> WriteTable(output, "quarantine", "run-1")
        empty = p | "None" >> beam.Create([]) | "Write None" >> WriteTable(output, "quarantine", "run-2")
        assert_that(written, equal_to([2]), label="Written")
        assert_that(empty, equal_to([0]), label="Empty")
    found = read_table(output, "quarantine", "run-1").to_pylist()
    assert sorted(found, key=lambda r: r["input_uri"]) == [{**row, "run_id": "run-1"} for row in rows]
    assert read_table(output, "quarantine", "run-2").num_rows == 0, "a run with no rows still has its partition"
