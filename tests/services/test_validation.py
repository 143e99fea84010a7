"""The expectation suites are data that fits the schemas, pass on a real run, and catch broken tables."""

import datetime as dt
import pathlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import cli, sample
from schemas import tables
from transforms.services import layout, validation
from transforms.services.ledger_store import append_entries
from transforms.services.table_files import read_table, write_table
from transforms.services.validation import gx_run, load_suite


def _columns_named(expectation: dict) -> set[str]:
    kwargs = expectation["kwargs"]
    return {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs} | set(kwargs.get("column_set", []))


@pytest.mark.parametrize("table", tables.VALIDATED)
def test_every_table_has_a_suite_naming_only_its_own_columns_each_tied_to_an_article(table):
    suite = load_suite(table)
    known = set(tables.TABLES[table].names) | set(tables.DERIVED.get(table, {}))
    for expectation in suite["expectations"]:
        assert _columns_named(expectation) <= known, expectation
        assert expectation["meta"]["article"] and "critical" in expectation["meta"]


@pytest.fixture()
def run_copy(sample_run, tmp_path):
    """A private copy of the sample run's output root, to break on purpose."""
    output = str(tmp_path / "out")
    shutil.copytree(sample_run["output"], output)
    (run,) = sample_run["rows"]["runs"]
    return output, run["run_id"]


def _rewrite(output, table, run_id, change):
    found = read_table(output, table)
    rows = [r for r in found.to_pylist() if r["run_id"] == run_id]
    write_table(change(rows), tables.TABLES[table], layout.table_uri(output, table, run_id))


@pytest.mark.slow
def test_the_sample_run_passes_every_expectation(run_copy):
    output, run_id = run_copy
    outcomes = validation.validate(output, run_id)
    assert [o for o in outcomes if not o.success] == []
    assert read_table(output, "validation_failures").num_rows == 0


@pytest.mark.slow
def test_unknown_reason_codes_fail_the_run_and_every_bad_row_is_recorded(run_copy, capsys):
    output, run_id = run_copy

    def corrupt(rows):
        rows[0]["reason_code"] = "looked_harmless"
        rows[-1]["reason_code"] = "looked_harmless"
        return rows

    _rewrite(output, "face_tracks", run_id, corrupt)
    assert cli.main(["validate", output, "--run", run_id]) == cli.EXIT_INVALID
    shown = capsys.readouterr().out
    assert "FAILED face_tracks.reason_code: expect_column_values_to_be_in_set" in shown
    failures = read_table(output, "validation_failures").to_pylist()
    tracks = read_table(output, "face_tracks").to_pylist()
    expected = {f"{t['media_id']}:{t['track_id']}" for t in tracks if t["reason_code"] == "looked_harmless"}
    assert {f["row_key"] for f in failures if f["column"] == "reason_code"} == expected and len(expected) == 2
    assert all(f["critical"] and f["article"] == "18" for f in failures)


@pytest.mark.slow
def test_an_input_missing_from_the_tables_breaks_conservation(run_copy):
    output, run_id = run_copy
    _rewrite(output, "media", run_id, lambda rows: rows[1:])
    failed = {(o.table, o.expectation) for o in validation.validate(output, run_id) if not o.success}
    assert ("runs", "expect_column_pair_values_to_be_equal") in failed


@pytest.mark.slow
def test_a_table_with_a_column_too_many_fails_its_structure_check(run_copy):
    output, run_id = run_copy
    schema = tables.QUARANTINE.append(pa.field("face_crop", pa.binary()))
    pq.write_table(pa.Table.from_pylist([], schema=schema), layout.table_uri(output, "quarantine", run_id))
    failed = [o for o in validation.validate(output, run_id) if not o.success]
    assert [(o.table, o.expectation, o.critical) for o in failed] == [
        ("quarantine", "expect_table_columns_to_match_set", True)
    ]


