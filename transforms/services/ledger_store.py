"""The retention ledger on any Beam filesystem: OUT/ledger/<seq:08d>-<run_id>.jsonl, one immutable file per run, and
its head anchored beside the key store.

Object stores cannot append, so each retention run publishes its entries as one new file, atomically and once.
The ledger has a single writer at a time: retention runs hold a lock on the ledger folder (storage.locked), which
serialises processes on one machine. On an object store there is no lock, so run one retention writer per output
root there; two writers at once would both start a file at the same seq, and verify reports the second one.

A hash chain cannot show that its newest entries were cut off, so the head (seq, hash and file of the newest entry)
is also kept in ``ledger-anchor.json`` beside the key store, which production keeps apart from OUTPUT: whoever can
delete from OUTPUT cannot also roll the anchor back. The anchor maps each output root's absolute URI to its head, so
one key store serves several roots. A run publishes its ledger file first and moves the anchor after; a run stopped
in between leaves the ledger one file ahead of its anchor, which verifies, and the next run moves the anchor on.
Before a root's first file the anchor records the empty chain, so even that file has an anchor to be ahead of.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from transforms.logic.ledger import (
    EMPTY,
    FILE_NAME,
    Entry,
    Head,
    LedgerError,
    chain,
    check_head,
    head,
    to_lines,
    verify,
)
from transforms.services import layout, storage

ANCHOR_NAME = "ledger-anchor.json"


def anchor_uri(keystore: str) -> str:
    """Where the ledger heads of every output root using the key store at ``keystore`` are anchored: beside it."""
    keystore = storage.absolute(keystore)
    if storage.is_local(keystore):
        return os.path.join(os.path.dirname(keystore), ANCHOR_NAME)
    return f"{keystore.rsplit('/', 1)[0]}/{ANCHOR_NAME}"


def anchor_key(output: str) -> str:
    """An output root's key in the anchor: its absolute path or URI (a trailing slash names the same root)."""
    found = storage.absolute(output)
    return found if storage.is_local(found) else found.rstrip("/")


def read_ledger(output: str) -> list[tuple[str, bytes]]:
    """Every ledger file under an output root as (file name, content), sorted by name; empty when there is none."""
    pattern = storage.join(layout.ledger_folder(output), "*.jsonl")
    files = []
    for path in (m.path for m in FileSystems.match([pattern])[0].metadata_list):
        with FileSystems.open(path) as handle:
            files.append((path.rsplit("/", 1)[-1], handle.read()))
    return sorted(files)


def _read_anchor(anchor: str) -> dict:
    """The anchor's mapping of output roots to heads; empty when there is no anchor file yet."""
    if not FileSystems.exists(anchor):
        return {}
    with FileSystems.open(anchor) as handle:
        data = handle.read()
    try:
        found = json.loads(data)
    except ValueError as exc:
        raise LedgerError(f"the ledger anchor {anchor} is not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise LedgerError(f"the ledger anchor {anchor} is not a mapping of output roots to heads")
    return found


def anchored_head(output: str, keystore: str) -> Head | None:
    """The head anchored for an output root beside the key store; None when none is. Raises LedgerError for an
    anchor that cannot be read."""
    anchor, key = anchor_uri(keystore), anchor_key(output)
    record = _read_anchor(anchor).get(key)
    if record is None:
        return None
    try:
        return Head.from_record(record)
    except ValueError as exc:
        raise LedgerError(f"the ledger anchor {anchor} holds a malformed head for {key}: {exc}") from None


class LedgerCheck(NamedTuple):
    """An output root's ledger as read, the head anchored for it, where the anchor is, and every problem found."""

    files: list[tuple[str, bytes]]
    anchored: Head | None
    anchor: str
    problems: list[str]


def check_ledger(output: str, keystore: str) -> LedgerCheck:
    """Verify an output root's ledger, chain and head, against the anchor beside the key store at ``keystore``."""
    anchor = anchor_uri(keystore)
    files = read_ledger(output)
    try:
        anchored = anchored_head(output, keystore)
    except LedgerError as err:
        return LedgerCheck(files, None, anchor, [*verify(files), str(err)])
    return LedgerCheck(files, anchored, anchor, [*verify(files), *check_head(files, anchored, anchor)])


def verify_ledger(output: str, keystore: str) -> list[str]:
    """The problems in an output root's ledger, checked against its head anchored beside the key store at
    ``keystore``; an empty list means it is intact."""
    return check_ledger(output, keystore).problems


def _move_anchor(output: str, anchor: str, new_head: Head) -> None:
    anchors = _read_anchor(anchor)
    anchors[anchor_key(output)] = {
        **dataclasses.asdict(new_head),
        "updated_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    storage.publish_bytes(json.dumps(anchors, indent=1, sort_keys=True).encode() + b"\n", anchor)
    if storage.is_local(anchor):
        # publish_bytes leaves the umask's mode; like the key store beside it, the anchor is for Veil's user only.
        os.chmod(anchor, 0o600)


def append_entries(output: str, run_id: str, entries: list[dict], keystore: str) -> list[Entry]:
    """Chain ``entries`` onto the ledger, publish them as this run's file, then anchor the new head beside the key
    store at ``keystore``; returns the entries as written.

    Raises LedgerError, writing nothing, when the existing ledger does not verify against its anchor: extending a
    tampered or cut-off chain would make the tampering look like history. Raises ValueError for a run_id unfit for a
    file name or an entry of another run. No file is written for an empty list, but an anchor a stopped run left
    behind the ledger is still moved to its head.
    """
    if "/" in run_id or not FILE_NAME.fullmatch(f"{0:08d}-{run_id}.jsonl"):
        raise ValueError(f"run_id {run_id!r} cannot name a ledger file")
    if any(entry["run_id"] != run_id for entry in entries):
        raise ValueError(f"every entry of this file must have run_id {run_id!r}")
    anchor = anchor_uri(keystore)
    # Several output roots may share one key store, hence one anchor: its read-modify-write takes turns.
    with storage.locked(anchor):
        found = check_ledger(output, keystore)
        if found.problems:
            raise LedgerError(f"the ledger under {output} does not verify, not appending: {'; '.join(found.problems)}")
        last = head(found.files) or EMPTY
        chained = chain(entries, last.hash, last.seq + 1)
        if chained:
            if found.anchored is None:
                # The root's first file: anchor the empty chain before it, so a run stopped before anchoring the new
                # head leaves a ledger ahead of its anchor, which verifies, not one with none, which does not.
                _move_anchor(output, anchor, EMPTY)
            name = f"{chained[0].seq:08d}-{run_id}.jsonl"
            storage.publish_bytes(to_lines(chained), storage.join(layout.ledger_folder(output), name))
            last = Head(chained[-1].seq, chained[-1].hash, name)
        if last not in (found.anchored, EMPTY):
            _move_anchor(output, anchor, last)
    return chained
