"""The run report counts what a run did from its tables, flags what needs attention, and never names a person."""

import datetime as dt
import json
import os
import re

import pytest

from schemas import tables
from schemas.codes import Purpose
from schemas.registries import Camera, Registry, RegistryIssue
from transforms.services import layout, report
from transforms.services.table_files import write_table

T0 = dt.datetime(2024, 5, 6, 8, 0, tzinfo=dt.UTC)
AREA = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
EARLIER, RUN = "run-earlier", "run-now"
ACCOUNTS = ("acct-4f1e9a", "acct-b7c20d", "acct-90aa13")
MEASURES = {
    "redaction_mode": "blur",
    "encryption": "AES-256-GCM, one data key per account",
    "keystore": "file:///keys",
    "leak_audit_rate": 0.05,
    "zone_share": 0.6,
    "private_categories": ["bathroom", "hotel_room"],
}


def _media(run_id, media_id, camera_id):
    return {
        "run_id": run_id,
        "media_id": media_id,
        "input_uri": f"/in/{media_id}.mp4",
        "sha256": "0" * 64,
        "camera_id": camera_id,
        "camera_known": True,
        "identity_source": "manifest",
        "start_time": T0,
        "frames": 100,
        "frames_out": 100,
        "fps": 25.0,
        "width": 640,
        "height": 480,
        "output_uri": f"/out/{media_id}.mp4",
        "status": "anonymized",
        "redaction_mode": "blur",
        "faces_redacted": 0,
        "tracks_redacted": 0,
        "tracks_kept": 0,
        "settings_hash": "s",
    }


def _track(run_id, media_id, track_id, action, reason, account_id=None):
    linked = account_id is not None
    return {
        "run_id": run_id,
        "media_id": media_id,
        "track_id": track_id,
        "first_frame": 0,
        "last_frame": 9,
        "frame_count": 10,
        "max_score": 0.9,
        "mean_box_width": 40.0,
        "mean_box_height": 50.0,
        "action": action,
        "reason_code": reason,
        "zone_share": 0.8 if linked else None,
        "session_id": f"sess-{track_id}" if linked else None,
        "consent_id": f"cons-{track_id}" if linked else None,
        "account_id": account_id,
    }


def _kept(run_id, media_id, track_id, account_id):
    return _track(run_id, media_id, track_id, "keep", "consented_service_subject", account_id)


def _quarantine(run_id, input_uri, reason, message, media_id=None, camera_id=None):
    return {
        "run_id": run_id,
        "input_uri": input_uri,
        "media_id": media_id,
        "camera_id": camera_id,
        "reason_code": reason,
        "message": message,
    }


def _restricted(run_id, media_id, account_id):
    return {
        "run_id": run_id,
        "media_id": media_id,
        "camera_id": "cam-shop",
        "account_id": account_id,
        "key_id": f"key-{media_id}",
        "uri": f"/restricted/{media_id}.sealed",
        "frames": 10,
        "tracks_kept": 1,
    }


def _run(run_id, inputs, anonymized, quarantined):
    return {
        "run_id": run_id,
        "started_at": T0,
        "finished_at": T0 + dt.timedelta(minutes=5),
        "options": "{}",
        "inputs": inputs,
        "anonymized": anonymized,
        "quarantined": quarantined,
        "skipped": 1,
        "frames": 300,
        "faces_redacted": 0,
        "tracks_redacted": 0,
        "tracks_kept": 0,
    }


def _write(root, table, run_id, rows):
    write_table(rows, tables.TABLES[table], layout.table_uri(root, table, run_id))


def _camera(camera_id, site, location, purpose, signage, raw=None):
    return Camera(camera_id, site, location, purpose, signage, AREA, {}, raw_retention_days=raw)


@pytest.fixture()
def output(tmp_path):
    """Two runs: the earlier kept two accounts and anonymized the bathroom clip; this one kept two, one of them new."""
    root = str(tmp_path / "out")
    a, b, c = ACCOUNTS
    _write(root, "media", EARLIER, [_media(EARLIER, "m-old", "cam-shop"), _media(EARLIER, "m-bath", "cam-bath")])
    _write(root, "face_tracks", EARLIER, [_kept(EARLIER, "m-old", 1, a), _kept(EARLIER, "m-old", 2, c)])
    _write(root, "runs", EARLIER, [_run(EARLIER, 2, 2, 0)])
    _write(
        root,
        "media",
        RUN,
        [_media(RUN, "m1", "cam-shop"), _media(RUN, "m2", "cam-lobby"), _media(RUN, "m3", "cam-ghost")],
    )
    _write(
        root,
        "face_tracks",
        RUN,
        [
            _kept(RUN, "m1", 1, a),
            _kept(RUN, "m1", 2, b),
            _kept(RUN, "m1", 3, a),
            _track(RUN, "m1", 4, "redact", "no_service_link"),
            _track(RUN, "m2", 1, "redact", "purpose_keeps_no_faces"),
            _track(RUN, "m2", 2, "redact", "purpose_keeps_no_faces"),
            _track(RUN, "m2", 3, "redact", "outside_capture_area"),
            _track(RUN, "m3", 1, "redact", "unregistered_camera"),
        ],
    )
    _write(
        root,
        "quarantine",
        RUN,
        [
            _quarantine(
                RUN,
                "/in/m-bath.mp4",
                "prohibited_location",
                "camera cam-bath is registered at a bathroom",
                media_id="m-bath",
                camera_id="cam-bath",
            ),
            _quarantine(
                RUN, "/in/changing.mp4", "prohibited_location", "camera cam-x is registered at a changing_room"
            ),
            _quarantine(RUN, "/in/broken.mp4", "corrupt_media", "cannot read input"),
        ],
    )
    _write(root, "restricted", RUN, [_restricted(RUN, "m1", a), _restricted(RUN, "m1b", b), _restricted(RUN, "m1c", a)])
    _write(root, "runs", RUN, [_run(RUN, 7, 3, 3)])
    return root