@pytest.mark.slow
def test_a_catalog_deadline_beyond_the_policy_maximum_fails_the_run(run_copy):
    output, run_id = run_copy

    def stretch(rows):
        for row in rows:
            if row["kind"] == "public_copy":
                row["retention_until"] = row["created_at"] + dt.timedelta(days=400)
        return rows

    _rewrite(output, "catalog", run_id, stretch)
    failed = [o for o in validation.validate(output, run_id) if not o.success]
    assert [(o.table, o.column, o.critical) for o in failed] == [("catalog", "max_days", True)]
    assert len(failed[0].failing_rows) == len(sample.SCENES)


def _purged(run_id: str) -> list[dict]:
    """A retention run's one ledger entry."""
    return [
        {
            "run_id": run_id,
            "action": "delete_file",
            "artifact_id": "a1",
            "artifact_kind": "raw_input",
            "rule": "article_17_raw_purge",
            "event_id": None,
            "subject_token": None,
            "due_at": None,
            "done_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            "detail": "deleted",
        }
    ]


@pytest.mark.slow
def test_a_tampered_retention_ledger_fails_every_run(run_copy, capsys):
    output, run_id = run_copy
    append_entries(output, "ret-1", _purged("ret-1"), layout.default_keystore(output))
    assert validation.critical_failures(validation.validate(output, run_id)) == []
    (ledger,) = (pathlib.Path(output) / "ledger").iterdir()
    ledger.write_text(ledger.read_text().replace('"deleted"', '"kept"'))
    assert cli.main(["validate", output, "--run", run_id]) == cli.EXIT_INVALID
    assert "FAILED ledger.*: ledger_chain_intact" in capsys.readouterr().out


@pytest.mark.slow
def test_a_kept_track_without_its_consent_id_fails_the_run_naming_the_expectation(run_copy, capsys):
    output, run_id = run_copy

    def forget_consent(rows):
        for row in rows:
            if row["action"] == "keep":
                row["consent_id"] = None
        return rows

    _rewrite(output, "face_tracks", run_id, forget_consent)
    assert cli.main(["validate", output, "--run", run_id]) == cli.EXIT_INVALID
    assert "FAILED face_tracks.consent_id: expect_column_values_to_not_be_null (Article 13" in capsys.readouterr().out
    (failure,) = [f for f in read_table(output, "validation_failures").to_pylist() if f["column"] == "consent_id"]
    (kept,) = [t for t in read_table(output, "face_tracks").to_pylist() if t["action"] == "keep"]
    assert failure["row_key"] == f"{kept['media_id']}:{kept['track_id']}" and failure["critical"]


@pytest.mark.slow
def test_a_ledger_cut_off_at_its_end_fails_every_run_against_the_key_store_given(run_copy, tmp_path, capsys):
    output, run_id = run_copy
    keystore = str(tmp_path / "secure" / "keystore.json")
    append_entries(output, "ret-1", _purged("ret-1"), keystore)
    append_entries(output, "ret-2", _purged("ret-2"), keystore)
    assert validation.critical_failures(validation.validate(output, run_id, keystore)) == []
    (pathlib.Path(output) / "ledger" / "00000002-ret-2.jsonl").unlink()
    (failed,) = validation.critical_failures(validation.validate(output, run_id, keystore))
    assert (failed.table, failed.expectation) == ("ledger", "ledger_chain_intact")
    (problem,) = failed.failing_rows
    assert problem.startswith(
        f"the ledger ends at seq 1 but its head anchored in {tmp_path}/secure/ledger-anchor.json is seq 2 "
    ) and problem.endswith("in 00000002-ret-2.jsonl): entry 2 was removed")
    assert cli.main(["validate", output, "--run", run_id, "--keystore", keystore]) == cli.EXIT_INVALID
    assert "FAILED ledger.*: ledger_chain_intact" in capsys.readouterr().out


# dateutil reads "7903ad" as a year AD and "7449" as a UTC offset of 74 hours: GX could not store these runs' results.
@pytest.mark.parametrize("run_id", ["20261207T185811Z-7903ad", "20261207T185811Z-7449", "20261207T185811Z-a4493c"])
def test_any_run_id_names_a_gx_run_whose_results_can_be_stored(run_id):
    run = gx_run(run_id)
    name, _ = run.to_tuple()
    assert name == run_id
