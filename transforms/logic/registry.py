"""Registry files (cameras, sessions, consents) read into checked rows: a bad row is refused and reported, not guessed.

A file that cannot be read at all raises RegistryError, so the job refuses to start. A bad row becomes a
RegistryIssue and is left out; the cross-checks of ``load_registry`` only ever leave more out, so a broken
registry can make Veil redact or quarantine more, never keep more.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import json
import math

import pyarrow as pa
import yaml

from schemas.codes import AccountEvent, ConsentKind, HoldScope, Purpose
from schemas.codes import values as enum_values
from schemas.registries import (
    REGISTRIES,
    AccountEventRow,
    Camera,
    Consent,
    Hold,
    Registry,
    RegistryIssue,
    Session,
)
from transforms.logic.identity import parse_time
from transforms.logic.parquet import table_from_bytes

ROWS = {"cameras": Camera, "sessions": Session, "consents": Consent, "events": AccountEventRow, "holds": Hold}
FORMATS = (".yaml", ".yml", ".csv", ".jsonl", ".ndjson", ".json", ".parquet")

_ENUMS = {"Purpose": Purpose, "ConsentKind": ConsentKind, "AccountEvent": AccountEvent, "HoldScope": HoldScope}
_MINIMUM = {"subjects": 1}  # a session serves at least one person; the pyarrow schema cannot say so
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
_TIME = "an ISO 8601 date and time such as 2026-01-31T08:00:00Z"


class RegistryError(ValueError):
    """A registry file that cannot be read at all, with file and line."""


class _Refused(Exception):
    """The first problem of one row: the column at fault (None for the whole row) and what was expected."""

    def __init__(self, field: str | None, message: str, row: object = None):
        super().__init__(message)
        self.field, self.message, self.row = field, message, row


def parse_registry(kind: str, data: bytes, name: str) -> tuple[list, list[RegistryIssue]]:
    """The valid rows of one registry file as Camera/Session/Consent objects, and one issue per refused row."""
    rows, issues = _parse(kind, data, name)
    return [row for _, row in rows], issues


def load_registry(
    cameras: tuple[str, bytes] | None, sessions: tuple[str, bytes] | None, consents: tuple[str, bytes] | None
) -> Registry:
    """Parse the given registry files (name, bytes) and cross-check them into one Registry."""
    files = {"cameras": cameras, "sessions": sessions, "consents": consents}
    names = {kind: file[0] if file else "" for kind, file in files.items()}
    issues: list[RegistryIssue] = []
    kept, dropped = {}, {}
    for kind, file in files.items():
        rows, refused = _parse(kind, file[1], file[0]) if file else ([], [])
        kept[kind], dropped[kind], contradictions = _unique(kind, names[kind], rows, refused)
        issues += refused + contradictions
    camera_rows = {key: row for key, (_, row) in kept["cameras"].items()}
    consent_rows = {key: row for key, (_, row) in kept["consents"].items()}
    linked = []
    for line, session in kept["sessions"].values():
        problem = _link_problem(session, camera_rows, dropped["cameras"], consent_rows)
        if problem is not None:
            field, message, keep = problem
            issues.append(RegistryIssue("sessions", names["sessions"], line, field, message, session.session_id))
        if problem is None or keep:
            linked.append(session)
    return Registry(
        cameras=camera_rows,
        sessions=tuple(sorted(linked, key=lambda s: (s.camera_id, s.start, s.session_id))),
        consents=consent_rows,
        invalid_cameras=frozenset(dropped["cameras"]),
        issues=tuple(sorted(issues, key=lambda i: (list(ROWS).index(i.registry), i.line or 0))),
    )


def _parse(kind: str, data: bytes, name: str) -> tuple[list[tuple[int, object]], list[RegistryIssue]]:
    """Valid rows with their line, and the issues of the refused rows."""
    if kind not in REGISTRIES:
        raise ValueError(f"unknown registry {kind!r}; expected one of {', '.join(REGISTRIES)}")
    schema = REGISTRIES[kind]
    rows, issues = [], []
    for line, raw in _read(schema, data, name):
        try:
            rows.append((line, _row(kind, raw)))
        except _Refused as err:
            issues.append(RegistryIssue(kind, name, line, err.field, err.message, _key(schema, raw)))
    return rows, issues


def _unique(kind: str, name: str, rows: list, refused: list[RegistryIssue]) -> tuple[dict, set[str], list]:
    """One row per id; an id whose rows disagree, or that also has a refused row, keeps none."""
    id_field = REGISTRIES[kind].names[0]
    refused_at: dict[str, int | None] = {}
    for issue in refused:
        if issue.key is not None:
            refused_at.setdefault(issue.key, issue.line)
    first: dict[str, tuple[int, object]] = {}
    dropped, issues = set(refused_at), []
    for line, row in rows:
        key = getattr(row, id_field)
        if key in refused_at:
            issues.append(
                RegistryIssue(
                    kind,
                    name,
                    line,
                    id_field,
                    f"contradictory: {id_field} {key} also has a "
                    f"refused row (line {refused_at[key]}); neither row is used",
                    key,
                )
            )
        elif key not in first:
            first[key] = (line, row)
        elif first[key][1] != row:
            dropped.add(key)
            issues.append(
                RegistryIssue(
                    kind,
                    name,
                    line,
                    id_field,
                    f"contradictory: {id_field} {key} is defined "
                    f"differently on line {first[key][0]}; neither row is used",
                    key,
                )
            )
    return {key: found for key, found in first.items() if key not in dropped}, dropped, issues


def _link_problem(
    session: Session, cameras: dict[str, Camera], invalid: set[str], consents: dict[str, Consent]
) -> tuple[str, str, bool] | None:
    """What is wrong with a session's links to cameras and consents: (field, message, kept?), or None."""
    camera = cameras.get(session.camera_id)
    if camera is None:
        why = "has a refused or contradictory registry row" if session.camera_id in invalid else "is not registered"
        return "camera_id", f"camera {session.camera_id} {why}; the session is not used", False
    if session.zone_id not in camera.zones:
        zones = ", ".join(sorted(camera.zones)) or "none"
        return (
            "zone_id",
            f"zone {session.zone_id} is not a zone of camera {camera.camera_id} (its zones: {zones}); "
            f"the session is not used",
            False,
        )
    if session.consent_id is None:
        return None
    consent = consents.get(session.consent_id)
    if consent is None:
        # Kept: the policy redacts its faces as consent_missing, which is what an operator should see in the output.
        return (
            "consent_id",
            f"consent {session.consent_id} is not in the consents registry (or its row was "
            f"refused); the session's faces will be redacted",
            True,
        )
    if consent.account_id != session.account_id:
        return (
            "consent_id",
            f"contradictory: consent {consent.consent_id} belongs to account {consent.account_id}, "
            f"not {session.account_id}; the session is not used",
            False,
        )
    return None


