"""Retention end to end (Articles 15, 17; deletion within 15 working days of an account's cancellation).

A pristine output root is made once (the sample archive plus a file Veil refuses, anonymized and
validated with the sample registries, given as paths relative to the folder); each test restores it in place.
"""

import datetime as dt
import json
import os
import shutil

import pytest

from pipelines import cli, retention, stream, work_folders
from schemas import tables
from schemas.codes import AccountEvent, ArtifactKind, LedgerAction
from transforms.logic.identity import parse_time
from transforms.logic.ledger import EMPTY, Head, from_lines
from transforms.retention import step_name
from transforms.services import layout, ledger_store, retention_runs
from transforms.services.keystore import open_keystore
from transforms.services.ledger_store import read_ledger
from transforms.services.table_files import read_table, write_table

pytestmark = pytest.mark.slow  # every test reads an anonymized, validated output root and runs retention

ACCOUNT, SESSION, CONSENT = "acct-0042", "s-1001", "c-0042"
CANCELLED_AT = "2026-09-28T02:00:00Z"
"""Monday 28 September 2026, 10:00 in Beijing, just before the National Day holiday (1-7 October)."""
DEADLINE = dt.datetime(2026, 10, 23, 15, 59, 59, 999999, tzinfo=dt.UTC)
"""By hand from the official 2026 notice: working days after the 28th are Sep 29, 30 (2), Oct 8, 9 (4), the
make-up Saturday Oct 10 (5), Oct 12-16 (10), Oct 19-23 (15); due by the end of Friday 23 October, Beijing time."""
COMPANY_2026 = {
    "2026": {
        "holidays": [f"2026-10-0{d}" for d in range(1, 10)],
        "workdays": [],
        "source": "company",
        "provisional": False,
    }
}
"""A company calendar for 2026 with 1-9 October off and no make-up days: after Mon 28 Sep the working days are
Sep 29, 30 (2), Oct 12-16 (7), 19-23 (12), 26, 27, 28 (15)."""
COMPANY_DEADLINE = dt.datetime(2026, 10, 28, 15, 59, 59, 999999, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pristine(sample_archive, tmp_path_factory, registry_args):
    """The site folder, and a saved copy of it to restore in place: the catalog's paths are absolute, so a copy
    elsewhere would still name (and retention would delete) the original's files."""
    base = tmp_path_factory.mktemp("retention")
    site = base / "site"
    inputs = site / "in"
    shutil.copytree(sample_archive["dir"], inputs)
    (inputs / "notes.txt").write_text("not footage: refused, kept a short while, then purged")
    args = [
        a
        if not a.startswith(sample_archive["dir"])
        else os.path.relpath(a.replace(sample_archive["dir"], str(inputs)), site)
        for a in registry_args(sample_archive)
    ]
    cwd = os.getcwd()
    os.chdir(site)
    try:
        status = cli.main(["anonymize", "in", "out", *args])
    finally:
        os.chdir(cwd)
    assert status == cli.EXIT_QUARANTINED, "notes.txt is refused, everything else anonymized and validated"
    shutil.copytree(site, base / "saved")
    return site


def restore(pristine, monkeypatch):
    """The site folder as the anonymize run left it, as the current directory, with an account's cancellation."""
    shutil.rmtree(pristine)
    shutil.copytree(pristine.parent / "saved", pristine)
    monkeypatch.chdir(pristine)
    (pristine / "events.csv").write_text(
        f"event_id,account_id,event,time\nev-1,{ACCOUNT},{AccountEvent.CANCELLED.value},{CANCELLED_AT}\n"
    )
    return pristine


@pytest.fixture()
def root(pristine, monkeypatch):
    return restore(pristine, monkeypatch)


def _catalog(kind):
    return [r for r in read_table("out", "catalog").to_pylist() if r["kind"] == kind.value]


def _retention(*args, fault=retention.no_fault):
    return retention.run(["out", *args], fault).rows


class InjectedCrash(RuntimeError):
    """The failure a run is made to stop with."""


class CrashAt:
    """A retention run's fault hook that stops the run once ``step`` is done, before it is recorded."""

    def __init__(self, step: str):
        self.step = step

    def __call__(self, step: str) -> None:
        if step == self.step:
            raise InjectedCrash(f"crash injected at step {step}")


def test_cancellation_removes_every_trace_of_the_account_and_the_ledger_proves_it(root):
    (copy,) = _catalog(ArtifactKind.RESTRICTED_COPY)
    sealed_before = root / "sealed-before"
    shutil.copy(copy["uri"], sealed_before)
    rows = _retention("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z")

    assert not os.path.exists(copy["uri"])
    assert ACCOUNT not in open_keystore("out/keys/keystore.json").accounts()
    assert (
        cli.main(["decrypt", str(sealed_before), str(root / "opened.mp4"), "--keystore", "out/keys/keystore.json"]) == 2
    ), "a copy of the sealed file kept elsewhere is unreadable"
    for table in (t for t in tables.VALIDATED if t != "stream_windows"):
        found = read_table("out", table)
        values = {v for row in (found.to_pylist() if found is not None else []) for v in row.values()}
        assert not values & {ACCOUNT, SESSION, CONSENT}, f"{table} still names the account"
    (kept,) = [t for t in read_table("out", "face_tracks").to_pylist() if t["action"] == "keep"]
    assert kept["account_id"].startswith("acct-tok-") and kept["session_id"].startswith("acct-tok-")

    entries = [e for name, data in read_ledger("out") for e in from_lines(data, name)]
    assert sorted(e.action for e in entries) == sorted(
        [LedgerAction.DELETE_FILE.value, LedgerAction.DESTROY_KEY.value] + [LedgerAction.ANONYMIZE_ROWS.value] * 3
    )
    assert {e.event_id for e in entries} == {"ev-1"} and len({e.subject_token for e in entries}) == 1
    ledger_text = b"".join(data for _, data in read_ledger("out")).decode()
    assert ACCOUNT not in ledger_text and SESSION not in ledger_text
    assert {r["due_at"] for r in rows if r["rule"] == "account_cancellation"} == {DEADLINE}
    assert not any(r["overdue"] for r in rows)

    assert cli.main(["ledger", "verify", "out"]) == 0
    name = sorted(os.listdir("out/ledger"))[0]
    lines = (root / "out" / "ledger" / name).read_text().splitlines()
    record = json.loads(lines[0])
    record["detail"] = "nothing happened here"
    (root / "out" / "ledger" / name).write_text("\n".join([json.dumps(record)] + lines[1:]) + "\n")
    assert cli.main(["ledger", "verify", "out"]) == cli.EXIT_INVALID


def test_what_falls_due_within_seven_working_days_is_reported(root):
    created = min(r["created_at"] for r in _catalog(ArtifactKind.RAW_INPUT))
    rows = _retention("--plan", "--as-of", (created + dt.timedelta(days=1)).isoformat())
    assert not os.path.exists("out/ledger"), "--plan changes nothing"
    _retention("--as-of", (created + dt.timedelta(days=1)).isoformat())
    (run_id,) = {r["run_id"] for r in read_table("out", "retention_plan").to_pylist()}
    report = json.loads((root / "out" / "reports" / run_id / "report.json").read_text())
    soon = {r["artifact_id"] for r in report["due_soon"]}
    quarantined = {r["artifact_id"] for r in rows if r["rule"] == "quarantine_window"}
    assert quarantined and quarantined <= soon, "the 7-day quarantine window ends within 7 working days"
    assert not soon & {r["artifact_id"] for r in rows if r["kind"] == "run_report"}


def test_a_second_run_after_a_cancellation_does_nothing_twice(root):
    _retention("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z")
    before = read_ledger("out")
    rows = _retention("--events", "events.csv", "--as-of", "2026-09-30T00:00:00Z")
    assert read_ledger("out") == before
    assert not [r for r in rows if r["status"] == "done"]


def test_raw_footage_goes_once_its_output_is_validated_and_every_camera_window_has_passed(root):
    (raw,) = {r["uri"] for r in _catalog(ArtifactKind.RAW_INPUT) if r["uri"].endswith("archive.tar.gz")}
    created = min(r["created_at"] for r in _catalog(ArtifactKind.RAW_INPUT))
    soon = created + dt.timedelta(days=1)
    rows = _retention("--as-of", soon.isoformat())
    assert os.path.exists(raw), "the lobby (public safety) and corridor cameras keep raw footage 30 days"
    assert os.path.exists("in/notes.txt"), "a refused input is kept for the operator for the quarantine window"
    assert any(r["kind"] == "raw_input" and r["status"] == "scheduled" for r in rows)

    later = created + dt.timedelta(days=31)
    _retention("--as-of", later.isoformat())
    assert not os.path.exists(raw) and not os.path.exists("in/notes.txt")
    assert [f for _, _, fs in os.walk("out/quarantine") for f in fs] == [], "quarantine copies purged"
    publics = {r["camera_id"]: r["uri"] for r in _catalog(ArtifactKind.PUBLIC_COPY)}
    assert not os.path.exists(publics["corridor-02"]), "internal management: 30 days"
    assert os.path.exists(publics["lobby-01"]), "public safety: 90 days"


def test_raw_footage_of_a_run_that_failed_validation_is_never_purged_and_the_delay_fails_the_run(root, capsys):
    (report,) = [f for f in os.listdir("out/reports")]
    verdict_path = root / "out" / "reports" / report / "validation.json"
    verdict = json.loads(verdict_path.read_text())
    verdict_path.write_text(json.dumps({**verdict, "passed": False}))
    created = min(r["created_at"] for r in _catalog(ArtifactKind.RAW_INPUT))
    as_of = (created + dt.timedelta(days=40)).isoformat()
    assert cli.main(["retention", "out", "--as-of", as_of]) == cli.EXIT_INVALID
    shown = capsys.readouterr().out
    assert "OVERDUE delete_file raw_input" in shown and "FAILED retention_plan.overdue" in shown
    assert os.path.exists("in/archive.tar.gz")
    rows = read_table("out", "retention_plan").to_pylist()
    (raw,) = [r for r in rows if r["kind"] == "raw_input" and r["status"] == "awaiting_approval"]
    assert raw["overdue"], "an unapproved raw input past its window is reported overdue"
    report = json.loads((root / "out" / "reports" / raw["run_id"] / "report.json").read_text())
    assert [(r["artifact_id"], r["status"]) for r in report["overdue"]] == [(raw["artifact_id"], "awaiting_approval")]
    assert "1 overdue" in (root / "out" / "reports" / raw["run_id"] / "report.html").read_text()


def test_a_legal_hold_blocks_deletion_and_is_reported(root):
    (root / "holds.csv").write_text("hold_id,scope,target,reason\nh-1,camera,lobby-01,court order 2026-118\n")
    created = min(r["created_at"] for r in _catalog(ArtifactKind.RAW_INPUT))
    rows = _retention("--holds", "holds.csv", "--as-of", (created + dt.timedelta(days=100)).isoformat())
    publics = {r["camera_id"]: r["uri"] for r in _catalog(ArtifactKind.PUBLIC_COPY)}
    assert os.path.exists(publics["lobby-01"]) and os.path.exists("in/archive.tar.gz"), "the archive holds lobby too"
    assert not os.path.exists(publics["corridor-02"])
    held = [r for r in rows if r["status"] == "held"]
    assert held and all("court order 2026-118" in r["note"] for r in held)
    (plan,) = read_table("out", "retention_plan").to_pylist()[:1]
    report = json.loads((root / "out" / "reports" / plan["run_id"] / "report.json").read_text())
    assert {r["artifact_id"] for r in report["held"]} == {r["artifact_id"] for r in held}


def _state(root) -> dict:
    """Everything a retention run can change, less what differs between runs (run ids, times)."""
    retention_runs = {r["run_id"] for r in read_table("out", "retention_plan").to_pylist()}
    own = [
        "/ledger/",
        "/retention_plan/",
        *(f"/reports/{run}/" for run in retention_runs),
        *(f"/validation_failures/{run}.parquet" for run in retention_runs),
    ]
    files = sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, fs in os.walk(root)
        for f in fs
        if not any(part in os.path.join(d, f) for part in own)
    )
    tables = {t: sorted(map(repr, read_table("out", t).to_pylist())) for t in ("face_tracks", "restricted", "catalog")}
    ledger = sorted(
        (e.artifact_id, e.action, e.event_id, e.subject_token)
        for name, data in read_ledger("out")
        for e in from_lines(data, name)
    )
    return {
        "files": files,
        "tables": tables,
        "ledger": ledger,
        "accounts": sorted(open_keystore("out/keys/keystore.json").accounts()),
    }


