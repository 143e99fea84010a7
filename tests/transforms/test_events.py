"""ApplyAccountEvents in a TestPipeline: each landed events file is one retention run, given the file's events; a
file with a bad row, or one that could not be applied, is quarantined whole with its reason and catalog rows."""

import json
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import ArtifactKind, QuarantineReason
from transforms.events import ApplyAccountEvents
from transforms.logic.identity import media_id
from transforms.logic.landing import Listed, recording_run_id
from transforms.logic.retention import default_policy
from transforms.services import layout
from transforms.services.table_files import read_table


def _count_cancellations(output: str, run_id: str, events: list) -> int:
    """Stands in for the retention run: as many plan rows as accounts cancelled."""
    return 10 * len({e.account_id for e in events if e.event == "cancelled"})


def _broken(output: str, run_id: str, events: list) -> int:
    raise RuntimeError("the key store is unreachable")


def _land(folder, name: str, rows: list[dict]) -> Listed:
    path = folder / name
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return Listed(str(path), path.stat().st_size, path.stat().st_mtime)


def _cancel(account: str, n: int = 1) -> dict:
    return {
        "event_id": f"ev-{account}-{n}",
        "account_id": account,
        "event": "cancelled",
        "time": "2026-11-21T10:00:00Z",
    }


def test_each_events_file_is_one_retention_run_and_a_bad_one_is_quarantined_whole(tmp_path, beam_options):
    land, output = tmp_path / "events", str(tmp_path / "out")
    land.mkdir()
    good = _land(land, "good.jsonl", [_cancel("acct-1"), _cancel("acct-2"), _cancel("acct-1", 2)])
    bad = _land(land, "bad.jsonl", [_cancel("acct-3"), {**_cancel("acct-4"), "event": "closed"}])
    with TestPipeline(options=beam_options) as p:
        done = p | beam.Create([good, bad]) | ApplyAccountEvents(output, "s-1", default_policy(), _count_cancellations)
        assert_that(done, equal_to([(recording_run_id("s-1", good), 20), (recording_run_id("s-1", bad), 0)]))
    assert read_table(output, "quarantine", recording_run_id("s-1", good)) is None, "the good file is not refused"
    bad_run = recording_run_id("s-1", bad)
    (row,) = read_table(output, "quarantine", bad_run).to_pylist()
    assert (row["input_uri"], row["reason_code"]) == (bad.path, QuarantineReason.INVALID_ACCOUNT_EVENTS.value)
    assert "bad.jsonl:2" in row["message"] and "event" in row["message"]
    kept = os.path.join(layout.quarantine_folder(output, bad_run), media_id(bad.path))
    assert sorted(os.listdir(kept)) == ["bad.jsonl", "reason.json"]
    catalog = {(r["kind"], r["uri"]) for r in read_table(output, "catalog", bad_run).to_pylist()}
    assert {(ArtifactKind.RAW_INPUT.value, bad.path), (ArtifactKind.QUARANTINED_INPUT.value, kept)} <= catalog
    assert (ArtifactKind.TABLE_PARTITION.value, layout.table_uri(output, "quarantine", bad_run)) in catalog


def test_an_events_file_that_cannot_be_applied_is_quarantined_and_the_job_goes_on(tmp_path, beam_options):
    land, output = tmp_path / "events", str(tmp_path / "out")
    land.mkdir()
    landed = _land(land, "cancel.jsonl", [_cancel("acct-1")])
    with TestPipeline(options=beam_options) as p:
        done = p | beam.Create([landed]) | ApplyAccountEvents(output, "s-1", default_policy(), _broken)
        assert_that(done, equal_to([(recording_run_id("s-1", landed), 0)]))
    (row,) = read_table(output, "quarantine", recording_run_id("s-1", landed)).to_pylist()
    assert row["reason_code"] == QuarantineReason.INVALID_ACCOUNT_EVENTS.value
    assert row["message"] == "could not be applied: RuntimeError('the key store is unreachable')"
