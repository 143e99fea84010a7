"""The retention ledger on disk: a chain over several files verifies, and every kind of tampering is found where it is
(its lines, hashes and head checks: tests/logic/test_ledger.py)."""

import datetime as dt
import json
import os
import pathlib
import shutil

import pytest

from pipelines import cli
from tests.fakes import given
from transforms.logic.ledger import (
    EMPTY,
    GENESIS,
    Head,
    LedgerError,
    chain,
    from_lines,
    to_lines,
    verify,
)
from transforms.services import layout, ledger_store
from transforms.services.ledger_store import (
    anchor_uri,
    anchored_head,
    append_entries,
    read_ledger,
    verify_ledger,
)

RUNS = {"r1": 3, "r2": 2, "r3": 3}
"""Entries per run: files 00000001-r1, 00000004-r2 and 00000006-r3."""


def keys(out) -> str:
    """The output root's default key store, beside which its ledger's head is anchored."""
    return str(out / "keys" / "keystore.json")


@pytest.fixture
def out(tmp_path):
    for run_id, count in RUNS.items():
        append_entries(str(tmp_path), run_id, [given(run_id, n) for n in range(count)], keys(tmp_path))
    return tmp_path


def folder(out):
    return out / "ledger"


def anchor(out) -> str:
    return str(out / "keys" / "ledger-anchor.json")


def lines(out, name: str) -> list[bytes]:
    return (folder(out) / name).read_bytes().splitlines(keepends=True)


def rewrite(out, name: str, new_lines: list[bytes]) -> None:
    (folder(out) / name).write_bytes(b"".join(new_lines))


def problems_at(out) -> set[str]:
    """Where the problems are, as file:line."""
    return {":".join(problem.split(":")[:2]) for problem in verify_ledger(str(out), keys(out))}


def test_a_chain_across_three_files_verifies(out):
    files = read_ledger(str(out))
    assert [name for name, _ in files] == ["00000001-r1.jsonl", "00000004-r2.jsonl", "00000006-r3.jsonl"]
    entries = [e for name, data in files for e in from_lines(data, name)]
    assert [e.seq for e in entries] == list(range(1, 9))
    assert entries[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:]))
    assert verify_ledger(str(out), keys(out)) == []
    assert layout.ledger_folder(str(out)) == str(folder(out))


@pytest.mark.parametrize(
    "field, value",
    [("done_at", "2026-12-02T03:00:00Z"), ("detail", "nothing happened"), ("artifact_id", "another-artifact")],
)
def test_an_edited_field_is_found_at_its_line(out, field, value):
    name = "00000004-r2.jsonl"
    record = json.loads(lines(out, name)[0])
    assert record[field] != value
    record[field] = value
    rewrite(out, name, [json.dumps(record).encode() + b"\n", *lines(out, name)[1:]])
    assert verify_ledger(str(out), keys(out)) == [f"{name}:1: the hash does not match the entry (edited)"]


def test_a_removed_middle_entry_is_found(out):
    rewrite(out, "00000001-r1.jsonl", [line for i, line in enumerate(lines(out, "00000001-r1.jsonl")) if i != 1])
    problems = verify_ledger(str(out), keys(out))
    assert problems_at(out) == {"00000001-r1.jsonl:2"}
    assert any("prev_hash does not match 00000001-r1.jsonl:1" in p for p in problems)
    assert any("seq 3, expected 2" in p for p in problems)


def test_a_removed_file_is_found(out):
    (folder(out) / "00000004-r2.jsonl").unlink()
    assert problems_at(out) == {"00000006-r3.jsonl:1"}
    assert any("seq 6, expected 4" in p for p in verify_ledger(str(out), keys(out)))


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
    problems = verify_ledger(str(out), keys(out))
    # The forged line itself is consistent; the entry after it no longer links.
    assert problems_at(out) == {f"{name}:4"}
    assert any(f"prev_hash does not match {name}:3" in p for p in problems)


def test_a_truncated_last_line_is_found(out):
    name = "00000006-r3.jsonl"
    anchored = anchored_head(str(out), keys(out))
    (folder(out) / name).write_bytes((folder(out) / name).read_bytes()[:-10])
    assert verify_ledger(str(out), keys(out)) == [
        f"{name}:3: no newline at the end: the file is truncated",
        f"the ledger ends at seq 7 but its head anchored in {anchor(out)} is seq 8 (hash {anchored.hash}, in {name}): "
        "entry 8 was removed",
    ]


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "00000004-r2.jsonl",
            "00000005-r2.jsonl",
            "00000005-r2.jsonl:1: the file name says seq 5, its first entry has 4",
        ),
        (
            "00000004-r2.jsonl",
            "00000004-r9.jsonl",
            "00000004-r9.jsonl:1: run_id 'r2' differs from the file name's 'r9'",
        ),
        ("00000004-r2.jsonl", "r2.jsonl", "r2.jsonl:1: name is not <seq:08d>-<run_id>.jsonl"),
    ],
)
def test_a_renamed_file_is_found(out, old, new, message):
    (folder(out) / old).rename(folder(out) / new)
    assert message in verify_ledger(str(out), keys(out))


