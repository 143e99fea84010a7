"""The run report: Article 15's impact-assessment record of one run, and Article 16's filing threshold.

Read back from the run's tables (every run's face_tracks for the Article 16 count) and published as
OUTPUT/reports/<run_id>/report.json and report.html, beside validation.json and the Data Docs. It holds
counts only: no pixels, no face crops and no account ids, since compliance officers and auditors read it.
"""

from __future__ import annotations

import collections
import datetime as dt
import html
import json
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from schemas.codes import IN_WORDS, Action, ArtifactKind, QuarantineReason
from schemas.registries import Camera, Registry, RegistryIssue
from transforms.logic.retention import default_policy
from transforms.services import layout, storage
from transforms.services.table_files import read_table

FILING_THRESHOLD = 10_000
"""Article 16: filing is due once the faces of more than this many distinct people are stored."""

RUN_COUNTS = ("inputs", "anonymized", "quarantined", "skipped", "frames")
VALIDATION_LINK = layout.VALIDATION_FILE
DATA_DOCS_LINK = layout.DATA_DOCS_FROM_REPORT
UNKNOWN_CAMERA = "unknown"
PERSONAL_REGISTRIES = frozenset({"sessions", "consents"})
"""Registries whose rows are about people: their issue messages quote account ids and values, so stay out."""
WITHHELD = "details withheld (personal data): see the registry file at this line"


def build_report(output: str, run_id: str, registry: Registry, measures: dict) -> dict:
    """The run report as plain JSON-able data, read back from the run's tables (and all runs' for Article 16)."""
    run = _run_row(output, run_id)
    media, quarantine = _rows(output, "media", run_id), _rows(output, "quarantine", run_id)
    tracks = read_table(output, "face_tracks", run_id)
    camera_of = _camera_of_media(media)
    involved = sorted(({camera_of.get(r["media_id"]) for r in media} | {r["camera_id"] for r in quarantine}) - {None})
    registered = [registry.cameras[c] for c in involved if c in registry.cameras]
    accounts_all_runs = _kept_accounts(read_table(output, "face_tracks"))
    restricted = _rows(output, "restricted", run_id)
    track_rows = tracks.to_pylist() if tracks is not None else []
    processed = {camera_of.get(r["media_id"]) for r in media}
    refused = {r["camera_id"] for r in quarantine}
    return {
        "run_id": run_id,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "started_at": run["started_at"].isoformat(),
        "finished_at": run["finished_at"].isoformat(),
        "counts": {name: run[name] for name in RUN_COUNTS},
        "purpose": {
            "cameras": [_camera_purpose(c) for c in registered],
            "unregistered": sorted(c for c in processed - {None} if c not in registry.cameras),
            "unregistered_quarantined": sorted(c for c in refused - processed - {None} if c not in registry.cameras),
            "unknown_camera_inputs": sum(camera_of.get(r["media_id"]) is None for r in media),
        },
        "inputs": [_input(r, track_rows) for r in sorted(media, key=lambda r: r["input_uri"])],
        "quarantined": [
            {
                "input_uri": r["input_uri"],
                "camera_id": r["camera_id"],
                "reason_code": r["reason_code"],
                "reason": IN_WORDS.get(r["reason_code"], r["reason_code"]),
                "message": r["message"],
            }
            for r in sorted(quarantine, key=lambda r: r["input_uri"])
        ],
        "faces": _faces(track_rows, camera_of),
        "accounts_kept": _kept_accounts(tracks),
        "accounts_kept_all_runs": accounts_all_runs,
        "filing_threshold": FILING_THRESHOLD,
        "filing_required": accounts_all_runs > FILING_THRESHOLD,
        "restricted_copies": {"count": len(restricted), "accounts": len({r["account_id"] for r in restricted})},
        "prohibited_location_incidents": [
            {"input_uri": r["input_uri"], "camera_id": r["camera_id"], "message": r["message"]}
            for r in quarantine
            if r["reason_code"] == QuarantineReason.PROHIBITED_LOCATION
        ],
        # Article 7 asks for signs in public places; a service or staff camera without one is worth a look too.
        "signage_missing": [{"camera_id": c.camera_id, "site": c.site} for c in registered if not c.signage],
        "registry_issues": [_issue(i) for i in registry.issues],
        "quarantined_by_reason": _count(r["reason_code"] for r in quarantine),
        "protective_measures": {**measures, "retention_by_camera": {c.camera_id: _retention(c) for c in registered}},
        "validation": _validation(output, run_id),
        "data_docs": DATA_DOCS_LINK if FileSystems.exists(layout.data_docs_index(output)) else None,
    }


