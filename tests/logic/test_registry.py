"""Registry files: every format reads the same, bad rows are refused and located, cross-checks only narrow."""

import copy
import csv
import datetime as dt
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from schemas.codes import ConsentKind, Purpose
from schemas.registries import REGISTRIES, Camera, Consent, Registry, Session
from transforms.logic.registry import RegistryError, load_registry, parse_registry

UTC = dt.UTC
FULL = [[0, 0], [1, 0], [1, 1], [0, 1]]
DESK = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]
DOOR = [[0.6, 0.2], [0.9, 0.2], [0.9, 0.9], [0.6, 0.9]]


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


ROWS = {
    "cameras": [
        {
            "camera_id": "cam1",
            "site": "shop",
            "location_category": "lobby",
            "purpose": "service",
            "signage": True,
            "capture_area": FULL,
            "zones": {"desk": DESK, "door": DOOR},
            "raw_retention_days": 30,
            "anonymized_retention_days": 365,
        },
        {
            "camera_id": "cam2",
            "site": "shop",
            "location_category": "corridor",
            "purpose": "public_safety",
            "signage": False,
            "capture_area": DESK,
        },
    ],
    "sessions": [
        {
            "session_id": "s1",
            "account_id": "a1",
            "camera_id": "cam1",
            "start": at(10, 9),
            "end": at(10, 10),
            "zone_id": "desk",
            "consent_id": "c1",
            "subjects": 2,
        },
        {
            "session_id": "s2",
            "account_id": "a2",
            "camera_id": "cam1",
            "start": at(10, 8),
            "end": at(10, 9),
            "zone_id": "door",
            "consent_id": "c2",
        },
        {
            "session_id": "s3",
            "account_id": "a3",
            "camera_id": "cam1",
            "start": at(11, 8),
            "end": at(11, 9),
            "zone_id": "desk",
        },
    ],
    "consents": [
        {
            "consent_id": "c1",
            "account_id": "a1",
            "kind": "written",
            "subject_minor": False,
            "granted_at": at(1),
            "expires_at": at(31),
        },
        {
            "consent_id": "c2",
            "account_id": "a2",
            "kind": "guardian",
            "subject_minor": True,
            "granted_at": at(2),
            "withdrawn_at": at(20),
        },
        {"consent_id": "c3", "account_id": "a3", "kind": "separate", "granted_at": at(3)},
    ],
}

CAM1 = Camera(
    "cam1",
    "shop",
    "lobby",
    Purpose.SERVICE,
    True,
    ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),
    {"desk": ((0.1, 0.1), (0.5, 0.1), (0.5, 0.6)), "door": ((0.6, 0.2), (0.9, 0.2), (0.9, 0.9), (0.6, 0.9))},
    30,
    365,
)
CAM2 = Camera("cam2", "shop", "corridor", Purpose.PUBLIC_SAFETY, False, ((0.1, 0.1), (0.5, 0.1), (0.5, 0.6)), {})
S1 = Session("s1", "a1", "cam1", at(10, 9), at(10, 10), "desk", "c1", 2)
S2 = Session("s2", "a2", "cam1", at(10, 8), at(10, 9), "door", "c2", 1)
S3 = Session("s3", "a3", "cam1", at(11, 8), at(11, 9), "desk", None, 1)
C1 = Consent("c1", "a1", ConsentKind.WRITTEN, False, at(1), expires_at=at(31))
C2 = Consent("c2", "a2", ConsentKind.GUARDIAN, True, at(2), withdrawn_at=at(20))
C3 = Consent("c3", "a3", ConsentKind.SEPARATE, False, at(3))
EXPECTED = {"cameras": [CAM1, CAM2], "sessions": [S1, S2, S3], "consents": [C1, C2, C3]}


