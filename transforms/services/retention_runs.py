"""A retention run on an output root: plan what is due from the catalog, the ledger and the verdicts, carry it out
(through the given ``apply``), and record the plan and its report, under the ledger's lock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence

from apache_beam.io.filesystems import FileSystems

from schemas import tables
from schemas.codes import PlanStatus, RetentionRule
from transforms.logic.ledger import from_lines, subject_token
from transforms.logic.registry import RegistryError, parse_registry
from transforms.logic.retention import Plan, default_policy, due_soon, plan
from transforms.logic.workdays import default_calendar
from transforms.services import layout, report, storage
from transforms.services.keystore import open_keystore, subject_secret
from transforms.services.ledger_store import append_entries, read_ledger, verify_ledger
from transforms.services.table_files import read_table, write_run_table


def rows_of(kind: str, uri: str | None) -> list:
    """Events or holds; a bad row stops the job, since guessing could delete too much or too little."""
    if not uri:
        return []
    with FileSystems.open(uri) as handle:
        rows, issues = parse_registry(kind, handle.read(), uri)
    if issues:
        raise RegistryError("; ".join(str(i) for i in issues))
    return rows


def approved_runs(output: str) -> set[str]:
    """Runs whose tables passed validation: only their raw inputs may be purged."""
    approved = set()
    for match in FileSystems.match([layout.validation_uri(output, "*")])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            verdict = json.loads(handle.read())
        if verdict.get("passed"):
            approved.add(verdict["run_id"])
    return approved


def done_actions(output: str) -> set[tuple]:
    """(artifact_id, action, event_id) of everything the ledger records."""
    return {(e.artifact_id, e.action, e.event_id) for name, data in read_ledger(output) for e in from_lines(data, name)}


def no_catalog(output: str) -> str:
    return f"no catalog under {output}: no anonymize run has written there (is OUTPUT right?)"


def current_plan(
    output: str, keystore: str, events: list, holds: list, as_of: dt.datetime, calendars: Sequence[str]
) -> tuple[Plan, dict]:
    """The plan as of ``as_of``, and what it was computed from (for the summary)."""
    problems = verify_ledger(output, keystore)
    if problems:
        raise ValueError(
            "the retention ledger does not verify, so what was done cannot be trusted: " + "; ".join(problems[:5])
        )
    catalog = read_table(output, "catalog")
    if catalog is None:
        # Before the key store is touched: a mistyped OUTPUT must not grow a key store of its own.
        raise ValueError(no_catalog(output))
    texts = []
    for uri in calendars:
        with FileSystems.open(uri) as handle:
            texts.append((uri, handle.read().decode()))
    calendar = default_calendar(*texts)
    secret = subject_secret(open_keystore(keystore))
    policy = default_policy()
    found = plan(
        catalog.to_pylist(),
        done_actions(output),
        approved_runs(output),
        events,
        holds,
        as_of,
        calendar,
        policy,
        lambda account: subject_token(account, secret),
    )
    return found, {"calendar": calendar, "policy": policy}


def plan_rows(found: Plan, as_of: dt.datetime, done: bool) -> list[dict]:
    """The retention_plan table: due actions (done once the job succeeded) and every waiting one."""
    rows = [(a, PlanStatus.DONE if done else PlanStatus.DUE, "") for a in found.due] + list(found.waiting)
    return [
        tables.retention_plan_row(as_of, a, status.value, note, status != PlanStatus.DONE and a.due_at < as_of)
        for a, status, note in rows
    ]


def describe(found: Plan, as_of: dt.datetime, context: dict) -> str:
    """The plan for the terminal: what is due now, what waits and why, what falls due soon."""
    lines = [f"retention as of {as_of.isoformat()}: {len(found.due)} action(s) due now, {len(found.waiting)} waiting"]
    for action in found.due:
        lines.append(
            f"  due     {action.action.value:<14} {action.kind:<17} {action.uri}  ({action.rule.value}, "
            f"deadline {action.due_at:%Y-%m-%d})"
        )
    for action, status, note in found.waiting:
        lines.append(
            f"  {status:<7} {action.action.value:<14} {action.kind:<17} {action.uri}  "
            f"(due {action.due_at:%Y-%m-%d}{'; ' + note if note else ''})"
        )
    soon = due_soon(found.waiting, as_of, context["calendar"], context["policy"])
    lines.append(f"  falling due within {context['policy'].due_soon_working_days} working days: {len(soon)}")
    unconfirmed = sorted(
        {
            a.due_at.year
            for a in found.due
            if a.rule is RetentionRule.ACCOUNT_CANCELLATION and not context["calendar"].confirmed(a.due_at.date())
        }
    )
    if unconfirmed:
        lines.append(
            f"  note: no official holiday notice for {', '.join(map(str, unconfirmed))} in the calendar: "
            f"cancellation deadlines there count every day but statutory holidays (early, never late); "
            f"add the notice with --calendar"
        )
    return "\n".join(lines)


Apply = Callable[[list, str, str, str], object]
"""Carries out due actions: (actions, output, run_id, keystore)."""


def enforce(
    output: str,
    keystore: str,
    run_id: str,
    events: list,
    holds: list,
    as_of: dt.datetime,
    calendars: Sequence[str],
    apply: Apply | None,
    say: Callable[[str], object] = print,
) -> list[dict]:
    """Plan retention as of ``as_of``, tell ``say`` the plan, carry out what is due with ``apply`` (None: plan
    only), and record the plan and its report; returns the plan rows.

    Holds the ledger's lock throughout: a streaming job applying events and a scheduled retention run on the same
    output root take turns, so both plan from a ledger that records the other's deletions."""
    if not FileSystems.match([layout.table_uri(output, "catalog", "*")])[0].metadata_list:
        # Before the lock file is made: a mistyped OUTPUT must not grow one.
        raise ValueError(no_catalog(output))
    with storage.locked(layout.ledger_folder(output)):
        return _enforce(output, keystore, run_id, events, holds, as_of, calendars, apply, say)


def _enforce(
    output: str,
    keystore: str,
    run_id: str,
    events: list,
    holds: list,
    as_of: dt.datetime,
    calendars: Sequence[str],
    apply: Apply | None,
    say: Callable[[str], object],
) -> list[dict]:
    found, context = current_plan(output, keystore, events, holds, as_of, calendars)
    say(describe(found, as_of, context))
    if apply is None:
        return plan_rows(found, as_of, done=False)
    if found.due:
        apply(list(found.due), output, run_id, keystore)
    else:
        # Nothing to record, but an anchor a stopped run left behind its ledger file is moved up to it now rather
        # than at the next deletion: until then, that file could be removed unnoticed.
        append_entries(output, run_id, [], keystore)
    rows = plan_rows(found, as_of, done=True)
    write_run_table(output, "retention_plan", run_id, rows)
    soon = due_soon(found.waiting, as_of, context["calendar"], context["policy"])
    report.write_report(
        output,
        run_id,
        report.retention_report(
            run_id, as_of, rows, [a.artifact_id for a in soon], context["policy"].due_soon_working_days
        ),
        report.render_retention_html,
    )
    return rows
