"""Camera and start time from manifests and path templates."""

import datetime as dt

import pytest

from transforms.logic.identity import (
    ManifestError,
    compile_template,
    lookup_manifest,
    match_template,
    parse_manifest,
    parse_moment,
    parse_time,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-20T08:00:00Z", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("2026-11-20 08:00:00", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("20261120T080000", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("2026-11-20T16:00:00+08:00", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("2026-11-20T08:00:00.500Z", dt.datetime(2026, 11, 20, 8, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_iso_like_forms_and_normalises_to_utc(text, expected):
    assert parse_time(text) == expected


def test_csv_manifest_rows_are_keyed_by_path():
    manifest = parse_manifest("path,camera_id,start_time\ncam1/a.mp4,cam1,2026-01-02T03:04:05Z\nb.mp4,,\n", "m.csv")
    assert manifest == {"cam1/a.mp4": ("cam1", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), "b.mp4": (None, None)}


def test_jsonl_manifest_rows_are_keyed_by_path():
    manifest = parse_manifest('{"path": "x.mp4", "camera_id": "c9", "start_time": "2026-01-02T03:04:05Z"}\n', "m.jsonl")
    assert manifest["x.mp4"][0] == "c9"


@pytest.mark.parametrize(
    "text, name, message",
    [
        ("path,camera\nx,y\n", "m.csv", "m.csv:1: header lacks column(s) camera_id, start_time"),
        ("path,camera_id,start_time\n,c,\n", "m.csv", "m.csv:2: field 'path' is empty"),
        ("path,camera_id,start_time\nx,c,yesterday\n", "m.csv", "m.csv:2: field 'start_time'"),
        ('{"path": "x"}\n{oops\n', "m.jsonl", "m.jsonl:2: not JSON"),
    ],
)
def test_malformed_manifest_names_file_line_and_field(text, name, message):
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_manifest(text, name)


def test_manifest_lookup_matches_the_exact_uri_or_the_longest_path_suffix():
    manifest = {"a.mp4": ("short", None), "cam1/a.mp4": ("long", None), "/data/x.mp4": ("exact", None)}
    assert lookup_manifest(manifest, "/data/x.mp4") == ("exact", None)
    assert lookup_manifest(manifest, "gs://bucket/cam1/a.mp4") == ("long", None)
    assert lookup_manifest(manifest, "/other/a.mp4") == ("short", None)
    assert lookup_manifest(manifest, "/archive.zip!cam1/a.mp4") == ("long", None)
    assert lookup_manifest(manifest, "/data/xa.mp4") is None


@pytest.mark.parametrize(
    "template, uri, expected",
    [
        (
            "{camera_id}/{date}/{time}.mp4",
            "/in/lobby-1/2026-11-20/080000.mp4",
            ("lobby-1", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ),
        (
            "{camera_id}/{date}/{time}.mp4",
            "s3://b/x/cam2/20261120/08-15-00.mp4",
            ("cam2", dt.datetime(2026, 11, 20, 8, 15, tzinfo=UTC)),
        ),
        (
            "{site}/{camera_id}_{start_time}.mkv",
            "/a/site9/cam3_2026-11-20T08:00:00Z.mkv",
            ("cam3", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ),
        ("{camera_id}/{date}/{time}.mp4", "/in/lobby-1/notadate/080000.mp4", None),
        ("{camera_id}/{date}/{time}.mp4", "/in/lobby-1/2026-11-20/080000.avi", None),
    ],
)
def test_path_template_reads_camera_and_start_from_the_end_of_the_path(template, uri, expected):
    assert match_template(compile_template(template), uri) == expected


def test_template_without_identity_fields_is_refused():
    with pytest.raises(ValueError, match="names none of"):
        compile_template("{site}/{name}.mp4")


def test_path_template_matches_inside_an_archive_member_path_not_across_the_archive_name():
    pattern = compile_template("{camera_id}/{date}/{time}.mp4")
    assert match_template(pattern, "/in/archive.tar.gz!lobby-01/2026-11-20/080000.mp4")[0] == "lobby-01"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-01", dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        ("2026-12-01T08:00:00+08:00", dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        ("2026-12-01T08:30:00", dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)),
    ],
)
def test_a_moment_is_a_date_at_the_start_of_its_utc_day_or_a_timestamp(text, expected):
    assert parse_moment(text) == expected


@pytest.mark.parametrize("text", ["2026-02-30", "tomorrow", "2026-12"])
def test_a_moment_that_is_no_date_or_time_is_refused(text):
    with pytest.raises(ValueError, match="not a date"):
        parse_moment(text)
