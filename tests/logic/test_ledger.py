"""The ledger's entries: lines round-trip, the hash chain and its anchored head are checked, accounts only as tokens."""

import datetime as dt

import pytest

from tests.fakes import DONE, SECRET, given
from transforms.logic.ledger import (
    EMPTY,
    GENESIS,
    Head,
    LedgerError,
    canonical,
    chain,
    check_head,
    from_lines,
    subject_token,
    to_lines,
)


def _three() -> tuple[list[tuple[str, bytes]], list]:
    entries = chain([given("r1", n) for n in range(3)], GENESIS, 1)
    return [("00000001-r1.jsonl", to_lines(entries))], entries


@pytest.mark.parametrize(
    "anchored_seq, removed",
    [(0, None), (2, None), (3, None), (4, "entry 4 was removed"), (5, "entries 4..5 were removed")],
)
def test_a_ledger_holding_its_anchored_head_passes_and_one_ending_before_it_names_the_seqs_removed(
    anchored_seq, removed
):
    files, entries = _three()
    hashes = {entry.seq: entry.hash for entry in entries}
    lost = "f" * 64
    anchored = Head(anchored_seq, hashes.get(anchored_seq, lost), "00000001-r1.jsonl") if anchored_seq else EMPTY
    assert check_head(files, anchored, "A") == (
        []
        if removed is None
        else [
            f"the ledger ends at seq 3 but its head anchored in A is seq {anchored_seq} (hash {lost}, in "
            f"00000001-r1.jsonl): {removed}"
        ]
    )


def test_with_no_head_anchored_only_an_empty_ledger_passes():
    files, _ = _three()
    assert check_head([], None, "A") == []
    (problem,) = check_head(files, None, "A")
    assert problem.startswith("no head of this ledger is anchored in A, so entries cut off its end would go unnoticed")


def test_lines_round_trip_with_utc_times():
    local = dt.timezone(dt.timedelta(hours=8))
    entries = chain(
        [
            {
                **given("r1", 0),
                "done_at": DONE.astimezone(local),
                "due_at": None,
                "event_id": None,
                "subject_token": None,
            },
            given("r1", 1),
        ],
        GENESIS,
        1,
    )
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