def test_a_run_killed_at_any_step_is_completed_by_the_next_one(pristine, monkeypatch):
    args = ("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z")
    reference = restore(pristine, monkeypatch)
    due = retention_runs.current_plan(*_plan_inputs(args))[0].due
    _retention(*args)
    expected = _state(reference)
    steps = [step_name(a) for a in due if a.action is not LedgerAction.DESTROY_KEY] + ["keys", "ledger"]
    assert len(steps) == 6
    for step in steps:
        crashed = restore(pristine, monkeypatch)
        with pytest.raises(Exception, match="crash injected") as failure:
            _retention(*args, fault=CrashAt(step))
        assert isinstance(failure.value, InjectedCrash) or "InjectedCrash" in repr(failure.value)
        _retention(*args)
        state = _state(crashed)
        for part, value in expected.items():
            assert state[part] == value, (f"killed at {step}", part, set(map(str, state[part])) ^ set(map(str, value)))
        assert cli.main(["ledger", "verify", "out"]) == 0


def test_a_run_stopped_between_its_ledger_file_and_its_anchor_is_completed_by_the_next(root, monkeypatch):
    args = ("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z")
    move = ledger_store._move_anchor

    def stop_before_the_new_head(output, anchor, head):
        if head != EMPTY:
            raise InjectedCrash("crash injected before the anchor moved")
        move(output, anchor, head)

    monkeypatch.setattr(ledger_store, "_move_anchor", stop_before_the_new_head)
    with pytest.raises(Exception, match="crash injected"):
        _retention(*args)
    monkeypatch.setattr(ledger_store, "_move_anchor", move)
    written = read_ledger("out")
    assert len(written) == 1 and ledger_store.anchored_head("out", "out/keys/keystore.json") == EMPTY
    assert cli.main(["ledger", "verify", "out"]) == 0, "a ledger ahead of its anchor verifies"
    _retention(*args)
    assert read_ledger("out") == written, "nothing was due again, nothing recorded twice"
    name, data = written[0]
    newest = from_lines(data, name)[-1]
    assert ledger_store.anchored_head("out", "out/keys/keystore.json") == Head(newest.seq, newest.hash, name)


