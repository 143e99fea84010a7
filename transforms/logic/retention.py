"""Retention windows and the retention plan: what must be deleted or anonymized, when, and why.

The plan is computed from the catalog (every artifact Veil wrote), the ledger (what was already
done), validation verdicts, account events and legal holds. It is a pure function of them, so a
run that was killed half-way is completed by the next one: whatever the ledger does not record is
planned again, and every action is idempotent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from importlib import resources

from schemas import tables
from schemas.codes import AccountEvent, ArtifactKind, HoldScope, LedgerAction, PlanStatus, Purpose, RetentionRule
from schemas.registries import AccountEventRow, Camera, Hold
from transforms.logic.workdays import WorkCalendar, deadline

ACCOUNT_TABLES = ("face_tracks", "restricted", "catalog")
"""Tables whose rows name accounts: their partitions are rewritten with tokens when an account is cancelled."""


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """Retention windows in days (schemas/retention.json); camera registry rows override raw and anonymized."""

    raw_days: dict[str, int]
    anonymized_days: dict[str, int]
    restricted_days: int
    quarantine_days: int
    audit_days: int
    maximum_days: dict[str, int]
    cancellation_working_days: int
    due_soon_working_days: int

    def window(self, kind: ArtifactKind, camera: Camera | None) -> int:
        """Days an artifact of this kind from this camera may be kept, capped by the policy maximum."""
        purpose = (camera.purpose if camera else Purpose.SERVICE).value
        if kind is ArtifactKind.RAW_INPUT:
            days = _override(camera and camera.raw_retention_days, self.raw_days[purpose])
        elif kind is ArtifactKind.PUBLIC_COPY:
            days = _override(camera and camera.anonymized_retention_days, self.anonymized_days[purpose])
        elif kind is ArtifactKind.RESTRICTED_COPY:
            days = self.restricted_days
        elif kind is ArtifactKind.QUARANTINED_INPUT:
            days = self.quarantine_days
        else:
            days = self.audit_days
        return min(days, self.maximum_days[kind.value])


def _override(value: int | None, default: int) -> int:
    return default if value is None else value


def load_policy(text: str) -> RetentionPolicy:
    """A retention policy from its JSON text; every kind needs a maximum."""
    data = json.loads(text)
    data.pop("about", None)
    policy = RetentionPolicy(**data)
    missing = {k.value for k in ArtifactKind} - set(policy.maximum_days)
    if missing:
        raise ValueError(f"retention policy lacks maximum_days for {sorted(missing)}")
    return policy


def default_policy() -> RetentionPolicy:
    return load_policy(resources.files("schemas").joinpath("retention.json").read_text())


def artifact_id(kind: ArtifactKind, uri: str) -> str:
    """A stable id of an artifact: the same kind and place is the same artifact in every run."""
    return hashlib.sha256(f"{kind.value}\n{uri}".encode()).hexdigest()[:24]


def catalog_entry(
    kind: ArtifactKind,
    uri: str,
    created_at: dt.datetime,
    camera_id: str | None,
    camera: Camera | None,
    policy: RetentionPolicy,
    basis: RetentionRule,
    media_id: str | None = None,
    account_id: str | None = None,
    requires_approval: bool = False,
    days: int | None = None,
) -> dict:
    """The catalog row of one artifact: when it was made and when it must be gone (after ``days``, by default
    the policy's window for its kind and camera)."""
    days = policy.window(kind, camera) if days is None else days
    return tables.catalog_row(
        artifact_id(kind, uri),
        kind.value,
        uri,
        media_id,
        camera_id,
        account_id,
        created_at,
        created_at + dt.timedelta(days=days),
        basis.value,
        requires_approval,
    )


def is_absolute(uri: str) -> bool:
    """True for a URI with a scheme or an absolute local path: what names one place whatever the working directory."""
    return "://" in uri or uri.startswith("/")


def raw_uri(input_uri: str) -> str:
    """The deletable file or folder behind an input: an archive member is deleted with its archive."""
    return input_uri.split("!", 1)[0]


@dataclasses.dataclass(frozen=True)
class Action:
    """One thing the retention job must do to one artifact, the rule that asks for it, and by when."""

    artifact_id: str
    kind: str
    uri: str
    action: LedgerAction
    rule: RetentionRule
    due_at: dt.datetime
    camera_id: str | None = None
    event_id: str | None = None
    account_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What the ledger records of an action once done (accounts only as tokens, so compared by event)."""
        return self.artifact_id, self.action.value, self.event_id


@dataclasses.dataclass(frozen=True)
class Plan:
    """Actions due now, and the others with their status; holds name the hold that blocks each action."""

    due: tuple[Action, ...]
    waiting: tuple[tuple[Action, PlanStatus, str], ...]
    """(action, status, note) of actions not to be done now: held, awaiting approval, scheduled."""


def plan(
    catalog: Iterable[dict],
    done: set[tuple],
    approved_runs: set[str],
    events: Iterable[AccountEventRow],
    holds: Iterable[Hold],
    as_of: dt.datetime,
    calendar: WorkCalendar,
    policy: RetentionPolicy,
    token: Callable[[str], str],
) -> Plan:
    """Every action the catalog, events and holds call for that the ledger does not record as done."""
    rows = list(catalog)
    actions = _window_actions(rows, approved_runs) + _cancellation_actions(rows, events, as_of, calendar, policy, token)
    holds = list(holds)
    deleted = {(artifact, action) for artifact, action, _ in done if action == LedgerAction.DELETE_FILE.value}
    pending = [
        (action, approved, _hold_on(action, cameras, holds))
        for action, approved, cameras in _unique(actions)
        # A file deleted for one reason is gone for all of them; keys and rows are done per event.
        if action.key not in done and (action.artifact_id, action.action.value) not in deleted
    ]
    # A held copy keeps the account's key: destroying it would make the copy as unreadable as deleting it would.
    held_copies = {
        a.event_id: hold
        for a, _, hold in pending
        if hold is not None and a.event_id and a.kind == ArtifactKind.RESTRICTED_COPY.value
    }
    due, waiting = [], []
    for action, approved, hold in pending:
        note = ""
        if hold is None and action.action is LedgerAction.DESTROY_KEY and action.event_id in held_copies:
            hold, note = held_copies[action.event_id], " (the key of a held restricted copy)"
        if hold is not None:
            waiting.append((action, PlanStatus.HELD, f"legal hold {hold.hold_id}: {hold.reason}{note}"))
        elif action.action is not LedgerAction.DESTROY_KEY and not is_absolute(action.uri):
            waiting.append(
                (
                    action,
                    PlanStatus.REFUSED,
                    f"the catalog names it by the relative path {action.uri!r}, "
                    "which depends on the working directory of the run that wrote it (runs before "
                    "paths were made absolute): Veil will not guess which file that is",
                )
            )
        elif not approved:
            waiting.append((action, PlanStatus.AWAITING_APPROVAL, "its anonymized output has not passed validation"))
        elif action.due_at > as_of and action.rule is not RetentionRule.ACCOUNT_CANCELLATION:
            waiting.append((action, PlanStatus.SCHEDULED, ""))
        else:
            due.append(action)
    return Plan(tuple(sorted(due, key=_order)), tuple(sorted(waiting, key=lambda w: _order(w[0]))))


def _order(action: Action) -> tuple:
    # Files first, keys next, rows last: until the last step the catalog still names what is left to find.
    rank = {LedgerAction.DELETE_FILE: 0, LedgerAction.DESTROY_KEY: 1, LedgerAction.ANONYMIZE_ROWS: 2}
    return rank[action.action], action.due_at, action.artifact_id, action.event_id or ""


def _window_actions(rows: list[dict], approved_runs: set[str]) -> list[tuple[Action, bool]]:
    """Deletions at the end of each artifact's window; a raw input also waits for its output's validation."""
    found = []
    for row in rows:
        approved = not row["requires_approval"] or row["run_id"] in approved_runs
        found.append(
            (
                Action(
                    row["artifact_id"],
                    row["kind"],
                    row["uri"],
                    LedgerAction.DELETE_FILE,
                    RetentionRule(row["basis"]),
                    row["retention_until"],
                    row["camera_id"],
                ),
                approved,
            )
        )
    return found


def _cancellation_actions(
    rows: list[dict],
    events: Iterable[AccountEventRow],
    as_of: dt.datetime,
    calendar: WorkCalendar,
    policy: RetentionPolicy,
    token: Callable[[str], str],
) -> list[tuple[Action, bool]]:
    """For each cancelled account: its restricted copies, its key, then its rows in Veil's tables."""
    found = []
    rule = RetentionRule.ACCOUNT_CANCELLATION
    for event in events:
        if event.event is not AccountEvent.CANCELLED or event.time > as_of:
            continue
        due = deadline(event.time, policy.cancellation_working_days, calendar)
        names = {event.account_id, token(event.account_id)}
        linked = [r for r in rows if r["account_id"] in names]
        runs = {r["run_id"] for r in linked}
        for row in linked:
            if row["kind"] == ArtifactKind.RESTRICTED_COPY.value:
                found.append(
                    Action(
                        row["artifact_id"],
                        row["kind"],
                        row["uri"],
                        LedgerAction.DELETE_FILE,
                        rule,
                        due,
                        row["camera_id"],
                        event.event_id,
                        event.account_id,
                    )
                )
        key = f"key:{token(event.account_id)}"
        found.append(
            Action(key, "data_key", key, LedgerAction.DESTROY_KEY, rule, due, None, event.event_id, event.account_id)
        )
        for row in rows:
            if (
                row["kind"] == ArtifactKind.TABLE_PARTITION.value
                and row["run_id"] in runs
                and table_of(row["uri"]) in ACCOUNT_TABLES
            ):
                found.append(
                    Action(
                        row["artifact_id"],
                        row["kind"],
                        row["uri"],
                        LedgerAction.ANONYMIZE_ROWS,
                        rule,
                        due,
                        None,
                        event.event_id,
                        event.account_id,
                    )
                )
    return [(a, True) for a in found]


def table_of(uri: str) -> str:
    """The table a partition (OUT/tables/<table>/<run_id>.parquet) belongs to."""
    return uri.rstrip("/").split("/")[-2]


def _unique(actions: list[tuple[Action, bool]]) -> list[tuple[Action, bool, set[str]]]:
    """One action per key: an archive holding several inputs is due when all of them are, approved when all are,
    and held when any of their cameras is."""
    grouped: dict[tuple, list[tuple[Action, bool]]] = defaultdict(list)
    for action, approved in actions:
        grouped[action.key].append((action, approved))
    return [
        (
            max((a for a, _ in group), key=lambda a: a.due_at),
            all(ok for _, ok in group),
            {a.camera_id for a, _ in group if a.camera_id is not None},
        )
        for group in grouped.values()
    ]


def _hold_on(action: Action, cameras: set[str], holds: list[Hold]) -> Hold | None:
    for hold in holds:
        if hold.scope is HoldScope.ARTIFACT and hold.target in (action.artifact_id, action.uri):
            return hold
        if hold.scope is HoldScope.CAMERA and hold.target in cameras:
            return hold
    return None


def due_soon(
    waiting: Iterable[tuple[Action, str, str]], as_of: dt.datetime, calendar: WorkCalendar, policy: RetentionPolicy
) -> list[Action]:
    """Scheduled actions due within the policy's next working days (for the report)."""
    horizon = calendar.add_working_days(as_of, policy.due_soon_working_days)
    return [a for a, status, _ in waiting if status == PlanStatus.SCHEDULED and a.due_at.date() <= horizon]