def _text(value):
    """A value as a CSV cell: polygons and zones as JSON text, times as ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _json_default(value):
    return value.isoformat()


def to_csv(kind, rows):
    columns = list(REGISTRIES[kind].names)
    columns += sorted({c for row in rows for c in row} - set(columns))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _text(v) for k, v in row.items()} for row in rows)
    return out.getvalue().encode()


def to_jsonl(kind, rows):
    return "".join(json.dumps(row, default=_json_default) + "\n" for row in rows).encode()


def to_json_array(kind, rows):
    return ("[\n" + ",\n".join(json.dumps(row, default=_json_default) for row in rows) + "\n]\n").encode()


def to_yaml(kind, rows):
    return yaml.safe_dump(rows, sort_keys=False).encode()


def to_flow_yaml(kind, rows):
    """One YAML list item per line (JSON is YAML flow style), so the n-th row is on line n."""
    return "".join("- " + json.dumps(row, default=_json_default) + "\n" for row in rows).encode()


def to_parquet(kind, rows, schema=None):
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema or REGISTRIES[kind]), out)
    return out.getvalue()


WRITERS = {
    "registry.yaml": to_yaml,
    "registry.yml": to_flow_yaml,
    "registry.csv": to_csv,
    "registry.jsonl": to_jsonl,
    "registry.json": to_json_array,
    "registry.parquet": to_parquet,
}
# Where the n-th row (from 0) of each text writer starts: YAML block style puts each row on several lines.
FIRST_LINE = {"registry.yml": 1, "registry.csv": 2, "registry.jsonl": 1, "registry.json": 2}


def files(rows=None, name="registry.jsonl"):
    """The (name, bytes) arguments of load_registry for the given rows of every registry."""
    rows = ROWS if rows is None else rows
    writer = WRITERS[name]
    return {kind: (f"{kind}-{name}", writer(kind, kind_rows)) for kind, kind_rows in rows.items()}


def load(rows=None, name="registry.jsonl") -> Registry:
    given = files(rows, name)
    return load_registry(given["cameras"], given["sessions"], given["consents"])


def changed(kind, index, values):
    """ROWS with one row changed; a value of ... removes the column."""
    rows = copy.deepcopy(ROWS)
    for column, value in values.items():
        if value is ...:
            rows[kind][index].pop(column, None)
        else:
            rows[kind][index][column] = value
    return rows


@pytest.mark.parametrize("name", list(WRITERS))
@pytest.mark.parametrize("kind", list(ROWS))
def test_every_format_reads_the_same_rows(kind, name):
    rows, issues = parse_registry(kind, WRITERS[name](kind, ROWS[kind]), name)
    assert issues == []
    assert rows == EXPECTED[kind]


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_format_loads_the_same_registry(name):
    registry = load(name=name)
    assert registry == Registry(
        cameras={"cam1": CAM1, "cam2": CAM2},
        sessions=(S2, S1, S3),
        consents={"c1": C1, "c2": C2, "c3": C3},
        invalid_cameras=frozenset(),
        issues=(),
    )


def test_naive_times_are_utc_and_offsets_are_converted():
    text = (
        b"- {consent_id: c1, account_id: a1, kind: written, granted_at: 2026-01-01 08:00:00}\n"
        b"- {consent_id: c2, account_id: a2, kind: written, granted_at: '2026-01-01T16:00:00+08:00'}\n"
        b"- {consent_id: c3, account_id: a3, kind: written, granted_at: 2026-01-01T10:00:00+02:00}\n"
    )
    rows, issues = parse_registry("consents", text, "c.yaml")
    assert issues == []
    assert [r.granted_at for r in rows] == [dt.datetime(2026, 1, 1, 8, tzinfo=UTC)] * 3


BAD_ROWS = [
    # (registry, column values for its row 1, field reported, words of the message)
    ("cameras", {"site": ...}, "site", "required"),
    ("cameras", {"site": "   "}, "site", "required"),
    ("cameras", {"captureArea": FULL}, "captureArea", "did you mean capture_area"),
    ("cameras", {"signage": "maybe"}, "signage", "yes/no"),
    ("cameras", {"purpose": "servce"}, "purpose", "expected one of service, public_safety"),
    ("cameras", {"capture_area": [[0, 0], [1, 1]]}, "capture_area", "at least 3"),
    ("cameras", {"capture_area": [[0, 0], [1.5, 0], [1, 1]]}, "capture_area", "point 2"),
    ("cameras", {"capture_area": [[0, 0], [float("nan"), 0], [1, 1]]}, "capture_area", "from 0 to 1"),
    ("cameras", {"zones": {"desk": [[0, 0]]}}, "zones", "zone desk"),
    ("cameras", {"raw_retention_days": -1}, "raw_retention_days", "whole number of at least 0"),
    ("sessions", {"start": "yesterday"}, "start", "ISO 8601"),
    ("sessions", {"end": at(10, 7)}, "end", "contradictory"),
    ("sessions", {"subjects": 0}, "subjects", "at least 1"),
    ("sessions", {"subjects": "two"}, "subjects", "whole number"),
    ("sessions", {"zone_id": ...}, "zone_id", "required"),
    ("consents", {"kind": "verbal"}, "kind", "expected one of separate, written, guardian"),
    ("consents", {"subject_minor": "perhaps"}, "subject_minor", "true/false"),
    ("consents", {"granted_at": ...}, "granted_at", "required"),
    ("consents", {"withdrawn_at": at(1)}, "withdrawn_at", "contradictory"),
    ("consents", {"expires_at": "2026-13-45T00:00:00Z"}, "expires_at", "ISO 8601"),
]


@pytest.mark.parametrize("name", ["registry.csv", "registry.jsonl", "registry.yml", "registry.json"])
@pytest.mark.parametrize("kind, values, field, words", BAD_ROWS)
def test_a_bad_row_is_refused_with_file_line_and_field_and_the_other_rows_still_load(kind, values, field, words, name):
    rows = changed(kind, 1, values)
    data = WRITERS[name](kind, rows[kind])
    parsed, issues = parse_registry(kind, data, name)
    assert parsed == [r for i, r in enumerate(EXPECTED[kind]) if i != 1]
    assert [(i.registry, i.file, i.line, i.field, i.key) for i in issues] == [
        (kind, name, FIRST_LINE[name] + 1, field, rows[kind][1][REGISTRIES[kind].names[0]])
    ]
    assert words in issues[0].message


def test_yaml_block_rows_are_located_at_the_start_of_their_list_item():
    text = b"""# cameras