@pytest.fixture()
def registry():
    cameras = [
        _camera("cam-shop", "Shop counter", "shop", Purpose.SERVICE, True, raw=7),
        _camera("cam-lobby", "<script>alert(1)</script> lobby", "lobby", Purpose.PUBLIC_SAFETY, False),
        _camera("cam-bath", "Pool bathroom", "bathroom", Purpose.INTERNAL_MANAGEMENT, True),
    ]
    issues = (
        RegistryIssue("cameras", "cameras.yaml", 12, "signage", "expected true or false, got 'maybe'", "cam-9"),
        RegistryIssue(
            "sessions",
            "sessions.csv",
            4,
            "consent_id",
            f"contradictory: consent cons-9 belongs to "
            f"account {ACCOUNTS[0]}, not {ACCOUNTS[1]}; the session is not used",
            "sess-9",
        ),
    )
    return Registry(cameras={c.camera_id: c for c in cameras}, issues=issues)


def test_counts_come_from_the_run_tables_by_reason_and_camera(output, registry):
    built = report.build_report(output, RUN, registry, MEASURES)
    assert built["counts"] == {"inputs": 7, "anonymized": 3, "quarantined": 3, "skipped": 1, "frames": 300}
    assert built["started_at"] == T0.isoformat()
    assert built["faces"] == {
        "tracks_kept": 3,
        "tracks_redacted": 5,
        "redacted_by_reason": {
            "no_service_link": 1,
            "outside_capture_area": 1,
            "purpose_keeps_no_faces": 2,
            "unregistered_camera": 1,
        },
        "kept_by_camera": {"cam-shop": 3},
        "by_camera": {
            "cam-ghost": {"keep": 0, "redact": 1},
            "cam-lobby": {"keep": 0, "redact": 3},
            "cam-shop": {"keep": 3, "redact": 1},
        },
    }
    assert built["quarantined_by_reason"] == {"corrupt_media": 1, "prohibited_location": 2}
    assert built["restricted_copies"] == {"count": 3, "accounts": 2}


def test_accounts_are_counted_distinct_in_this_run_and_across_all_runs(output, registry):
    built = report.build_report(output, RUN, registry, MEASURES)
    assert (built["accounts_kept"], built["accounts_kept_all_runs"]) == (2, 3)
    earlier = report.build_report(output, EARLIER, registry, MEASURES)
    assert (earlier["accounts_kept"], earlier["accounts_kept_all_runs"]) == (2, 3)


def test_filing_is_required_only_above_the_threshold(output, registry, monkeypatch):
    assert report.build_report(output, RUN, registry, MEASURES)["filing_required"] is False
    monkeypatch.setattr(report, "FILING_THRESHOLD", 3)
    at = report.build_report(output, RUN, registry, MEASURES)
    assert (at["filing_required"], at["filing_threshold"]) == (False, 3)
    monkeypatch.setattr(report, "FILING_THRESHOLD", 2)
    above = report.build_report(output, RUN, registry, MEASURES)
    assert above["filing_required"] is True
    assert any(w.startswith("Article 16") for w in report.warnings_in(above))


def test_prohibited_location_incidents_are_listed_with_their_camera_when_it_is_known(output, registry):
    built = report.build_report(output, RUN, registry, MEASURES)
    assert built["prohibited_location_incidents"] == [
        {
            "input_uri": "/in/m-bath.mp4",
            "camera_id": "cam-bath",
            "message": "camera cam-bath is registered at a bathroom",
        },
        {
            "input_uri": "/in/changing.mp4",
            "camera_id": None,
            "message": "camera cam-x is registered at a changing_room",
        },
    ]