def _run_row(output: str, run_id: str) -> dict:
    runs = read_table(output, "runs", run_id)
    if runs is None or not runs.num_rows:
        raise ValueError(f"run {run_id} has no row in the runs table under {output}")
    return runs.to_pylist()[0]


def _rows(output: str, table: str, run_id: str) -> list[dict]:
    found = read_table(output, table, run_id)
    return found.to_pylist() if found is not None else []


def _camera_of_media(media: list[dict]) -> dict[str, str | None]:
    return {r["media_id"]: r["camera_id"] for r in media}


def _input(row: dict, tracks: list[dict]) -> dict:
    """One anonymized input: where it went, its camera and frames, and its tracks (kept or redacted, and why)."""
    own = sorted((t for t in tracks if t["media_id"] == row["media_id"]), key=lambda t: t["first_frame"])
    return {
        "input_uri": row["input_uri"],
        "output_uri": row["output_uri"],
        "camera_id": row["camera_id"],
        "camera_known": row["camera_known"],
        "frames": row["frames"],
        "tracks_kept": row["tracks_kept"],
        "tracks_redacted": row["tracks_redacted"],
        "reasons": _count(t["reason_code"] for t in own),
        "timeline": [[t["first_frame"], t["last_frame"], t["action"]] for t in own],
    }


def _camera_purpose(camera: Camera) -> dict:
    return {
        "camera_id": camera.camera_id,
        "site": camera.site,
        "location_category": camera.location_category,
        "purpose": str(camera.purpose),
        "signage": camera.signage,
    }


def _faces(tracks: list[dict], camera_of: dict[str, str | None]) -> dict:
    kept = [t for t in tracks if t["action"] == Action.KEEP]
    redacted = [t for t in tracks if t["action"] == Action.REDACT]
    return {
        "tracks_kept": len(kept),
        "tracks_redacted": len(redacted),
        "redacted_by_reason": _count(t["reason_code"] for t in redacted),
        "kept_by_camera": _count(camera_of.get(t["media_id"]) or UNKNOWN_CAMERA for t in kept),
        "by_camera": {
            camera: {
                action: sum(
                    (camera_of.get(t["media_id"]) or UNKNOWN_CAMERA) == camera and t["action"] == action for t in tracks
                )
                for action in (Action.KEEP.value, Action.REDACT.value)
            }
            for camera in sorted({camera_of.get(t["media_id"]) or UNKNOWN_CAMERA for t in tracks})
        },
    }


def _kept_accounts(tracks: pa.Table | None) -> int:
    """Distinct accounts with a kept face track, counted in Arrow since every run's tracks can be many."""
    if tracks is None:
        return 0
    kept = tracks.filter(pc.equal(tracks["action"], Action.KEEP.value))
    return len(pc.unique(pc.drop_null(kept["account_id"])))


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(collections.Counter(values).items()))


def _retention(camera: Camera) -> dict:
    """The camera's windows in force: its registry's days, else the policy's for its purpose, capped."""
    policy = default_policy()
    return {
        "raw_retention_days": policy.window(ArtifactKind.RAW_INPUT, camera),
        "anonymized_retention_days": policy.window(ArtifactKind.PUBLIC_COPY, camera),
        "restricted_retention_days": policy.window(ArtifactKind.RESTRICTED_COPY, camera),
    }


def _issue(issue: RegistryIssue) -> dict:
    """A registry issue without its key (a person's session or consent id) and, for people's rows, its message."""
    message = WITHHELD if issue.registry in PERSONAL_REGISTRIES else issue.message
    return {
        "registry": issue.registry,
        "file": issue.file,
        "line": issue.line,
        "field": issue.field,
        "message": message,
    }


