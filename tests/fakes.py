"""Fakes several test modules share: data builders with fixed values, so an expected result can be written down."""

import datetime as dt

from transforms.logic.ledger import subject_token

SECRET = b"s" * 32
"""The subject-token secret of the fake ledger entries."""
DONE = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
"""When the fake deletions were done."""


def given(run_id: str, n: int) -> dict:
    """The fields of ledger entry ``n`` of retention run ``run_id``: a deletion of account n's sealed copy."""
    return {
        "run_id": run_id,
        "action": "delete_file",
        "artifact_id": f"{run_id}-artifact-{n}",
        "artifact_kind": "restricted_copy",
        "rule": "account_cancellation",
        "event_id": f"evt-{run_id}",
        "subject_token": subject_token(f"acct-{n}", SECRET),
        "due_at": DONE + dt.timedelta(days=20),
        "done_at": DONE + dt.timedelta(minutes=n),
        "detail": f"deleted copy {n}",
    }