def test_a_ledger_cut_off_at_its_end_stops_retention_until_the_operator_looks(root, capsys):
    _retention("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z")
    ((name, data),) = read_ledger("out")
    count = len(from_lines(data, name))
    (root / "out" / "ledger" / name).write_bytes(b"".join(data.splitlines(keepends=True)[:-1]))
    assert cli.main(["ledger", "verify", "out"]) == cli.EXIT_INVALID
    capsys.readouterr()
    assert cli.main(["retention", "out", "--events", "events.csv"]) == cli.EXIT_USAGE
    assert (
        f"the ledger ends at seq {count - 1} but its head anchored in {root}/out/keys/ledger-anchor.json is "
        f"seq {count} " in capsys.readouterr().err
    )


def _plan_inputs(args):
    opts, shared, _, _ = retention.parse(["out", *args])
    return (
        shared.output,
        layout.keystore_of(shared.output, shared.keystore),
        retention_runs.rows_of("events", opts.events),
        retention_runs.rows_of("holds", opts.holds),
        parse_time(opts.as_of),
        opts.calendar,
    )


def test_dry_run_prints_the_plan_and_changes_nothing(root, capsys):
    (copy,) = _catalog(ArtifactKind.RESTRICTED_COPY)
    rows = _retention("--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z", "--dry-run")
    assert "due     delete_file    restricted_copy" in capsys.readouterr().out
    assert {r["status"] for r in rows if r["rule"] == "account_cancellation"} == {"due"}
    assert os.path.exists(copy["uri"]) and ACCOUNT in open_keystore("out/keys/keystore.json").accounts()
    assert not os.path.exists("out/ledger") and read_table("out", "retention_plan") is None


