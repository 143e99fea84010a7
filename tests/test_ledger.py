"""The retention ledger: a chain over several files verifies, and every kind of tampering is found where it is."""
import datetime as dt
import json

import pytest

from transforms.ledger_store import append_entries, ledger_folder, read_ledger, verify_ledger
from transforms.logic.ledger import (
    GENESIS,
    LedgerError,
    canonical,
    chain,
    from_lines,
    subject_token,
    to_lines,
    verify,
)

SECRET = b"s" * 32
DONE = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
RUNS = {"r1": 3, "r2": 2, "r3": 3}
"""Entries per run: files 00000001-r1, 00000004-r2 and 00000006-r3."""


def given(run_id: str, n: int) -> dict:
    return {"run_id": run_id, "action": "delete_file", "artifact_id": f"{run_id}-artifact-{n}",
            "artifact_kind": "restricted_copy", "rule": "account_cancellation", "event_id": f"evt-{run_id}",
            "subject_token": subject_token(f"acct-{n}", SECRET), "due_at": DONE + dt.timedelta(days=20),
            "done_at": DONE + dt.timedelta(minutes=n), "detail": f"deleted copy {n}"}


@pytest.fixture
def out(tmp_path):
    for run_id, count in RUNS.items():
        append_entries(str(tmp_path), run_id, [given(run_id, n) for n in range(count)])
    return tmp_path


def folder(out):
    return out / "ledger"


def lines(out, name: str) -> list[bytes]:
    return (folder(out) / name).read_bytes().splitlines(keepends=True)


def rewrite(out, name: str, new_lines: list[bytes]) -> None:
    (folder(out) / name).write_bytes(b"".join(new_lines))


def problems_at(out) -> set[str]:
    """Where the problems are, as file:line."""
    return {":".join(problem.split(":")[:2]) for problem in verify_ledger(str(out))}


def test_a_chain_across_three_files_verifies(out):
    files = read_ledger(str(out))
    assert [name for name, _ in files] == ["00000001-r1.jsonl", "00000004-r2.jsonl", "00000006-r3.jsonl"]
    entries = [e for name, data in files for e in from_lines(data, name)]
    assert [e.seq for e in entries] == list(range(1, 9))
    assert entries[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:]))
    assert verify_ledger(str(out)) == []
    assert ledger_folder(str(out)) == str(folder(out))


@pytest.mark.parametrize("field, value", [("done_at", "2026-12-02T03:00:00Z"), ("detail", "nothing happened"),
                                          ("artifact_id", "another-artifact")])
def test_an_edited_field_is_found_at_its_line(out, field, value):
    name = "00000004-r2.jsonl"
    record = json.loads(lines(out, name)[0])
    assert record[field] != value
    record[field] = value
    rewrite(out, name, [json.dumps(record).encode() + b"\n", *lines(out, name)[1:]])
    assert verify_ledger(str(out)) == [f"{name}:1: the hash does not match the entry (edited)"]


def test_a_removed_middle_entry_is_found(out):
    rewrite(out, "00000001-r1.jsonl", [line for i, line in enumerate(lines(out, "00000001-r1.jsonl")) if i != 1])
    problems = verify_ledger(str(out))
    assert problems_at(out) == {"00000001-r1.jsonl:2"}
    assert any("prev_hash does not match 00000001-r1.jsonl:1" in p for p in problems)
    assert any("seq 3, expected 2" in p for p in problems)


def test_a_removed_file_is_found(out):
    (folder(out) / "00000004-r2.jsonl").unlink()
    assert problems_at(out) == {"00000006-r3.jsonl:1"}
    assert any("seq 6, expected 4" in p for p in verify_ledger(str(out)))


def test_two_swapped_entries_are_found(out):
    first, second, third = lines(out, "00000006-r3.jsonl")
    rewrite(out, "00000006-r3.jsonl", [second, first, third])
    assert problems_at(out) == {"00000006-r3.jsonl:1", "00000006-r3.jsonl:2", "00000006-r3.jsonl:3"}


def test_an_inserted_entry_with_its_own_hash_recomputed_breaks_the_next_link(out):
    name = "00000001-r1.jsonl"
    original = lines(out, name)
    before = from_lines(original[1], name)[0]
    forged = chain([given("r1", 99)], prev_hash=before.hash, first_seq=before.seq + 1)
    rewrite(out, name, [*original[:2], to_lines(forged), original[2]])
    problems = verify_ledger(str(out))
    # The forged line itself is consistent; the entry after it no longer links.
    assert problems_at(out) == {f"{name}:4"}
    assert any(f"prev_hash does not match {name}:3" in p for p in problems)


def test_a_truncated_last_line_is_found(out):
    name = "00000006-r3.jsonl"
    (folder(out) / name).write_bytes((folder(out) / name).read_bytes()[:-10])
    assert verify_ledger(str(out)) == [f"{name}:3: no newline at the end: the file is truncated"]