def _row(kind: str, raw: object) -> object:
    """One raw row (a mapping of column to value) checked against its schema and built into its dataclass."""
    schema = REGISTRIES[kind]
    if isinstance(raw, _Refused):
        raise raw
    if not isinstance(raw, dict):
        raise _Refused(None, f"expected a mapping of column to value, got {_shown(raw)}")
    for column, value in raw.items():
        # An unknown column with a value is most likely a typo (captureArea): ignoring it could drop a restriction.
        if column not in schema.names and not _absent(value):
            close = difflib.get_close_matches(str(column), schema.names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _Refused(str(column), f"unknown column{hint}; expected only {', '.join(schema.names)}")
    checked = {}
    for field in schema:
        value = raw.get(field.name)
        metadata = field.metadata or {}
        if _absent(value):
            if not field.nullable:
                raise _Refused(field.name, "missing or empty, but a value is required")
            if b"default" not in metadata:
                checked[field.name] = {} if pa.types.is_map(field.type) else None
                continue
            value = metadata[b"default"].decode()
        try:
            checked[field.name] = _value(field, value)
        except ValueError as err:
            raise _Refused(field.name, str(err)) from None
    _check_order(kind, checked)
    return ROWS[kind](**checked)


def _check_order(kind: str, row: dict) -> None:
    """Refuse times that contradict each other: a session ending before it starts, a consent ending before it began."""
    if kind == "sessions" and row["end"] <= row["start"]:
        raise _Refused(
            "end",
            f"contradictory: end {row['end']:%Y-%m-%dT%H:%M:%SZ} is not after start {row['start']:%Y-%m-%dT%H:%M:%SZ}",
        )
    for name in ("expires_at", "withdrawn_at") if kind == "consents" else ():
        if row[name] is not None and row[name] < row["granted_at"]:
            raise _Refused(
                name,
                f"contradictory: {name} {row[name]:%Y-%m-%dT%H:%M:%SZ} is before granted_at "
                f"{row['granted_at']:%Y-%m-%dT%H:%M:%SZ}",
            )


def _value(field: pa.Field, value: object) -> object:
    """One value converted to the column's type, or ValueError saying what was expected."""
    if pa.types.is_map(field.type):
        return _zones(value)
    if pa.types.is_list(field.type):
        return _polygon(value)
    if pa.types.is_timestamp(field.type):
        return _timestamp(value)
    if pa.types.is_boolean(field.type):
        return _bool(value)
    if pa.types.is_integer(field.type):
        return _count(value, _MINIMUM.get(field.name, 0))
    text = _text(value)
    enum_name = (field.metadata or {}).get(b"enum")
    if enum_name is None:
        return text
    enum = _ENUMS[enum_name.decode()]
    if text not in enum_values(enum):
        raise ValueError(f"expected one of {', '.join(enum_values(enum))}, got {text!r}")
    return enum(text)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_shown(value)}")
    return value.strip()


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(f"expected true/false, yes/no or 1/0, got {_shown(value)}")