def test_a_user_calendar_replaces_a_year_and_moves_the_deadline(root):
    (root / "company.json").write_text(json.dumps(COMPANY_2026))
    rows = _retention(
        "--events", "events.csv", "--as-of", "2026-09-29T00:00:00Z", "--calendar", "company.json", "--plan"
    )
    assert {r["due_at"] for r in rows if r["rule"] == "account_cancellation"} == {COMPANY_DEADLINE}


def test_streamed_events_obey_the_holds_and_calendar_and_a_held_copy_keeps_its_key_until_the_hold_is_lifted(root):
    # What `veil anonymize --streaming --events E --holds H --calendar C` runs for each events file that lands.
    (copy,) = _catalog(ArtifactKind.RESTRICTED_COPY)
    (root / "holds.csv").write_text(f"hold_id,scope,target,reason\nh-2,camera,{copy['camera_id']},court order 7\n")
    (root / "company.json").write_text(json.dumps(COMPANY_2026))
    stream.enforce_events(
        "out",
        "s-events-1",
        retention_runs.rows_of("events", "events.csv"),
        "out/keys/keystore.json",
        "holds.csv",
        ("company.json",),
    )

    rows = read_table("out", "retention_plan").to_pylist()
    assert {r["due_at"] for r in rows if r["rule"] == "account_cancellation"} == {COMPANY_DEADLINE}
    held = {r["kind"]: r for r in rows if r["status"] == "held" and r["rule"] == "account_cancellation"}
    assert set(held) == {ArtifactKind.RESTRICTED_COPY.value, "data_key"}
    assert all("court order 7" in r["note"] for r in held.values())
    assert os.path.exists(copy["uri"]) and ACCOUNT in open_keystore("out/keys/keystore.json").accounts()

    _retention("--events", "events.csv")
    assert not os.path.exists(copy["uri"]) and ACCOUNT not in open_keystore("out/keys/keystore.json").accounts()


