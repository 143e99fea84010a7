"""Which camera recorded an input and when: manifest rows, path templates, container tags."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import uuid
from collections.abc import Mapping

Identity = tuple[str | None, dt.datetime | None]
MANIFEST_FIELDS = ("path", "camera_id", "start_time")

_PLACEHOLDERS = {
    "camera_id": r"(?P<camera_id>[^/!]+?)",
    "date": r"(?P<date>\d{4}-?\d{2}-?\d{2})",
    "time": r"(?P<time>\d{2}[-:_]?\d{2}[-:_]?\d{2})",
    "start_time": r"(?P<start_time>\d{4}-?\d{2}-?\d{2}[T_ ]?\d{2}[-:]?\d{2}[-:]?\d{2}(?:Z|[+-]\d{2}:?\d{2})?)",
}


def media_id(origin_uri: str) -> str:
    """A stable id for an input, from where it came from."""
    return hashlib.sha256(origin_uri.encode()).hexdigest()[:16]


class ManifestError(ValueError):
    """A manifest that cannot be read, with file and line."""


def parse_time(text: str) -> dt.datetime:
    """An ISO-like timestamp (separators optional) as an aware datetime; naive means UTC."""
    compact = re.fullmatch(
        r"(\d{4})-?(\d{2})-?(\d{2})[T_ ]?(\d{2})[-:_]?(\d{2})[-:_]?(\d{2})(\.\d+)?"
        r"(Z|[+-]\d{2}:?\d{2})?",
        text.strip(),
    )
    if not compact:
        raise ValueError(f"not a timestamp: {text!r}")
    y, mo, d, h, mi, s, frac, zone = compact.groups()
    value = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(float(frac) * 1e6) if frac else 0)
    if zone in (None, "Z"):
        return value.replace(tzinfo=dt.UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value.replace(tzinfo=dt.timezone(sign * offset)).astimezone(dt.UTC)


def parse_moment(text: str) -> dt.datetime:
    """A date (the start of that day, UTC) or a timestamp as parse_time takes it, as an aware datetime."""
    day = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
    if day:
        try:
            return dt.datetime(*map(int, day.groups()), tzinfo=dt.UTC)
        except ValueError as err:
            raise ValueError(f"not a date: {text!r} ({err})") from None
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(
            f"not a date or timestamp: {text!r} (give 2026-12-01, 2026-12-01T08:00:00Z or 2026-12-01T08:00:00+08:00)"
        ) from None


def parse_manifest(text: str, name: str) -> dict[str, Identity]:
    """Manifest rows (CSV with a header, or JSON Lines) keyed by path; ``name`` is used in errors."""
    rows: list[tuple[int, Mapping[str, str]]]
    if name.endswith((".jsonl", ".json", ".ndjson")):
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((line_no, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise ManifestError(f"{name}:{line_no}: not JSON: {err.msg}") from err
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in MANIFEST_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{name}:1: header lacks column(s) {', '.join(missing)}")
        rows = [(i, row) for i, row in enumerate(reader, start=2)]
    manifest: dict[str, Identity] = {}
    for line_no, row in rows:
        path = str(row.get("path") or "").strip()
        if not path:
            raise ManifestError(f"{name}:{line_no}: field 'path' is empty")
        camera = str(row.get("camera_id") or "").strip() or None
        start_text = str(row.get("start_time") or "").strip()
        try:
            start = parse_time(start_text) if start_text else None
        except ValueError as err:
            raise ManifestError(f"{name}:{line_no}: field 'start_time': {err}") from err
        manifest[path.replace("\\", "/")] = (camera, start)
    return manifest


def lookup_manifest(manifest: Mapping[str, Identity], origin_uri: str) -> Identity | None:
    """The manifest row for an input: exact path, else the longest row path the input ends with."""
    if origin_uri in manifest:
        return manifest[origin_uri]
    best = None
    for path, identity in manifest.items():
        if origin_uri.endswith("/" + path.lstrip("/")) or origin_uri.endswith("!" + path):
            if best is None or len(path) > len(best[0]):
                best = (path, identity)
    return best[1] if best else None


def compile_template(template: str) -> re.Pattern[str]:
    """A regular expression for a path template such as ``{camera_id}/{date}/{time}.mp4``.

    Known placeholders: camera_id, date, time, start_time; any other ``{name}`` matches one path part.
    The template is matched against the end of the input's path.
    """
    pattern, pos = "", 0
    for match in re.finditer(r"\{(\w+)\}", template):
        pattern += re.escape(template[pos : match.start()])
        key = match.group(1)
        pattern += _PLACEHOLDERS.get(key, r"[^/!]+?")
        pos = match.end()
    pattern += re.escape(template[pos:])
    if "camera_id" not in pattern and "start_time" not in pattern and "date" not in pattern:
        raise ValueError(f"path template {template!r} names none of camera_id, date, time, start_time")
    return re.compile(r"(?:^|/|!)" + pattern + r"$")


def match_template(pattern: re.Pattern[str], origin_uri: str) -> Identity | None:
    """Camera and start time read from an input's path, or None when the path does not fit the template."""
    match = pattern.search(origin_uri)
    if not match:
        return None
    fields = match.groupdict()
    start = None
    try:
        if fields.get("start_time"):
            start = parse_time(fields["start_time"])
        elif fields.get("date"):
            start = parse_time(fields["date"] + "T" + (fields.get("time") or "000000"))
    except ValueError:
        return None
    return fields.get("camera_id"), start


def new_run_id() -> str:
    """A run id: the UTC time, sortable, and a random suffix so that two runs started in one second differ."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