def _count(value: object, minimum: int) -> int:
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():  # Parquet written from pandas stores counts as floats
        number = int(value)
    elif isinstance(value, str) and value.strip().isdecimal():
        number = int(value)
    if number is None or number < minimum:
        raise ValueError(f"expected a whole number of at least {minimum}, got {_shown(value)}")
    return number


def _timestamp(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    raise ValueError(f"expected {_TIME}, got {_shown(value)}")


def _polygon(value: object) -> tuple[tuple[float, float], ...]:
    if isinstance(value, str):
        value = _json(value)
    if not isinstance(value, list | tuple) or len(value) < 3:
        raise ValueError(f"expected a polygon: a list of at least 3 [x, y] points, got {_shown(value)}")
    for number, point in enumerate(value, start=1):
        if not (isinstance(point, list | tuple) and len(point) == 2 and all(_fraction(c) for c in point)):
            raise ValueError(
                f"point {number} is {_shown(point)}; expected [x, y], each a number from 0 to 1 "
                f"(a fraction of the frame's width and height)"
            )
    return tuple((float(x), float(y)) for x, y in value)


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _zones(value: object) -> dict[str, tuple[tuple[float, float], ...]]:
    if isinstance(value, str):
        value = _json(value)
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list | tuple) and all(isinstance(p, list | tuple) and len(p) == 2 for p in value):
        pairs = list(value)  # a Parquet map column arrives as (key, value) pairs
    else:
        raise ValueError(f"expected a mapping of zone id to polygon, got {_shown(value)}")
    zones = {}
    for zone_id, polygon in pairs:
        if not isinstance(zone_id, str) or not zone_id.strip():
            raise ValueError(f"zone id {_shown(zone_id)} is not text; expected a mapping of zone id to polygon")
        if zone_id.strip() in zones:
            raise ValueError(f"zone {zone_id.strip()} is given twice")
        try:
            zones[zone_id.strip()] = _polygon(polygon)
        except ValueError as err:
            raise ValueError(f"zone {zone_id.strip()}: {err}") from None
    return zones


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"expected JSON text, got {_shown(text)} ({err.msg})") from None


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _key(schema: pa.Schema, raw: object) -> str | None:
    """The row's id when readable, so a refused camera row can still quarantine that camera's footage."""
    raw = raw.row if isinstance(raw, _Refused) else raw
    value = raw.get(schema.names[0]) if isinstance(raw, dict) else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read(schema: pa.Schema, data: bytes, name: str) -> list[tuple[int, object]]:
    """Raw rows with their 1-based line (row number in Parquet), by the file name's extension."""
    suffix = next((s for s in FORMATS if name.lower().endswith(s)), None)
    if suffix is None:
        raise RegistryError(f"{name}:1: unknown registry format; expected a name ending in {', '.join(FORMATS)}")
    if suffix == ".parquet":
        return _read_parquet(schema, data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RegistryError(f"{name}:{line}: not UTF-8 text") from err
    if suffix in (".yaml", ".yml"):
        return _read_yaml(text, name)
    if suffix == ".csv":
        return _read_csv(schema, text, name)
    if suffix == ".json" and text.lstrip().startswith("["):
        return _read_json_array(text, name)
    return _read_json_lines(text)


def _read_yaml(text: str, name: str) -> list[tuple[int, object]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise RegistryError(f"{name}:{node.start_mark.line + 1}: expected a YAML list with one mapping per row")
        rows = loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or err
        raise RegistryError(f"{name}:{mark.line + 1 if mark else 1}: not YAML: {problem}") from err
    finally:
        loader.dispose()
    read = []
    for item, row in zip(node.value, rows):
        keys = [k.value for k, _ in item.value] if isinstance(item, yaml.MappingNode) else []
        twice = next((k for k in keys if keys.count(k) > 1), None)
        # PyYAML silently keeps the last of a repeated key; which one the operator meant is unknown.
        read.append((item.start_mark.line + 1, _Refused(twice, "column given twice", row) if twice else row))
    return read


class _Loader(yaml.SafeLoader):
    """SafeLoader whose malformed timestamps stay text, so one bad date refuses its row and not the file."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _read_csv(schema: pa.Schema, text: str, name: str) -> list[tuple[int, object]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        header = [column.strip() for column in next(reader, [])]
        _require_columns(schema, header, name)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num  # a quoted cell may span lines: report where the row starts
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                message = f"has {len(cells)} values, but the header names {len(header)} columns"
                rows.append((start, _Refused(None, message, dict(zip(header, cells)))))
            else:
                rows.append((start, dict(zip(header, cells))))
    except csv.Error as err:
        raise RegistryError(f"{name}:{reader.line_num}: not CSV: {err}") from err
    return rows


def _read_json_lines(text: str) -> list[tuple[int, object]]:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                rows.append((number, _Refused(None, f"not JSON ({err.msg}); expected one JSON object per line")))
    return rows


def _read_json_array(text: str, name: str) -> list[tuple[int, object]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise RegistryError(f"{name}:{err.lineno}: not JSON: {err.msg}") from err
    decoder, pos, lines = json.JSONDecoder(), text.index("[") + 1, []
    for _ in items:  # the text is valid JSON, so each item starts after "[" or "," and blanks
        while text[pos] in " \t\r\n,":
            pos += 1
        lines.append(text.count("\n", 0, pos) + 1)
        pos = decoder.raw_decode(text, pos)[1]
    return list(zip(lines, items))


def _read_parquet(schema: pa.Schema, data: bytes, name: str) -> list[tuple[int, object]]:
    try:
        table = table_from_bytes(data)
    except (pa.ArrowException, OSError) as err:
        raise RegistryError(f"{name}:1: not a Parquet file: {err}") from err
    _require_columns(schema, table.column_names, name)
    return list(enumerate(table.to_pylist(), start=1))


def _require_columns(schema: pa.Schema, columns: list[str], name: str) -> None:
    """Refuse a file whose header repeats a column or lacks a required one: every row would be wrong."""
    if not columns:
        raise RegistryError(f"{name}:1: no header row; expected columns {', '.join(schema.names)}")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise RegistryError(f"{name}:1: header repeats column(s) {', '.join(twice)}")
    missing = [f.name for f in schema if not f.nullable and f.name not in columns]
    if missing:
        raise RegistryError(f"{name}:1: header lacks required column(s) {', '.join(missing)}")