def _validation(output: str, run_id: str) -> dict | None:
    uri = layout.validation_uri(output, run_id)
    if not FileSystems.exists(uri):
        return None
    with FileSystems.open(uri) as handle:
        summary = json.loads(handle.read())
    failed = [e for e in summary["expectations"] if not e["success"]]
    return {
        "passed": summary["passed"],
        "failed_expectations": len(failed),
        "failed": [
            {
                "table": e["table"],
                "column": e["column"],
                "expectation": e["expectation"],
                "article": e["article"],
                "severity": "critical" if e["critical"] else "warning",
                "why": e["why"],
                "rows": len(e["failing_rows"]),
            }
            for e in failed
        ],
        "link": VALIDATION_LINK,
    }


def warnings_in(report: dict) -> list[str]:
    """What a reader must act on: filing, private locations, signage, registry rows, a failed validation."""
    found = []
    if report["filing_required"]:
        found.append(
            f"Article 16: faces of {report['accounts_kept_all_runs']} distinct accounts are stored "
            f"across all runs, more than {report['filing_threshold']}: file with the city-level "
            f"cyberspace department within 30 working days."
        )
    for incident in report["prohibited_location_incidents"]:
        found.append(f"Article 6: {incident['input_uri']} was quarantined: {incident['message']}")
    for camera in report["signage_missing"]:
        found.append(f"Article 7: camera {camera['camera_id']} at {camera['site']} has no warning signage registered.")
    for issue in report["registry_issues"]:
        where = f"{issue['file']}:{issue['line']}" if issue["line"] is not None else issue["file"]
        found.append(f"Registry {issue['registry']}, {where}, {issue['field'] or 'row'}: {issue['message']}")
    if report["protective_measures"].get("keystore_beside_data"):
        found.append(
            "Article 17: the key store lies under the output root, so whoever can read the restricted "
            "copies can read their keys too; keep it elsewhere (--keystore) outside a demo."
        )
    validation = report["validation"]
    if validation is not None and not validation["passed"]:
        for e in validation["failed"]:
            if e["severity"] == "critical":
                found.append(
                    f"Validation failed: {e['table']}.{e['column'] or '*'} {e['expectation']} (Article {e['article']}: "
                    f"{e['why']}) on {e['rows']} row(s)."
                )
    return found


STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.verdict { padding: .8em 1em; border-radius: 6px; font-weight: 600; }
.ok { background: #e6f4ea; color: #1e4620; } .warn { background: #fdecea; color: #611a15; }
.warnings { padding: 0; } .warnings li { list-style: none; margin: .3em 0; padding: .3em .6em;
  background: #fff4e5; border-left: 4px solid #e65100; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #ddd; padding: .3em .7em; }
th { background: #f5f5f5; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
td { overflow-wrap: anywhere; } .chart { display: block; margin: .5em 0; }
.legend span { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 .3em 0 .8em; }
"""


MEASURE_LABELS = {
    "redaction_mode": "how faces are destroyed",
    "encryption": "restricted copies are encrypted with",
    "keystore": "key store",
    "keystore_beside_data": "key store kept under the output root (a demo only)",
    "leak_audit_rate": "share of redacted frames audited for leaks",
    "zone_share": "share of a track's detections that must lie in a session's zone",
    "private_categories": "location categories never processed (Article 6)",
    "audio_kept": "audio kept",
}
"""The protective measures in words, for the compliance officer who reads the page."""
KEPT_COLOUR, REDACTED_COLOUR = "#2e7d32", "#78909c"
TIMELINE_INPUTS = 20
"""Inputs the timeline draws; the inputs table lists them all."""
LEGEND = (
    f'<p class="legend"><span style="background:{KEPT_COLOUR}"></span> kept (sealed copy only) '
    f'<span style="background:{REDACTED_COLOUR}"></span> redacted</p>'
)


def _local(moment: str) -> str:
    """An ISO timestamp as local time to the second, with its zone."""
    return dt.datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _reasons(counts: dict[str, int]) -> str:
    return "; ".join(f"{IN_WORDS.get(code, code)} ({n})" for code, n in counts.items())


def _action_word(action: str) -> str:
    return "kept" if action == Action.KEEP else "redacted"


def _camera_chart(by_camera: dict[str, dict[str, int]]) -> str:
    """Tracks kept and redacted per camera, as inline SVG bars."""
    if not by_camera:
        return ""
    widest = max(sum(c.values()) for c in by_camera.values()) or 1
    scale, row, label = 420 / widest, 24, 160
    bars = []
    for i, (camera, counts) in enumerate(by_camera.items()):
        y, x = i * row, label
        bars.append(f'<text x="0" y="{y + 16}">{_e(camera)}</text>')
        for action, colour in ((Action.KEEP.value, KEPT_COLOUR), (Action.REDACT.value, REDACTED_COLOUR)):
            width = counts[action] * scale
            if counts[action]:
                bars.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="16" fill="{colour}">'
                    f"<title>{_e(camera)}: {counts[action]} track(s) {_action_word(action)}</title></rect>"
                )
            x += width
        bars.append(
            f'<text x="{x + 6:.1f}" y="{y + 16}">{counts[Action.KEEP.value]} kept, '
            f"{counts[Action.REDACT.value]} redacted</text>"
        )
    return (
        f'<svg class="chart" role="img" aria-label="Face tracks by camera, kept and redacted" width="760" '
        f'height="{len(by_camera) * row + 4}" font-size="13">{"".join(bars)}</svg>'
    )


def _lanes(timeline: list) -> tuple[list[tuple[int, int, str, int]], int]:
    """Each track with the lane it is drawn in (overlapping tracks in different lanes), and the number of lanes."""
    ends: list[int] = []
    placed = []
    for first, last, action in timeline:
        lane = next((n for n, end in enumerate(ends) if end < first), len(ends))
        if lane == len(ends):
            ends.append(last)
        ends[lane] = last
        placed.append((first, last, action, lane))
    return placed, max(len(ends), 1)


def _timeline_chart(inputs: list[dict]) -> str:
    """Each input's tracks along its frames, kept and redacted, as inline SVG (the first TIMELINE_INPUTS)."""
    shown = [i for i in inputs if i["timeline"]][:TIMELINE_INPUTS]
    if not shown:
        return ""
    width, label, lane, gap = 480, 260, 7, 10
    parts, y = [], 0
    for item in shown:
        placed, lanes = _lanes(item["timeline"])
        height = lanes * lane
        scale = width / max(item["frames"], 1)
        name = item["input_uri"].rstrip("/").rsplit("/", 1)[-1]
        parts.append(
            f'<text x="0" y="{y + min(height, 12)}"><title>{_e(item["input_uri"])}</title>{_e(name[:34])}</text>'
        )
        parts.append(f'<rect x="{label}" y="{y}" width="{width}" height="{height}" fill="#eeeeee"/>')
        for first, last, action, n in placed:
            colour = KEPT_COLOUR if action == Action.KEEP else REDACTED_COLOUR
            parts.append(
                f'<rect x="{label + first * scale:.1f}" y="{y + n * lane}" '
                f'width="{max((last - first + 1) * scale, 1):.1f}" height="{lane - 1}" fill="{colour}">'
                f"<title>frames {first}-{last}: {_action_word(action)}</title></rect>"
            )
        y += height + gap
    return (
        f'<svg class="chart" role="img" aria-label="Face tracks along the frames of each input" width="760" '
        f'height="{y}" font-size="12">{"".join(parts)}</svg>'
    )


def render_html(report: dict) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, links only to files in the report's folder."""
    found = warnings_in(report)
    verdict = (
        f'<p class="verdict warn">{len(found)} warning(s) need attention</p>'
        if found
        else '<p class="verdict ok">No warnings</p>'
    )
    faces, copies = report["faces"], report["restricted_copies"]
    purpose, counts = report["purpose"], report["counts"]
    took = dt.datetime.fromisoformat(report["finished_at"]) - dt.datetime.fromisoformat(report["started_at"])
    measures = {
        MEASURE_LABELS.get(k, k): ("yes" if v is True else "no" if v is False else v)
        for k, v in report["protective_measures"].items()
        if k != "retention_by_camera"
    }
    timeline = _timeline_chart(report["inputs"])
    parts = [
        f"<h1>Run report {_e(report['run_id'])}</h1>",
        verdict,
        f"<p>Started {_e(_local(report['started_at']))}, finished {_e(_local(report['finished_at']))} "
        f"({took.total_seconds():.0f} s); report written {_e(_local(report['generated_at']))}.</p>",
        "<h2>Warnings</h2>",
        f'<ul class="warnings">{"".join(f"<li>{_e(w)}</li>" for w in found)}</ul>' if found else "<p>None.</p>",
        "<h2>Summary</h2>",
        _pairs(
            {
                "inputs": counts["inputs"],
                "anonymized": counts["anonymized"],
                "quarantined (not processed)": counts["quarantined"],
                "skipped (done before with the same settings)": counts["skipped"],
                "frames": counts["frames"],
                "face tracks redacted": faces["tracks_redacted"],
                "face tracks kept (sealed copies only)": faces["tracks_kept"],
            }
        ),
        "<h2>Inputs and their outputs</h2>",
        _table(
            ["input", "output", "camera", "frames", "tracks kept", "tracks redacted", "why"],
            [
                [
                    i["input_uri"],
                    i["output_uri"],
                    i["camera_id"] or "unknown",
                    i["frames"],
                    i["tracks_kept"],
                    i["tracks_redacted"],
                    _reasons(i["reasons"]),
                ]
                for i in report["inputs"]
            ],
        ),
        f"<h3>Face tracks along each input</h3>{LEGEND}{timeline}" if timeline else "",
        "<h2>Quarantined inputs</h2>",
        _table(
            ["input", "camera", "why", "details"],
            [[q["input_uri"], q["camera_id"], q["reason"], q["message"]] for q in report["quarantined"]],
        ),
        "<h2>Cameras involved (Articles 7, 8, 15)</h2>",
        _table(
            ["camera", "site", "location", "purpose", "signage"],
            [
                [c["camera_id"], c["site"], c["location_category"], c["purpose"], "yes" if c["signage"] else "NO"]
                for c in purpose["cameras"]
            ],
            "No registered camera is involved.",
        ),
        _cameras_text(purpose),
        "<h2>Faces</h2>",
        LEGEND + _camera_chart(faces["by_camera"]) if faces["by_camera"] else "",
        _table(
            ["why redacted", "tracks"],
            [[IN_WORDS.get(code, code), n] for code, n in faces["redacted_by_reason"].items()],
            "No face was redacted.",
        ),
        _table(["camera keeping faces", "tracks kept"], list(faces["kept_by_camera"].items()), "No face was kept."),
        "<h2>Stored faces (Article 16)</h2>",
        _pairs(
            {
                "accounts with kept faces, this run": report["accounts_kept"],
                "accounts with kept faces, all runs": report["accounts_kept_all_runs"],
                "filing threshold": report["filing_threshold"],
                "filing required": "YES" if report["filing_required"] else "no",
                "restricted copies": copies["count"],
                "accounts with restricted copies": copies["accounts"],
            }
        ),
        "<h2>Protective measures</h2>",
        _pairs(measures),
        _table(
            ["camera", "raw footage kept (days)", "public copies kept (days)", "restricted copies kept (days)"],
            [
                [c, r["raw_retention_days"], r["anonymized_retention_days"], r["restricted_retention_days"]]
                for c, r in report["protective_measures"]["retention_by_camera"].items()
            ],
        ),
        "<h2>Validation</h2>",
        _validation_html(report),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Veil run report {_e(report['run_id'])}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _cameras_text(purpose: dict) -> str:
    """What the registries did not say about the cameras, in words."""
    lines = []
    if purpose["unknown_camera_inputs"]:
        lines.append(
            f"Inputs whose camera is unknown (no manifest row or path match): {purpose['unknown_camera_inputs']}; "
            "every face in them was redacted."
        )
    if purpose["unregistered"]:
        lines.append(
            f"Cameras not in the camera registry: {', '.join(purpose['unregistered'])}; every face in their footage "
            "was redacted."
        )
    if purpose["unregistered_quarantined"]:
        lines.append(
            "Cameras not in the camera registry whose footage was quarantined, not processed: "
            f"{', '.join(purpose['unregistered_quarantined'])}."
        )
    if not lines:
        lines.append("Every camera involved is registered.")
    return "".join(f"<p>{_e(line)}</p>" for line in lines)


def _validation_html(report: dict) -> str:
    validation, docs = report["validation"], report["data_docs"]
    if validation is None:
        text = "<p>This run has not been validated yet.</p>"
    else:
        verdict = "Passed" if validation["passed"] else "FAILED"
        text = (
            f"<p>{verdict}: {_e(validation['failed_expectations'])} expectation(s) did not hold "
            f'(<a href="{_e(validation["link"])}">validation summary</a>).</p>'
        )
        if validation["failed"]:
            text += _table(
                ["table.column", "expectation", "article", "severity", "why it matters", "rows"],
                [
                    [
                        f"{e['table']}.{e['column'] or '*'}",
                        e["expectation"],
                        e["article"],
                        e["severity"],
                        e["why"],
                        e["rows"],
                    ]
                    for e in validation["failed"]
                ],
            )
    if docs is not None:
        text += f'<p><a href="{_e(docs)}">Data Docs</a></p>'
    return text


def _pairs(values: dict) -> str:
    """A two-column table of labels and values."""
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th>{_cell(v)}</tr>" for k, v in values.items()) + "</table>"


def _table(headers: list[str], rows: list, empty: str = "None.") -> str:
    if not rows:
        return f"<p>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="n">{_e(value)}</td>' if numeric else f"<td>{_e(value)}</td>"


def _e(value) -> str:
    """A value as escaped HTML text; lists join with commas, None reads as a dash."""
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def write_report(output: str, run_id: str, report: dict, render=None) -> tuple[str, str]:
    """Publish report.json and report.html (by ``render``, the run report's by default) under
    OUTPUT/reports/<run_id>/ atomically; returns their URIs."""
    folder = layout.report_folder(output, run_id)
    json_uri, html_uri = storage.join(folder, "report.json"), layout.report_page(output, run_id)
    storage.publish_bytes(json.dumps(report, indent=1, ensure_ascii=False, default=str).encode(), json_uri)
    storage.publish_bytes((render or render_html)(report).encode(), html_uri)
    return json_uri, html_uri


def retention_report(run_id: str, as_of: dt.datetime, rows: list[dict], due_soon: list[str], working_days: int) -> dict:
    """A retention run's report: what it did, what is overdue (must be none), what falls due soon, what is held."""

    def listed(selected):
        return [
            {k: r[k] for k in ("artifact_id", "kind", "action", "rule", "due_at", "status", "note")} for r in selected
        ]

    return {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "counts": dict(collections.Counter(r["status"] for r in rows)),
        "overdue": listed(r for r in rows if r["overdue"]),
        "due_soon_working_days": working_days,
        "due_soon": listed(r for r in rows if r["artifact_id"] in due_soon and not r["overdue"]),
        "held": listed(r for r in rows if r["status"] == "held"),
        "refused": listed(r for r in rows if r["status"] == "refused"),
        "done": listed(r for r in rows if r["status"] == "done"),
    }


def render_retention_html(report: dict) -> str:
    """The retention report as one self-contained page."""
    overdue, refused = report["overdue"], report["refused"]
    verdict = (
        f'<p class="verdict warn">{len(overdue)} overdue: deadlines missed or about to be</p>'
        if overdue
        else '<p class="verdict ok">Nothing overdue</p>'
    )
    if refused:
        verdict += (
            f'<p class="verdict warn">{len(refused)} refused: the catalog does not name the file '
            "unambiguously; an operator must act</p>"
        )
    headers = ["action", "kind", "artifact", "rule", "due", "status", "note"]

    def table(rows):
        return _table(
            headers,
            [
                [r["action"], r["kind"], r["artifact_id"], r["rule"], str(r["due_at"])[:10], r["status"], r["note"]]
                for r in rows
            ],
        )

    parts = [
        f"<h1>Retention run {_e(report['run_id'])}</h1>",
        verdict,
        f"<p>As of {_e(report['as_of'])}; generated {_e(report['generated_at'])}.</p>",
        "<h2>Actions by status</h2>",
        _pairs(report["counts"]),
        "<h2>Overdue</h2>",
        table(overdue),
        f"<h2>Due within {_e(report['due_soon_working_days'])} working days</h2>",
        table(report["due_soon"]),
        "<h2>Legal holds</h2>",
        table(report["held"]),
        "<h2>Refused</h2>",
        table(refused),
        "<h2>Done by this run</h2>",
        table(report["done"]),
        f'<p><a href="{VALIDATION_LINK}">validation summary</a> · <a href="{DATA_DOCS_LINK}">Data Docs</a></p>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Veil retention run {_e(report['run_id'])}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def stream_report(output: str, stream_id: str) -> dict:
    """A streaming job's report so far: its windows (with each one's validation), and totals over its runs."""
    windows = read_table(output, "stream_windows")
    rows = [r for r in (windows.to_pylist() if windows is not None else []) if r["stream_id"] == stream_id]
    runs = read_table(output, "runs")
    mine = [r for r in (runs.to_pylist() if runs is not None else []) if r["run_id"].startswith(stream_id + "-")]
    totals = {
        key: sum(r[key] for r in mine)
        for key in ("inputs", "anonymized", "quarantined", "skipped", "frames", "faces_redacted", "tracks_kept")
    }
    return {
        "stream_id": stream_id,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "recordings": len(mine),
        "totals": totals,
        "windows": [
            {
                **{
                    k: r[k]
                    for k in (
                        "window_start",
                        "window_end",
                        "pane",
                        "timing",
                        "recordings",
                        "anonymized",
                        "quarantined",
                        "frames",
                        "faces_redacted",
                        "lag_median_s",
                        "lag_max_s",
                        "runs_passed",
                        "runs_failed",
                    )
                },
                "validation": _validation(output, r["run_id"]),
            }
            for r in sorted(rows, key=lambda r: r["window_start"])
        ],
    }


def render_stream_html(report: dict) -> str:
    """The stream report as one self-contained page."""
    failed = [w for w in report["windows"] if not (w["validation"] or {}).get("passed")]
    verdict = (
        f'<p class="verdict warn">{len(failed)} window(s) failed validation or are not validated yet</p>'
        if failed
        else '<p class="verdict ok">Every window passed validation</p>'
    )
    parts = [
        f"<h1>Stream {_e(report['stream_id'])}</h1>",
        verdict,
        f"<p>Report generated {_e(report['generated_at'])}; {report['recordings']} recording(s) so far.</p>",
        "<h2>Totals</h2>",
        _pairs(report["totals"]),
        "<h2>Windows (event time: recording start)</h2>",
        _table(
            [
                "start",
                "end",
                "pane",
                "timing",
                "recordings",
                "anonymized",
                "quarantined",
                "frames",
                "faces redacted",
                "lag median (s)",
                "lag max (s)",
                "runs passed",
                "runs failed",
                "validated",
            ],
            [
                [
                    w["window_start"],
                    w["window_end"],
                    w["pane"],
                    w["timing"],
                    w["recordings"],
                    w["anonymized"],
                    w["quarantined"],
                    w["frames"],
                    w["faces_redacted"],
                    round(w["lag_median_s"], 1),
                    round(w["lag_max_s"], 1),
                    w["runs_passed"],
                    w["runs_failed"],
                    "yes" if (w["validation"] or {}).get("passed") else "NO",
                ]
                for w in report["windows"]
            ],
        ),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Veil stream {_e(report['stream_id'])}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
