"""The retention ledger: a hash chain of every deletion, anonymization and key destruction, split into files.

Each entry's hash covers its content and the previous entry's hash, so editing, removing, reordering or inserting
an entry breaks the chain at that point. A chain alone cannot show that its newest entries were cut off, so its head
(the newest entry's seq and hash) is also kept apart from it, in an anchor (transforms/services/ledger_store.py keeps it
beside the key store): ``check_head`` compares a ledger with its anchored head. Entries hold no personal data: an
account appears only as ``subject_token``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Iterable

GENESIS = "0" * 64
TOKEN_PREFIX = "acct-tok-"
FILE_NAME = re.compile(r"(\d{8})-(.+)\.jsonl")
"""A ledger file's name: the seq of its first entry, then the run that wrote it."""
HASH = re.compile(r"[0-9a-f]{64}")
MIN_SECRET_BYTES = 16


class LedgerError(Exception):
    """The ledger cannot be read or extended: a file is malformed, or the chain does not verify."""


@dataclasses.dataclass(frozen=True)
class Head:
    """A ledger's newest entry as its anchor keeps it: seq and hash, and the file that holds it (for the reader).
    ``EMPTY`` (seq 0) anchors a root whose first file is about to be published."""

    seq: int
    hash: str
    file: str | None

    @classmethod
    def from_record(cls, record: object) -> Head:
        """The head in an anchor's record (other keys, such as when it was written, are ignored); raises ValueError
        saying what is wrong."""
        if not isinstance(record, dict) or not {"seq", "hash", "file"} <= set(record):
            raise ValueError("not a ledger head: seq, hash and file are required")
        seq, digest, file = record["seq"], record["hash"], record["file"]
        if (seq, digest, file) == (EMPTY.seq, EMPTY.hash, EMPTY.file):
            return EMPTY
        if type(seq) is not int or seq < 1:
            raise ValueError(f"seq {seq!r} is not a positive integer")
        if not isinstance(digest, str) or not HASH.fullmatch(digest):
            raise ValueError(f"hash {digest!r} is not a SHA-256 hex digest")
        if not isinstance(file, str) or not FILE_NAME.fullmatch(file):
            raise ValueError(f"file {file!r} is not <seq:08d>-<run_id>.jsonl")
        return cls(seq, digest, file)


EMPTY = Head(0, GENESIS, None)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One thing the retention job did, linked to the entry before it."""

    seq: int
    run_id: str
    action: str
    artifact_id: str
    artifact_kind: str
    rule: str
    event_id: str | None
    subject_token: str | None
    due_at: dt.datetime | None
    done_at: dt.datetime
    detail: str
    prev_hash: str
    hash: str


FIELDS = tuple(f.name for f in dataclasses.fields(Entry))
GIVEN = tuple(name for name in FIELDS if name not in ("seq", "prev_hash", "hash"))
"""The fields a caller supplies to ``chain``; the rest the chain computes."""
TIMES = ("due_at", "done_at")
OPTIONAL = ("event_id", "subject_token", "due_at")


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _aware(value: object) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is not None


def _record(entry: Entry) -> dict:
    return {name: _iso(v) if isinstance(v := getattr(entry, name), dt.datetime) else v for name in FIELDS}


def _dumps(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical(entry: Entry) -> bytes:
    """The bytes an entry's hash covers: every field but ``hash``, as sorted, compact JSON with UTC times."""
    record = _record(entry)
    del record["hash"]
    return _dumps(record)


def _digest(entry: Entry) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def chain(entries: list[dict], prev_hash: str, first_seq: int) -> list[Entry]:
    """Entries built from plain dicts of the ``GIVEN`` fields, numbered from ``first_seq`` and linked to ``prev_hash``.

    Raises ValueError for a dict with missing or unknown fields, a naive time, or a subject that is not a token.
    """
    chained = []
    for seq, given in enumerate(entries, first_seq):
        if set(given) != set(GIVEN):
            raise ValueError(
                f"entry fields differ: missing {sorted(set(GIVEN) - set(given))}, "
                f"unknown {sorted(set(given) - set(GIVEN))}"
            )
        if not _aware(given["done_at"]) or not (given["due_at"] is None or _aware(given["due_at"])):
            raise ValueError("ledger times must be timezone-aware datetimes (done_at is required)")
        token = given["subject_token"]
        if token is not None and not token.startswith(TOKEN_PREFIX):
            raise ValueError("subject_token must come from subject_token() (the ledger holds no account ids)")
        times = {name: None if given[name] is None else given[name].astimezone(dt.UTC) for name in TIMES}
        entry = Entry(**{**given, **times}, seq=seq, prev_hash=prev_hash, hash="")
        entry = dataclasses.replace(entry, hash=_digest(entry))
        chained.append(entry)
        prev_hash = entry.hash
    return chained


