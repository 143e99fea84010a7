"""ApplyRetention in a TestPipeline: due actions are done once per artifact (a partition is rewritten once for all
its accounts), keys are destroyed, and the ledger gets one entry per action, naming accounts only by token."""

import datetime as dt

from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import LedgerAction, RetentionRule
from schemas.tables import restricted_row
from transforms.logic.ledger import from_lines, subject_token
from transforms.logic.retention import Action
from transforms.retention import ApplyRetention
from transforms.services import layout
from transforms.services.keystore import open_keystore, subject_secret
from transforms.services.ledger_store import read_ledger, verify_ledger
from transforms.services.table_files import read_table, write_run_table

DUE = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _action(artifact: str, uri: str, action: LedgerAction, account: str, kind: str) -> Action:
    return Action(
        artifact, kind, uri, action, RetentionRule.ACCOUNT_CANCELLATION, DUE, "cam-1", f"ev-{account}", account
    )


def test_apply_retention_does_each_due_action_once_and_records_it_in_the_ledger(tmp_path, beam_options):
    output = str(tmp_path / "out")
    keystore = layout.default_keystore(output)
    store = open_keystore(keystore)
    for account in ("acct-1", "acct-2", "acct-3"):
        store.key_for(account)
    copy = tmp_path / "out" / "restricted" / "a.sealed"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"sealed face")
    rows = [restricted_row("m-a", "cam-1", a, "k", f"/out/{a}.sealed", 40, 1) for a in ("acct-1", "acct-2", "acct-3")]
    write_run_table(output, "restricted", "run-1", rows)
    partition = layout.table_uri(output, "restricted", "run-1")
    actions = [
        _action("copy-a", str(copy), LedgerAction.DELETE_FILE, "acct-1", "restricted_copy"),
        _action(
            "copy-b",
            str(tmp_path / "out" / "restricted" / "b.sealed"),
            LedgerAction.DELETE_FILE,
            "acct-2",
            "restricted_copy",
        ),
        _action("part-1", partition, LedgerAction.ANONYMIZE_ROWS, "acct-1", "table_partition"),
        _action("part-1", partition, LedgerAction.ANONYMIZE_ROWS, "acct-2", "table_partition"),
        _action("key-1", keystore, LedgerAction.DESTROY_KEY, "acct-1", "data_key"),
    ]
    with TestPipeline(options=beam_options) as p:
        assert_that(p | ApplyRetention(actions, output, "ret-1", keystore), equal_to([5]))
    assert not copy.exists()
    secret = subject_secret(open_keystore(keystore))
    tokens = {a: subject_token(a, secret) for a in ("acct-1", "acct-2")}
    assert [r["account_id"] for r in read_table(output, "restricted", "run-1").to_pylist()] == [
        tokens["acct-1"],
        tokens["acct-2"],
        "acct-3",
    ]
    assert open_keystore(keystore).accounts() >= {"acct-2", "acct-3"}
    assert "acct-1" not in open_keystore(keystore).accounts()
    entries = [e for name, data in read_ledger(output) for e in from_lines(data, name)]
    assert sorted((e.artifact_id, e.action, e.subject_token, e.detail) for e in entries) == sorted(
        [
            ("copy-a", "delete_file", tokens["acct-1"], "deleted"),
            ("copy-b", "delete_file", tokens["acct-2"], "already gone"),
            ("part-1", "anonymize_rows", tokens["acct-1"], "2 row(s) of the partition tokenized"),
            ("part-1", "anonymize_rows", tokens["acct-2"], "2 row(s) of the partition tokenized"),
            ("key-1", "destroy_key", tokens["acct-1"], "1 key(s) destroyed"),
        ]
    )
    assert {e.run_id for e in entries} == {"ret-1"}
    assert verify_ledger(output, keystore) == []