def test_an_empty_file_is_found(out):
    (folder(out) / "00000009-r4.jsonl").write_bytes(b"")
    assert verify_ledger(str(out), keys(out)) == ["00000009-r4.jsonl:1: the file holds no entries"]


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
        append_entries(str(out), "r4", [given("r4", 0)], keys(out))
    assert sorted(p.name for p in folder(out).iterdir()) == before


def test_appending_nothing_writes_no_file_and_the_next_run_continues_the_chain(out):
    assert append_entries(str(out), "r4", [], keys(out)) == []
    written = append_entries(str(out), "r5", [given("r5", 0)], keys(out))
    assert [e.seq for e in written] == [9]
    assert sorted(p.name for p in folder(out).iterdir())[-1] == "00000009-r5.jsonl"
    assert verify_ledger(str(out), keys(out)) == []


def test_appending_refuses_entries_of_another_run(tmp_path):
    with pytest.raises(ValueError, match="run_id 'r1'"):
        append_entries(str(tmp_path), "r1", [given("r2", 0)], keys(tmp_path))
    with pytest.raises(ValueError, match="cannot name a ledger file"):
        append_entries(str(tmp_path), "a/b", [given("a/b", 0)], keys(tmp_path))


def verify_command(out, capsys, *args: str) -> tuple[int, list[str], str]:
    """`veil ledger verify OUT ...` in-process: exit status, stderr lines and stdout."""
    status = cli.main(["ledger", "verify", str(out), *args])
    shown = capsys.readouterr()
    return status, shown.err.splitlines(), shown.out


def test_the_head_is_anchored_beside_the_key_store_for_veils_user_only(out):
    name, data = read_ledger(str(out))[-1]
    last = from_lines(data, name)[-1]
    with open(anchor(out)) as handle:
        anchors = json.load(handle)
    assert list(anchors) == [str(out)]
    assert {k: v for k, v in anchors[str(out)].items() if k != "updated_at"} == {
        "seq": 8,
        "hash": last.hash,
        "file": "00000006-r3.jsonl",
    }
    assert dt.datetime.fromisoformat(anchors[str(out)]["updated_at"]).tzinfo == dt.UTC
    assert os.stat(anchor(out)).st_mode & 0o777 == 0o600
    assert anchored_head(str(out), keys(out)) == Head(8, last.hash, "00000006-r3.jsonl")


def test_one_key_store_anchors_several_output_roots_apart(tmp_path):
    keystore = str(tmp_path / "secure" / "keystore.json")
    first, second = tmp_path / "site-a", tmp_path / "site-b"
    append_entries(str(first), "r1", [given("r1", n) for n in range(2)], keystore)
    append_entries(str(second), "r1", [given("r1", 0)], keystore)
    assert anchor_uri(keystore) == str(tmp_path / "secure" / "ledger-anchor.json")
    assert (anchored_head(str(first), keystore).seq, anchored_head(str(second), keystore).seq) == (2, 1)
    assert verify_ledger(str(first), keystore) == [] and verify_ledger(str(second), keystore) == []


@pytest.mark.parametrize(
    "keystore, expected",
    [
        ("gs://veil-keys/keystore.json", "gs://veil-keys/ledger-anchor.json"),
        ("s3://keys/veil/keystore.json", "s3://keys/veil/ledger-anchor.json"),
        ("/srv/keys/keystore.json", "/srv/keys/ledger-anchor.json"),
        ("file:///srv/keys/keystore.json", "/srv/keys/ledger-anchor.json"),
    ],
)
def test_the_anchor_lives_in_the_key_stores_folder(keystore, expected):
    assert anchor_uri(keystore) == expected


def test_the_anchor_of_a_relative_key_store_is_found_from_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert anchor_uri("keys/keystore.json") == str(tmp_path / "keys" / "ledger-anchor.json")


def test_deleting_the_newest_line_of_the_newest_file_is_found_with_the_seq_removed(out, capsys):
    name = "00000006-r3.jsonl"
    anchored = anchored_head(str(out), keys(out))
    rewrite(out, name, lines(out, name)[:-1])
    expected = (
        f"the ledger ends at seq 7 but its head anchored in {anchor(out)} is seq 8 (hash {anchored.hash}, "
        f"in {name}): entry 8 was removed"
    )
    assert verify_ledger(str(out), keys(out)) == [expected]
    assert verify_command(out, capsys) == (
        cli.EXIT_INVALID,
        [f"veil ledger: {expected}"],
        "ledger BROKEN: 1 problem(s)\n",
    )