def to_lines(entries: Iterable[Entry]) -> bytes:
    """Entries as JSON Lines, one object per line, each line ending in a newline."""
    return b"".join(_dumps(_record(entry)) + b"\n" for entry in entries)


def _entry(line: bytes) -> Entry:
    """One line parsed and type-checked; raises ValueError saying what is wrong."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        found = set(record) if isinstance(record, dict) else set()
        raise ValueError(
            f"not a ledger entry: missing {sorted(set(FIELDS) - found)}, unknown {sorted(found - set(FIELDS))}"
        )
    for name, value in record.items():
        if value is None and name in OPTIONAL:
            continue
        wanted, label = (int, "an integer") if name == "seq" else (str, "a string")
        if type(value) is not wanted:
            raise ValueError(f"{name} is not {label}")
    for name in TIMES:
        if record[name] is not None:
            try:
                record[name] = dt.datetime.fromisoformat(record[name])
            except ValueError:
                raise ValueError(f"{name} is not an ISO 8601 time") from None
            if record[name].tzinfo is None:
                raise ValueError(f"{name} has no timezone")
    return Entry(**record)


def _parse(data: bytes, name: str) -> list[tuple[int, Entry | str]]:
    """Each line's number with its entry, or with the problem that makes it unreadable."""
    *whole, tail = data.split(b"\n")
    parsed: list[tuple[int, Entry | str]] = []
    for number, line in enumerate(whole, 1):
        try:
            parsed.append((number, _entry(line)))
        except ValueError as exc:
            parsed.append((number, f"{name}:{number}: {exc}"))
    if tail:
        # Files are published whole with a newline after every entry: a line without one was cut off.
        parsed.append((len(whole) + 1, f"{name}:{len(whole) + 1}: no newline at the end: the file is truncated"))
    return parsed


def from_lines(data: bytes, name: str) -> list[Entry]:
    """Entries read back from JSON Lines; raises LedgerError naming ``name`` and the line of the first bad line."""
    entries = []
    for _, item in _parse(data, name):
        if isinstance(item, str):
            raise LedgerError(item)
        entries.append(item)
    return entries


def verify(files: list[tuple[str, bytes]]) -> list[str]:
    """The problems in a ledger given as (file name, content) pairs; an empty list means it is intact.

    Checked: every hash, every link to the previous entry (the first links to GENESIS), seq contiguous from 1
    across files in name order, each name's seq and run id against its entries, no empty files, no two files
    with one seq. After a problem the check resumes from the entry found, so one tampering is reported where it
    is rather than on every later entry.
    """
    problems: list[str] = []
    prev: tuple[str, str] | None = (GENESIS, "the start of the ledger")
    next_seq: int | None = 1
    first_file_of_seq: dict[int, str] = {}
    for name, data in sorted(files):
        named = FILE_NAME.fullmatch(name.rsplit("/", 1)[-1])
        if not named:
            problems.append(f"{name}:1: name is not <seq:08d>-<run_id>.jsonl")
        elif int(named[1]) in first_file_of_seq:
            problems.append(
                f"{name}:1: seq {int(named[1])} already starts {first_file_of_seq[int(named[1])]} "
                f"(two runs wrote the ledger at once)"
            )
        else:
            first_file_of_seq[int(named[1])] = name
        parsed = _parse(data, name)
        if not parsed:
            problems.append(f"{name}:1: the file holds no entries")
        for number, entry in parsed:
            if isinstance(entry, str):
                problems.append(entry)
                prev = next_seq = None  # unknown until the next readable entry
                continue
            where = f"{name}:{number}"
            if _digest(entry) != entry.hash:
                problems.append(f"{where}: the hash does not match the entry (edited)")
            if prev is not None and entry.prev_hash != prev[0]:
                problems.append(f"{where}: prev_hash does not match {prev[1]} (an entry removed, inserted or moved)")
            if next_seq is not None and entry.seq != next_seq:
                problems.append(f"{where}: seq {entry.seq}, expected {next_seq}")
            if named and number == 1 and entry.seq != int(named[1]):
                problems.append(f"{where}: the file name says seq {int(named[1])}, its first entry has {entry.seq}")
            if named and entry.run_id != named[2]:
                problems.append(f"{where}: run_id {entry.run_id!r} differs from the file name's {named[2]!r}")
            prev, next_seq = (entry.hash, where), entry.seq + 1
    return problems