def test_a_retention_run_removes_the_staged_footage_a_killed_launcher_left_and_a_dry_run_does_not(
    root, killed_launcher_claim
):
    work = root / "out" / ".work" / "killed"
    (work / "staging").mkdir(parents=True)
    (work / "staging" / "clip.mp4").write_bytes(b"raw footage")
    (work / work_folders.LAUNCHER_FILE).write_text(json.dumps(killed_launcher_claim()))
    _retention("--dry-run")
    assert work.exists()
    _retention()
    assert not (root / "out" / ".work").exists()


def test_retention_run_from_another_folder_deletes_the_real_files_and_records_only_what_it_deleted(
    root, tmp_path, monkeypatch
):
    # The run that wrote the catalog was given relative paths ("in", "out"): it recorded them absolute.
    raws = {r["uri"] for r in _catalog(ArtifactKind.RAW_INPUT)}
    publics = {r["uri"] for r in _catalog(ArtifactKind.PUBLIC_COPY)}
    assert raws and publics and all(os.path.isabs(uri) for uri in raws | publics)
    os.remove(root / "in" / "notes.txt")  # gone before retention: the one file it may call already gone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    created = min(r["created_at"] for r in _catalog_at(root, ArtifactKind.RAW_INPUT))
    as_of = (created + dt.timedelta(days=400)).date().isoformat()
    assert cli.main(["retention", str(root / "out"), "--as-of", as_of]) == 0
    assert not any(os.path.exists(uri) for uri in raws | publics)
    entries = {
        e.artifact_id: e.detail
        for name, data in read_ledger(str(root / "out"))
        for e in from_lines(data, name)
        if e.action == LedgerAction.DELETE_FILE.value
    }
    by_uri = {r["uri"]: r["artifact_id"] for r in read_table(str(root / "out"), "catalog").to_pylist()}
    assert entries[by_uri[str(root / "in" / "notes.txt")]] == "already gone"
    assert {entries[by_uri[uri]] for uri in raws | publics if not uri.endswith("notes.txt")} == {"deleted"}
    assert os.listdir(elsewhere) == [], "nothing was looked for, or made, in the working folder"


def _catalog_at(root, kind):
    return [r for r in read_table(str(root / "out"), "catalog").to_pylist() if r["kind"] == kind.value]


def test_a_catalog_entry_with_a_relative_path_is_refused_not_guessed(root, capsys):
    catalog = read_table("out", "catalog").to_pylist()
    (raw,) = {r["artifact_id"]: r for r in catalog if r["uri"].endswith("archive.tar.gz")}.values()
    relative = os.path.relpath(raw["uri"])
    (partition,) = {r["run_id"] for r in catalog}
    write_table(
        [{**r, "uri": relative} if r["uri"] == raw["uri"] else r for r in catalog],
        tables.CATALOG,
        layout.table_uri("out", "catalog", partition),
    )
    created = min(r["created_at"] for r in catalog)
    assert cli.main(["retention", "out", "--as-of", (created + dt.timedelta(days=400)).isoformat()]) == cli.EXIT_INVALID
    assert f"the relative path {relative!r}" in capsys.readouterr().out
    assert os.path.exists(relative), "the file the relative path names from here was not deleted"
    (row,) = [r for r in read_table("out", "retention_plan").to_pylist() if r["artifact_id"] == raw["artifact_id"]]
    assert (row["status"], row["overdue"]) == ("refused", True)
    report = root / "out" / "reports" / row["run_id"]
    listed = json.loads((report / "report.json").read_text())["refused"]
    assert [r["artifact_id"] for r in listed] == [raw["artifact_id"]]
    assert "1 refused" in (report / "report.html").read_text()
    assert not any(
        e.artifact_id == raw["artifact_id"] for name, data in read_ledger("out") for e in from_lines(data, name)
    )