def test_deleting_the_newest_file_is_found_with_the_seqs_removed(out, capsys):
    anchored = anchored_head(str(out), keys(out))
    (folder(out) / "00000006-r3.jsonl").unlink()
    expected = (
        f"the ledger ends at seq 5 but its head anchored in {anchor(out)} is seq 8 (hash {anchored.hash}, "
        "in 00000006-r3.jsonl): entries 6..8 were removed"
    )
    assert verify_ledger(str(out), keys(out)) == [expected]
    status, errors, _ = verify_command(out, capsys)
    assert (status, errors) == (cli.EXIT_INVALID, [f"veil ledger: {expected}"])


def test_deleting_the_whole_ledger_of_an_anchored_root_is_found(out, capsys):
    anchored = anchored_head(str(out), keys(out))
    shutil.rmtree(folder(out))
    expected = (
        f"the ledger holds no entries but its head anchored in {anchor(out)} is seq 8 (hash {anchored.hash}, "
        "in 00000006-r3.jsonl): entries 1..8 were removed"
    )
    assert verify_ledger(str(out), keys(out)) == [expected]
    assert verify_command(out, capsys)[0] == cli.EXIT_INVALID, "not 'no ledger': the anchor says there was one"


def test_a_tail_rewritten_with_recomputed_hashes_differs_from_the_anchored_head(out):
    name = "00000006-r3.jsonl"
    before = from_lines(lines(out, "00000004-r2.jsonl")[-1], "00000004-r2.jsonl")[0]
    forged = chain([{**given("r3", n), "detail": "kept"} for n in range(3)], before.hash, before.seq + 1)
    rewrite(out, name, [to_lines([entry]) for entry in forged])
    anchored = anchored_head(str(out), keys(out))
    assert verify_ledger(str(out), keys(out)) == [
        f"{name}:3: seq 8 has hash {forged[-1].hash}, but the head anchored in {anchor(out)} is seq 8 "
        f"(hash {anchored.hash}, in {name}): the ledger was rewritten up to its anchored head"
    ]


def test_appending_refuses_a_ledger_cut_off_before_its_anchored_head(out):
    name = "00000006-r3.jsonl"
    rewrite(out, name, lines(out, name)[:-1])
    before = sorted(p.name for p in folder(out).iterdir())
    with pytest.raises(LedgerError, match="entry 8 was removed"):
        append_entries(str(out), "r4", [given("r4", 0)], keys(out))
    assert sorted(p.name for p in folder(out).iterdir()) == before
    assert anchored_head(str(out), keys(out)).seq == 8


@pytest.mark.parametrize("count, head_seq", [(1, 10), (0, 9)])
def test_a_ledger_one_file_ahead_of_its_anchor_verifies_and_the_next_append_moves_the_anchor(
    out, capsys, count, head_seq
):
    # What a run stopped between publishing its ledger file and moving the anchor leaves.
    saved = pathlib.Path(anchor(out)).read_bytes()
    append_entries(str(out), "r4", [given("r4", 0)], keys(out))
    pathlib.Path(anchor(out)).write_bytes(saved)
    assert anchored_head(str(out), keys(out)).seq == 8
    assert verify_ledger(str(out), keys(out)) == []
    status, errors, shown = verify_command(out, capsys)
    assert (status, errors) == (0, [])
    assert shown == (
        f"ledger intact: 9 entries in 4 files, head seq 9 anchored in {anchor(out)} (the anchor still "
        "names seq 8: a run stopped before moving it; the next retention run does)\n"
    )
    append_entries(str(out), "r5", [given("r5", n) for n in range(count)], keys(out))
    newest = [e for name, data in read_ledger(str(out)) for e in from_lines(data, name)][-1]
    assert anchored_head(str(out), keys(out)) == Head(head_seq, newest.hash, read_ledger(str(out))[-1][0])


