"""The retention ledger on any Beam filesystem: OUT/ledger/<seq:08d>-<run_id>.jsonl, one immutable file per run.

Object stores cannot append, so each retention run publishes its entries as one new file, atomically and once.
The ledger has a single writer at a time: retention runs hold a lock on the ledger folder (storage.locked), which
serialises processes on one machine. On an object store there is no lock, so run one retention writer per output
root there; two writers at once would both start a file at the same seq, and verify reports the second one.
"""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from transforms import storage
from transforms.logic.ledger import FILE_NAME, GENESIS, Entry, LedgerError, chain, from_lines, to_lines, verify


def ledger_folder(output: str) -> str:
    return storage.join(output, "ledger")


def read_ledger(output: str) -> list[tuple[str, bytes]]:
    """Every ledger file under an output root as (file name, content), sorted by name; empty when there is none."""
    pattern = storage.join(ledger_folder(output), "*.jsonl")
    files = []
    for path in (m.path for m in FileSystems.match([pattern])[0].metadata_list):
        with FileSystems.open(path) as handle:
            files.append((path.rsplit("/", 1)[-1], handle.read()))
    return sorted(files)


def verify_ledger(output: str) -> list[str]:
    """The problems in an output root's ledger; an empty list means it is intact."""
    return verify(read_ledger(output))


def append_entries(output: str, run_id: str, entries: list[dict]) -> list[Entry]:
    """Chain ``entries`` onto the ledger and publish them as this run's file; returns them as written.

    Raises LedgerError, writing nothing, when the existing ledger does not verify: extending a tampered chain would
    make the tampering look like history. Raises ValueError for a run_id unfit for a file name or an entry of another
    run. No file is written for an empty list.
    """
    if "/" in run_id or not FILE_NAME.fullmatch(f"{0:08d}-{run_id}.jsonl"):
        raise ValueError(f"run_id {run_id!r} cannot name a ledger file")
    if any(entry["run_id"] != run_id for entry in entries):
        raise ValueError(f"every entry of this file must have run_id {run_id!r}")
    files = read_ledger(output)
    problems = verify(files)
    if problems:
        raise LedgerError(f"the ledger under {output} does not verify, not appending: {'; '.join(problems)}")
    if not entries:
        return []
    last = from_lines(files[-1][1], files[-1][0])[-1] if files else None
    chained = chain(entries, last.hash if last else GENESIS, last.seq + 1 if last else 1)
    name = f"{chained[0].seq:08d}-{run_id}.jsonl"
    storage.publish_bytes(to_lines(chained), storage.join(ledger_folder(output), name))
    return chained