def test_purpose_signage_retention_and_registry_issues(output, registry):
    built = report.build_report(output, RUN, registry, MEASURES)
    assert [c["camera_id"] for c in built["purpose"]["cameras"]] == ["cam-bath", "cam-lobby", "cam-shop"]
    assert built["purpose"]["cameras"][1] == {
        "camera_id": "cam-lobby",
        "site": "<script>alert(1)</script> lobby",
        "location_category": "lobby",
        "purpose": "public_safety",
        "signage": False,
    }
    assert built["purpose"]["unregistered"] == ["cam-ghost"]
    assert built["signage_missing"] == [{"camera_id": "cam-lobby", "site": "<script>alert(1)</script> lobby"}]
    measures = built["protective_measures"]
    assert {k: measures[k] for k in MEASURES} == MEASURES
    assert measures["retention_by_camera"]["cam-shop"] == {
        "raw_retention_days": 7,
        "anonymized_retention_days": 180,
        "restricted_retention_days": 180,
    }
    assert built["registry_issues"] == [
        {
            "registry": "cameras",
            "file": "cameras.yaml",
            "line": 12,
            "field": "signage",
            "message": "expected true or false, got 'maybe'",
        },
        {"registry": "sessions", "file": "sessions.csv", "line": 4, "field": "consent_id", "message": report.WITHHELD},
    ]


def test_validation_and_data_docs_are_linked_only_when_present(output, registry, tmp_path):
    built = report.build_report(output, RUN, registry, MEASURES)
    assert (built["validation"], built["data_docs"]) == (None, None)
    folder = os.path.join(output, "reports", RUN)
    os.makedirs(folder)
    os.makedirs(os.path.join(output, "data_docs"))
    expectation = {"table": "media", "column": "camera_id", "expectation": "expect_x", "article": "18", "why": "w"}
    with open(os.path.join(folder, "validation.json"), "w") as handle:
        json.dump(
            {
                "run_id": RUN,
                "passed": False,
                "expectations": [
                    {**expectation, "critical": True, "success": False, "failing_rows": ["m1", "m2"]},
                    {**expectation, "critical": False, "success": False, "failing_rows": ["m3"]},
                    {**expectation, "critical": True, "success": True, "failing_rows": []},
                ],
            },
            handle,
        )
    with open(os.path.join(output, "data_docs", "index.html"), "w") as handle:
        handle.write("<html></html>")
    built = report.build_report(output, RUN, registry, MEASURES)
    failed = {"table": "media", "column": "camera_id", "expectation": "expect_x", "article": "18", "why": "w"}
    assert built["validation"] == {
        "passed": False,
        "failed_expectations": 2,
        "failed": [{**failed, "severity": "critical", "rows": 2}, {**failed, "severity": "warning", "rows": 1}],
        "link": "validation.json",
    }
    assert built["data_docs"] == "../../data_docs/index.html"
    page = report.render_html(built)
    assert 'href="validation.json"' in page and 'href="../../data_docs/index.html"' in page
    assert "media.camera_id" in page and ">critical<" in page and ">warning<" in page
    failures = [w for w in report.warnings_in(built) if w.startswith("Validation failed")]
    assert failures == ["Validation failed: media.camera_id expect_x (Article 18: w) on 2 row(s)."]


def test_the_html_escapes_values_and_links_nowhere_else(output, registry):
    page = report.render_html(report.build_report(output, RUN, registry, MEASURES))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; lobby" in page
    assert all("://" not in link and not link.startswith("/") for link in re.findall(r'(?:href|src)="([^"]*)"', page))
    assert "Article 7: camera cam-lobby" in page and "Article 6: /in/m-bath.mp4" in page


def test_no_account_id_appears_in_the_published_report(output, registry):
    json_uri, html_uri = report.write_report(output, RUN, report.build_report(output, RUN, registry, MEASURES))
    published = open(json_uri).read() + open(html_uri).read()
    assert "cam-shop" in published and "sessions.csv:4" in published
    assert [a for a in ACCOUNTS if a in published] == []
    assert "sess-9" not in published


def test_write_report_publishes_both_files_and_overwrites_them(output, registry):
    built = report.build_report(output, RUN, registry, MEASURES)
    first = report.write_report(output, RUN, built)
    assert first == (
        os.path.join(output, "reports", RUN, "report.json"),
        os.path.join(output, "reports", RUN, "report.html"),
    )
    second = report.write_report(output, RUN, {**built, "accounts_kept": 41})
    assert second == first
    assert json.load(open(first[0]))["accounts_kept"] == 41
    assert "41" in open(first[1]).read()
    assert sorted(os.listdir(os.path.dirname(first[0]))) == ["report.html", "report.json"]


def test_a_run_without_a_runs_row_is_refused(output, registry):
    with pytest.raises(ValueError, match="no-such-run"):
        report.build_report(output, "no-such-run", registry, MEASURES)


def test_a_key_store_beside_the_data_is_a_warning(output, registry):
    apart = report.build_report(output, RUN, registry, {**MEASURES, "keystore_beside_data": False})
    beside = report.build_report(output, RUN, registry, {**MEASURES, "keystore_beside_data": True})
    assert not any("key store" in w for w in report.warnings_in(apart))
    assert any("key store" in w for w in report.warnings_in(beside))