def test_a_roots_first_file_is_preceded_by_an_anchored_empty_chain_so_a_stop_before_its_head_verifies(
    tmp_path, monkeypatch, capsys
):
    moved = []
    move = ledger_store._move_anchor

    def stop_before_the_new_head(output, anchor, new_head):
        if moved:
            raise RuntimeError("stopped before the anchor moved")
        moved.append(new_head)
        move(output, anchor, new_head)

    monkeypatch.setattr(ledger_store, "_move_anchor", stop_before_the_new_head)
    with pytest.raises(RuntimeError, match="stopped"):
        append_entries(str(tmp_path), "r1", [given("r1", 0)], keys(tmp_path))
    monkeypatch.setattr(ledger_store, "_move_anchor", move)
    assert moved == [EMPTY]
    assert [name for name, _ in read_ledger(str(tmp_path))] == ["00000001-r1.jsonl"]
    assert verify_ledger(str(tmp_path), keys(tmp_path)) == []
    assert verify_command(tmp_path, capsys)[0] == 0
    append_entries(str(tmp_path), "r2", [], keys(tmp_path))
    assert anchored_head(str(tmp_path), keys(tmp_path)).seq == 1


def test_an_intact_ledger_is_reported_with_its_anchored_head(out, capsys):
    assert verify_command(out, capsys) == (
        0,
        [],
        f"ledger intact: 8 entries in 3 files, head seq 8 anchored in {anchor(out)}\n",
    )


def test_a_key_store_given_elsewhere_is_where_the_anchor_is_read(tmp_path, capsys):
    keystore = str(tmp_path / "secure" / "keystore.json")
    append_entries(str(tmp_path / "out"), "r1", [given("r1", 0)], keystore)
    status, _, shown = verify_command(tmp_path / "out", capsys, "--keystore", keystore)
    assert (status, shown) == (
        0,
        f"ledger intact: 1 entries in 1 files, head seq 1 anchored in {tmp_path / 'secure' / 'ledger-anchor.json'}\n",
    )
    status, errors, _ = verify_command(tmp_path / "out", capsys)
    assert status == cli.EXIT_INVALID and "no head of this ledger is anchored in" in errors[0], (
        "the default key store's folder anchors nothing for it"
    )


@pytest.mark.parametrize("lose_anchor", ["delete the anchor", "copy the output root"])
def test_a_ledger_without_an_anchored_head_fails(out, tmp_path_factory, capsys, lose_anchor):
    if lose_anchor == "delete the anchor":
        os.remove(anchor(out))
        root = out
    else:
        # The copy's key store (copied too) anchors the original's location, not the copy's.
        root = tmp_path_factory.mktemp("copied") / "out"
        shutil.copytree(out, root)
    expected = (
        f"no head of this ledger is anchored in {anchor(root)}, so entries cut off its end would go "
        "unnoticed: the ledger was written before Veil kept anchors, or OUTPUT was moved or copied since "
        "(the anchor is keyed by the output root's absolute location), or the key store given is not the "
        "one its retention runs use (--keystore)"
    )
    assert verify_ledger(str(root), keys(root)) == [expected]
    assert verify_command(root, capsys)[:2] == (cli.EXIT_INVALID, [f"veil ledger: {expected}"])
    with pytest.raises(LedgerError, match="no head of this ledger is anchored"):
        append_entries(str(root), "r4", [given("r4", 0)], keys(root))


def test_a_malformed_anchor_is_a_problem_not_a_crash(out):
    pathlib.Path(anchor(out)).write_text(json.dumps({str(out): {"seq": "8", "hash": "x", "file": "f"}}))
    assert verify_ledger(str(out), keys(out)) == [
        f"the ledger anchor {anchor(out)} holds a malformed head for {out}: seq '8' is not a positive integer"
    ]
    pathlib.Path(anchor(out)).write_text("{broken")
    (problem,) = verify_ledger(str(out), keys(out))
    assert problem.startswith(f"the ledger anchor {anchor(out)} is not JSON")


def test_verifying_an_output_root_that_does_not_exist_is_refused(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "output"
    assert verify_command(missing, capsys) == (cli.EXIT_USAGE, [f"veil ledger: OUTPUT {missing} does not exist"], "")
    assert not (tmp_path / "no").exists()


def test_verifying_an_output_root_without_a_ledger_is_refused_not_called_intact(tmp_path, capsys):
    assert verify_command(tmp_path, capsys) == (
        cli.EXIT_USAGE,
        [f"veil ledger: no ledger under OUTPUT {tmp_path}: no retention run has written one"],
        "",
    )
    assert os.listdir(tmp_path) == [], "nothing was written"


def test_ledger_verify_answers_help_and_refuses_unknown_options(tmp_path, capsys):
    assert cli.main(["ledger", "verify", "--help"]) == 0
    assert "usage: veil ledger verify [-h] [--keystore URI] OUTPUT" in capsys.readouterr().out
    assert cli.main(["ledger", "verify", str(tmp_path), "--keystroe", "k"]) == cli.EXIT_USAGE
    assert "unknown option --keystroe (did you mean --keystore?)" in capsys.readouterr().err
