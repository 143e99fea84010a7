"""Carry out a retention plan: delete files, rewrite table partitions with tokens, destroy keys; record each step.

Every step is idempotent (a file already gone is recorded as such, a partition without the account's
id is rewritten unchanged), and the ledger is appended once, after all steps: a run killed half-way
leaves steps done but unrecorded, which the next run plans again, finds done, and records.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import tables
from schemas.codes import LedgerAction
from transforms.logic.ledger import subject_token
from transforms.logic.parquet import table_from_bytes
from transforms.logic.retention import Action, is_absolute, table_of
from transforms.services import storage
from transforms.services.keystore import open_keystore, subject_secret
from transforms.services.ledger_store import append_entries
from transforms.services.table_files import write_table

Fault = Callable[[str], None]
"""Called with each step's name (``<artifact_id>:<action>``, ``keys`` or ``ledger``) once the step is done and before
it is recorded: where a run killed half-way stops. Tests raise from it to show that the next run completes the work."""


def no_fault(step: str) -> None:
    """A run that is not made to fail."""


def step_name(action: Action) -> str:
    return f"{action.artifact_id}:{action.action.value}"


def ledger_entry(action: Action, run_id: str, detail: str, secret: bytes) -> dict:
    """What the ledger keeps of a finished action: no account id, only its token."""
    return {
        "run_id": run_id,
        "action": action.action.value,
        "artifact_id": action.artifact_id,
        "artifact_kind": action.kind,
        "rule": action.rule.value,
        "event_id": action.event_id,
        "subject_token": subject_token(action.account_id, secret) if action.account_id else None,
        "due_at": action.due_at,
        "done_at": dt.datetime.now(dt.UTC),
        "detail": detail,
    }


def anonymize_partition(uri: str, accounts: set[str], secret: bytes) -> int:
    """Replace the accounts' ids (and their session and consent ids) by tokens in one table partition."""
    if not FileSystems.exists(uri):
        return 0
    with FileSystems.open(uri) as handle:
        table = table_from_bytes(handle.read())
    rows = table.to_pylist()
    changed = 0
    for row in rows:
        if row.get("account_id") in accounts:
            for column in ("account_id", "session_id", "consent_id"):
                if row.get(column) is not None:
                    row[column] = subject_token(row[column], secret)
            changed += 1
    if changed:
        write_table(rows, tables.TABLES[table_of(uri)], uri)
        with FileSystems.open(uri) as handle:
            left = sum(a in accounts for a in table_from_bytes(handle.read()).column("account_id").to_pylist())
        if left:
            raise OSError(f"{uri} still names a cancelled account in {left} row(s) after its rewrite: not recorded")
    return changed


DELETED = beam.metrics.Metrics.counter("veil", "artifacts_deleted")
ANONYMIZED = beam.metrics.Metrics.counter("veil", "rows_anonymized")


def execute(actions: list[Action], run_id: str, secret: bytes, fault: Fault = no_fault) -> Iterator[dict]:
    """Do the due file actions on one artifact (delete it, or tokenize its partition once for every account);
    yields their ledger entries."""
    actions = sorted(actions, key=lambda a: (a.action.value, a.event_id or ""))
    deletions = [a for a in actions if a.action is LedgerAction.DELETE_FILE]
    if deletions:
        uri = deletions[0].uri
        if not is_absolute(uri):
            raise ValueError(
                f"refusing to delete {uri!r}: a relative path names a different file in every working directory"
            )
        detail = "deleted" if storage.delete_path(uri) else "already gone"
        if storage.exists(uri):
            raise OSError(f"{uri} is still there after its deletion: not recorded as deleted")
        DELETED.inc()
        fault(step_name(deletions[0]))
        for action in deletions:
            yield ledger_entry(action, run_id, detail, secret)
    rewrites = [a for a in actions if a.action is LedgerAction.ANONYMIZE_ROWS]
    if rewrites:
        changed = anonymize_partition(rewrites[0].uri, {a.account_id for a in rewrites}, secret)
        ANONYMIZED.inc(changed)
        fault(step_name(rewrites[0]))
        for action in rewrites:
            yield ledger_entry(action, run_id, f"{changed} row(s) of the partition tokenized", secret)