@pytest.mark.parametrize("old, new, message", [
    ("00000004-r2.jsonl", "00000005-r2.jsonl", "00000005-r2.jsonl:1: the file name says seq 5, its first entry has 4"),
    ("00000004-r2.jsonl", "00000004-r9.jsonl", "00000004-r9.jsonl:1: run_id 'r2' differs from the file name's 'r9'"),
    ("00000004-r2.jsonl", "r2.jsonl", "r2.jsonl:1: name is not <seq:08d>-<run_id>.jsonl"),
])
def test_a_renamed_file_is_found(out, old, new, message):
    (folder(out) / old).rename(folder(out) / new)
    assert message in verify_ledger(str(out))


def test_an_empty_file_is_found(out):
    (folder(out) / "00000009-r4.jsonl").write_bytes(b"")
    assert verify_ledger(str(out)) == ["00000009-r4.jsonl:1: the file holds no entries"]


def test_two_writers_at_once_are_found(out):
    files = read_ledger(str(out))
    last = from_lines(files[-1][1], files[-1][0])[-1]
    rival = chain([given("r4", 0)], last.hash, last.seq + 1)
    mine = chain([given("r5", 0)], last.hash, last.seq + 1)
    problems = verify([*files, ("00000009-r4.jsonl", to_lines(rival)), ("00000009-r5.jsonl", to_lines(mine))])
    assert "00000009-r5.jsonl:1: seq 9 already starts 00000009-r4.jsonl (two runs wrote the ledger at once)" in problems


def test_appending_refuses_a_tampered_ledger_and_writes_nothing(out):
    name = "00000004-r2.jsonl"
    rewrite(out, name, [lines(out, name)[0].replace(b"deleted copy", b"kept copy"), lines(out, name)[1]])
    before = sorted(p.name for p in folder(out).iterdir())
    with pytest.raises(LedgerError, match=f"{name}:1: the hash does not match"):
        append_entries(str(out), "r4", [given("r4", 0)])
    assert sorted(p.name for p in folder(out).iterdir()) == before


def test_appending_nothing_writes_no_file_and_the_next_run_continues_the_chain(out):
    assert append_entries(str(out), "r4", []) == []
    written = append_entries(str(out), "r5", [given("r5", 0)])
    assert [e.seq for e in written] == [9]
    assert sorted(p.name for p in folder(out).iterdir())[-1] == "00000009-r5.jsonl"
    assert verify_ledger(str(out)) == []


def test_appending_refuses_entries_of_another_run(tmp_path):
    with pytest.raises(ValueError, match="run_id 'r1'"):
        append_entries(str(tmp_path), "r1", [given("r2", 0)])
    with pytest.raises(ValueError, match="cannot name a ledger file"):
        append_entries(str(tmp_path), "a/b", [given("a/b", 0)])


def test_lines_round_trip_with_utc_times():
    local = dt.timezone(dt.timedelta(hours=8))
    entries = chain([{**given("r1", 0), "done_at": DONE.astimezone(local), "due_at": None, "event_id": None,
                      "subject_token": None}, given("r1", 1)], GENESIS, 1)
    data = to_lines(entries)
    assert from_lines(data, "f.jsonl") == entries
    assert b'"done_at":"2026-12-01T03:00:00Z"' in canonical(entries[0])
    assert data.count(b"\n") == 2


def test_a_malformed_line_names_file_and_line():
    data = to_lines(chain([given("r1", 0)], GENESIS, 1))
    with pytest.raises(LedgerError, match="^f.jsonl:2: not JSON"):
        from_lines(data + b"{broken\n", "f.jsonl")
    with pytest.raises(LedgerError, match="^f.jsonl:1: seq is not an integer"):
        from_lines(data.replace(b'"seq":1', b'"seq":"1"'), "f.jsonl")


def test_chain_refuses_naive_times_and_raw_account_ids():
    with pytest.raises(ValueError, match="timezone-aware"):
        chain([{**given("r1", 0), "done_at": dt.datetime(2026, 12, 1)}], GENESIS, 1)
    with pytest.raises(ValueError, match="no account ids"):
        chain([{**given("r1", 0), "subject_token": "acct-42"}], GENESIS, 1)


def test_the_subject_token_is_stable_keyed_and_hides_the_account_id():
    account = "13800138000"
    token = subject_token(account, SECRET)
    assert token == subject_token(account, SECRET)
    assert token != subject_token(account, b"t" * 32)
    assert token != subject_token("13800138001", SECRET)
    assert token.startswith("acct-tok-") and account not in token
    with pytest.raises(ValueError, match="at least 16 bytes"):
        subject_token(account, b"short")