def _readable(files: list[tuple[str, bytes]]) -> list[tuple[str, int, Entry]]:
    """Every entry that parses, in file name and line order, with its file name and line number."""
    return [
        (name, number, entry)
        for name, data in sorted(files)
        for number, entry in _parse(data, name)
        if isinstance(entry, Entry)
    ]


def head(files: list[tuple[str, bytes]]) -> Head | None:
    """The newest entry of a ledger that verifies, as its anchor would keep it; None for an empty ledger."""
    found = _readable(files)
    if not found:
        return None
    name, _, entry = found[-1]
    return Head(entry.seq, entry.hash, name)


def _removed(first: int, last: int) -> str:
    return f"entry {first} was removed" if first == last else f"entries {first}..{last} were removed"


def check_head(files: list[tuple[str, bytes]], anchored: Head | None, anchor: str) -> list[str]:
    """The problems of a ledger against the head anchored for it in ``anchor`` (None: none is anchored there).

    The ledger must hold the anchored entry, same seq and same hash; it may go on past it, since a run publishes its
    ledger file before it moves the anchor, and a run stopped in between leaves the ledger ahead (past ``EMPTY``,
    for a root's first file). A ledger with entries and no anchored head is a problem too: nothing would show that
    its newest entries were cut off.
    """
    if anchored == EMPTY:
        return []
    if anchored is None:
        if not files:
            return []
        return [
            f"no head of this ledger is anchored in {anchor}, so entries cut off its end would go unnoticed: "
            "the ledger was written before Veil kept anchors, or OUTPUT was moved or copied since (the anchor "
            "is keyed by the output root's absolute location), or the key store given is not the one its "
            "retention runs use (--keystore)"
        ]
    found = _readable(files)
    at = f"is seq {anchored.seq} (hash {anchored.hash}, in {anchored.file})"
    same_seq = [(name, number, entry) for name, number, entry in found if entry.seq == anchored.seq]
    if any(entry.hash == anchored.hash for _, _, entry in same_seq):
        return []
    if same_seq:
        name, number, entry = same_seq[0]
        return [
            f"{name}:{number}: seq {anchored.seq} has hash {entry.hash}, but the head anchored in {anchor} {at}: "
            "the ledger was rewritten up to its anchored head"
        ]
    last = max((entry.seq for _, _, entry in found), default=0)
    if not last:
        return [f"the ledger holds no entries but its head anchored in {anchor} {at}: {_removed(1, anchored.seq)}"]
    if last < anchored.seq:
        return [
            f"the ledger ends at seq {last} but its head anchored in {anchor} {at}: {_removed(last + 1, anchored.seq)}"
        ]
    return [
        f"no readable entry has seq {anchored.seq}, the head anchored in {anchor} (hash {anchored.hash}, in "
        f"{anchored.file})"
    ]


def subject_token(account_id: str, secret: bytes) -> str:
    """A stable, non-reversible stand-in for an account id: ``acct-tok-`` + hex HMAC-SHA256(secret, account_id).

    Account ids are short and guessable (sequential numbers, phone numbers), so a plain hash of one is reversed
    by hashing every candidate id until one matches. With a secret key mixed in, nobody without the secret can
    test a guess; destroying the secret makes every token unlinkable for good.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    return TOKEN_PREFIX + hmac.new(secret, account_id.encode(), hashlib.sha256).hexdigest()