- camera_id: cam1
  site: shop
  location_category: lobby
  purpose: service
  signage: yes
  capture_area: [[0, 0], [1, 0], [1, 1]]

- camera_id: cam2
  site: shop
  location_category: lobby
  purpose: service
  signage: maybe
  capture_area: [[0, 0], [1, 0], [1, 1]]
- [not, a, mapping]
- camera_id: cam4
  site: shop
  site: other
"""
    rows, issues = parse_registry("cameras", text, "cams.yaml")
    assert [r.camera_id for r in rows] == ["cam1"]
    assert [(str(i), i.key) for i in issues] == [
        ("cams.yaml:9: signage: expected true/false, yes/no or 1/0, got 'maybe'", "cam2"),
        ("cams.yaml:15: row: expected a mapping of column to value, got ['not', 'a', 'mapping']", None),
        ("cams.yaml:16: site: column given twice", "cam4"),
    ]


def test_csv_lines_count_the_header_blank_lines_and_cells_spanning_lines():
    header = ",".join(REGISTRIES["cameras"].names)
    text = (
        f"{header}\n"
        f'cam1,shop,lobby,service,yes,"[[0, 0],\n [1, 0], [1, 1]]",,,\n'
        f"\n"
        f'cam2,shop,lobby,service,yes,"[[0, 0], [1, 0]]",,,\n'
        f"cam3,shop,lobby\n"
    ).encode()
    rows, issues = parse_registry("cameras", text, "cams.csv")
    assert [r.camera_id for r in rows] == ["cam1"]
    assert [(i.line, i.field, i.key) for i in issues] == [(5, "capture_area", "cam2"), (6, None, "cam3")]
    assert "header names 9 columns" in issues[1].message


def test_a_jsonl_line_that_is_not_json_is_refused_alone():
    data = to_jsonl("consents", ROWS["consents"][:1]) + b"{oops\n\n" + to_jsonl("consents", ROWS["consents"][1:2])
    rows, issues = parse_registry("consents", data, "c.ndjson")
    assert rows == [C1, C2]
    assert [(i.line, i.field) for i in issues] == [(2, None)]
    assert "not JSON" in issues[0].message


def test_parquet_rows_are_numbered_from_one_and_wrong_types_or_nulls_are_refused():
    loose = pa.schema([pa.field(f.name, pa.string() if f.name == "signage" else f.type) for f in REGISTRIES["cameras"]])
    rows = copy.deepcopy(ROWS["cameras"]) + [dict(ROWS["cameras"][0], camera_id="cam3", site=None)]
    for row in rows:
        row["signage"] = "yes"
    rows[1]["signage"] = "sometimes"
    parsed, issues = parse_registry("cameras", to_parquet("cameras", rows, loose), "cams.parquet")
    assert parsed == [CAM1]
    assert [(i.file, i.line, i.field, i.key) for i in issues] == [
        ("cams.parquet", 2, "signage", "cam2"),
        ("cams.parquet", 3, "site", "cam3"),
    ]


def test_defaults_come_from_the_schema_and_absent_zones_are_empty():
    rows, issues = parse_registry("sessions", to_jsonl("sessions", [ROWS["sessions"][1]]), "s.jsonl")
    assert issues == [] and rows[0].subjects == 1
    rows, issues = parse_registry("consents", to_csv("consents", [ROWS["consents"][2]]), "c.csv")
    assert issues == [] and rows[0].subject_minor is False
    rows, issues = parse_registry("cameras", to_csv("cameras", [ROWS["cameras"][1]]), "c.csv")
    assert issues == [] and rows[0].zones == {} and rows[0].raw_retention_days is None


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("cams.txt", b"camera_id\n", "cams.txt:1: unknown registry format"),
        (
            "cams.csv",
            b"camera_id,site,location_category,purpose,signage\n",
            "cams.csv:1: header lacks required column(s) capture_area",
        ),
        ("cams.csv", b"", "cams.csv:1: no header row"),
        ("cams.csv", b"camera_id,site,site\n", "cams.csv:1: header repeats column(s) site"),
        ("cams.yaml", b"- camera_id: cam1\n  site: [shop\n", "cams.yaml:3: not YAML"),
        ("cams.yaml", b"camera_id: cam1\n", "cams.yaml:1: expected a YAML list"),
        ("cams.json", b'[{"camera_id": "cam1"},\n {"camera_id": }]', "cams.json:2: not JSON"),
        ("cams.parquet", b"camera_id,site\n", "cams.parquet:1: not a Parquet file"),
        (
            "cams.parquet",
            to_parquet("cameras", [{"camera_id": "c"}], pa.schema([("camera_id", pa.string())])),
            "cams.parquet:1: header lacks required column(s) site",
        ),
        ("cams.csv", b"\xff\xfe", "cams.csv:1: not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_at_all_raises_naming_the_file(name, data, message):
    with pytest.raises(RegistryError) as raised:
        parse_registry("cameras", data, name)
    assert str(raised.value).startswith(message)


def test_contradictory_duplicate_camera_is_invalid_and_its_sessions_are_dropped():
    rows = copy.deepcopy(ROWS)
    rows["cameras"].append(dict(ROWS["cameras"][0], location_category="hotel_room"))
    rows["cameras"].append(dict(ROWS["cameras"][1]))  # an identical duplicate is harmless
    registry = load(rows)
    assert registry.invalid_cameras == {"cam1"}
    assert registry.cameras == {"cam2": CAM2}
    assert registry.sessions == ()
    assert [(i.registry, i.line, i.field, i.key) for i in registry.issues] == [
        ("cameras", 3, "camera_id", "cam1"),
        ("sessions", 1, "camera_id", "s1"),
        ("sessions", 2, "camera_id", "s2"),
        ("sessions", 3, "camera_id", "s3"),
    ]
    assert "line 1" in registry.issues[0].message and "refused or contradictory" in registry.issues[1].message


def test_a_refused_camera_row_with_a_readable_id_is_invalid():
    registry = load(changed("cameras", 1, {"purpose": "surveillance"}))
    assert registry.invalid_cameras == {"cam2"}
    assert set(registry.cameras) == {"cam1"}
    assert registry.sessions == (S2, S1, S3)


def test_a_valid_row_sharing_its_id_with_a_refused_row_is_not_used_either():
    rows = copy.deepcopy(ROWS)
    rows["consents"].insert(0, dict(ROWS["consents"][0], kind="verbal"))
    registry = load(rows)
    assert set(registry.consents) == {"c2", "c3"}
    assert [(i.registry, i.line, i.field, i.key) for i in registry.issues] == [
        ("sessions", 1, "consent_id", "s1"),
        ("consents", 1, "kind", "c1"),
        ("consents", 2, "consent_id", "c1"),
    ]
    assert "also has a refused row (line 1)" in registry.issues[2].message


def test_a_session_whose_consent_belongs_to_another_account_is_dropped():
    registry = load(changed("sessions", 0, {"consent_id": "c2"}))
    assert registry.sessions == (S2, S3)
    [issue] = registry.issues
    assert (issue.file, issue.line, issue.field, issue.key) == ("sessions-registry.jsonl", 1, "consent_id", "s1")
    assert "contradictory: consent c2 belongs to account a2" in issue.message


def test_a_session_in_a_zone_its_camera_lacks_is_dropped():
    registry = load(changed("sessions", 1, {"zone_id": "till"}))
    assert registry.sessions == (S1, S3)
    assert [(i.line, i.field, i.key) for i in registry.issues] == [(2, "zone_id", "s2")]
    assert "zone till is not a zone of camera cam1 (its zones: desk, door)" in registry.issues[0].message


def test_a_session_at_an_unregistered_camera_is_dropped():
    registry = load(changed("sessions", 1, {"camera_id": "cam9"}))
    assert registry.sessions == (S1, S3)
    assert [(i.line, i.field) for i in registry.issues] == [(2, "camera_id")]
    assert "not registered" in registry.issues[0].message


def test_a_session_naming_an_unknown_consent_is_kept_and_reported():
    registry = load(changed("sessions", 0, {"consent_id": "c9"}))
    assert registry.sessions == (S2, Session(**{**vars(S1), "consent_id": "c9"}), S3)
    assert [(i.line, i.field) for i in registry.issues] == [(1, "consent_id")]


def test_differing_duplicate_sessions_and_consents_keep_no_row_of_their_id():
    rows = copy.deepcopy(ROWS)
    rows["sessions"].append(dict(ROWS["sessions"][0], subjects=5))
    rows["consents"].append(dict(ROWS["consents"][1], withdrawn_at=None))
    registry = load(rows)
    assert registry.sessions == (S2, S3)
    assert set(registry.consents) == {"c1", "c3"}
    assert [(i.registry, i.line, i.field) for i in registry.issues] == [
        ("sessions", 2, "consent_id"),
        ("sessions", 4, "session_id"),
        ("consents", 4, "consent_id"),
    ]


def test_missing_registries_register_nothing():
    assert load_registry(None, None, None) == Registry()
    given = files()
    registry = load_registry(None, given["sessions"], given["consents"])
    assert registry.cameras == {} and registry.sessions == () and len(registry.consents) == 3
    assert [i.field for i in registry.issues] == ["camera_id"] * 3


def _breakers(field: pa.Field, text_only: bool) -> list:
    """Values no column of this type may accept; in CSV every cell is text, so any non-blank text is a valid string."""
    if pa.types.is_map(field.type):
        return [["a"], {"x": 1}, {"desk": [[0, 0]]}, "nope", {" ": DESK}]
    if pa.types.is_list(field.type):
        return [["a"], {"x": 1}, [[0.5, 0.5]], [[0, 0], [1, 0], [1, 1.5]], "not json", [[0, 0], [1, 0], [True, 1]]]
    if pa.types.is_timestamp(field.type):
        before_start = ["2000-01-01T00:00:00Z"] if field.name in ("end", "expires_at", "withdrawn_at") else []
        return [["a"], "yesterday", "2026-13-45T00:00:00Z", 5] + before_start
    if pa.types.is_boolean(field.type):
        return [["a"], "maybe", 2]
    if pa.types.is_integer(field.type):
        return [["a"], -1, "many", 2.5]
    blank = [] if field.nullable else ["   "]
    enum = ["other"] if field.metadata else []
    return blank + enum + ([] if text_only else [12, ["a"], {"x": 1}])


def _malformed_variants(text_only: bool):
    """ROWS with one thing broken: a bad value, a misspelt column, or a second, different row of the same id."""
    for kind, rows in ROWS.items():
        for index, row in enumerate(rows):
            for field in REGISTRIES[kind]:
                for value in _breakers(field, text_only):
                    yield True, changed(kind, index, {field.name: value})
                if field.name in row:
                    misspelt = field.name.replace("_", "") + "X"
                    yield True, changed(kind, index, {field.name: ..., misspelt: row[field.name]})
                    variant = copy.deepcopy(ROWS)
                    variant[kind].append({k: v for k, v in row.items() if k != field.name})
                    yield False, variant


def _consented(registry: Registry) -> set:
    """Each session that could keep a face: camera, zone and same-account consent all registered."""
    found = set()
    for session in registry.sessions:
        camera = registry.cameras.get(session.camera_id)
        consent = registry.consents.get(session.consent_id or "")
        if camera and session.zone_id in camera.zones and consent and consent.account_id == session.account_id:
            found.add((session, consent, camera.purpose, camera.capture_area, camera.zones[session.zone_id]))
    return found


@pytest.mark.parametrize("name", ["registry.jsonl", "registry.yml", "registry.csv"])
def test_no_malformed_variant_of_a_registry_widens_what_may_be_kept(name):
    valid = _consented(load(name=name))
    assert len(valid) == 2  # s1 and s2; s3 names no consent
    count = 0
    for must_report, rows in _malformed_variants(text_only=name.endswith(".csv")):
        registry = load(rows, name)
        assert _consented(registry) <= valid, rows
        assert registry.issues or not must_report, rows
        count += 1
    assert count > 250