class _ExecuteFn(beam.DoFn):
    def __init__(self, run_id: str, keystore: str, fault: Fault):
        self._run_id = run_id
        self._keystore = keystore
        self._fault = fault
        self._secret: bytes | None = None

    def setup(self) -> None:
        self._secret = subject_secret(open_keystore(self._keystore))

    def process(self, keyed):
        _, actions = keyed
        yield from execute(list(actions), self._run_id, self._secret, self._fault)


def destroy_keys(actions: list[Action], run_id: str, keystore_uri: str, _after, fault: Fault = no_fault) -> list[dict]:
    """Destroy the data keys of cancelled accounts (one process: the key store has a single writer)."""
    keystore = open_keystore(keystore_uri)
    secret = subject_secret(keystore)
    entries = []
    for action in actions:
        destroyed = keystore.destroy(action.account_id)
        if action.account_id in keystore.accounts():
            raise OSError(f"the key store {keystore_uri} still holds a key of a cancelled account: not recorded")
        detail = f"{len(destroyed)} key(s) destroyed" if destroyed else "no key left"
        entries.append(ledger_entry(action, run_id, detail, secret))
    fault("keys")
    return entries


def record(entries: list[dict], output: str, run_id: str, keystore: str, fault: Fault = no_fault) -> int:
    """Append the run's finished actions to the ledger in one file and anchor its head beside the key store."""
    fault("ledger")
    return len(append_entries(output, run_id, entries, keystore))


class ApplyRetention(beam.PTransform):
    """Do every due action (grouped per artifact, so a partition is rewritten once), then destroy keys, then append
    the ledger; emits the number of ledger entries written."""

    def __init__(self, actions: list[Action], output: str, run_id: str, keystore: str, fault: Fault = no_fault):
        super().__init__()
        self._actions = actions
        self._args = output, run_id, keystore, fault

    def expand(self, pipeline):
        output, run_id, keystore, fault = self._args
        on_files = [a for a in self._actions if a.action is not LedgerAction.DESTROY_KEY]
        on_keys = [a for a in self._actions if a.action is LedgerAction.DESTROY_KEY]
        done = (
            pipeline
            | "Due Actions" >> beam.Create(on_files)
            | "Key By Artifact" >> beam.Map(lambda a: (a.artifact_id, a))
            | "Gather Per Artifact" >> beam.GroupByKey()
            | "Execute" >> beam.ParDo(_ExecuteFn(run_id, keystore, fault))
        )
        keys = (
            pipeline
            | "Key Actions" >> beam.Create([on_keys])
            | "Destroy Keys" >> beam.FlatMap(destroy_keys, run_id, keystore, beam.pvalue.AsList(done), fault)
        )
        return (
            (done, keys)
            | "All Done" >> beam.Flatten()
            | "Gather Entries" >> beam.combiners.ToList()
            | "Append Ledger" >> beam.Map(record, output, run_id, keystore, fault)
        )


def apply_in_process(actions: list[Action], output: str, run_id: str, keystore: str) -> int:
    """The same steps as ApplyRetention, in order, in this process: for the few actions one account event calls for
    inside a running job (streaming), where starting a job of their own would be out of place. Returns the number
    of ledger entries written."""
    secret = subject_secret(open_keystore(keystore))
    per_artifact: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        if action.action is not LedgerAction.DESTROY_KEY:
            per_artifact[action.artifact_id].append(action)
    entries = [entry for found in per_artifact.values() for entry in execute(found, run_id, secret)]
    entries += destroy_keys([a for a in actions if a.action is LedgerAction.DESTROY_KEY], run_id, keystore, entries)
    return record(entries, output, run_id, keystore)
