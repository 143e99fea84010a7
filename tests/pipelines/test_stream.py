"""The streaming job end to end on the local runner: files dropped while it runs, a cancellation, a restart (one
recording's run in a TestPipeline: tests/transforms/test_recording.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tarfile
import threading
import time

import av
import pytest

from pipelines import cli, stream
from schemas.codes import ArtifactKind, QuarantineReason
from transforms.logic.ledger import from_lines
from transforms.services.keystore import open_keystore
from transforms.services.ledger_store import read_ledger, verify_ledger
from transforms.services.table_files import read_table

DESK = "desk-04/2026-11-20/090000.mp4"
LOBBY = "lobby-01/2026-11-20/080000.mp4"
LATER = "desk-04/2026-11-20/090500.mp4"
TEMPLATE = "{camera_id}/{date}/{time}.mp4"


def _rows(output: str, table: str, stream_id: str | None = None) -> list[dict]:
    found = read_table(output, table)
    rows = found.to_pylist() if found is not None else []
    return [r for r in rows if stream_id is None or r["run_id"].startswith(stream_id + "-")]


def _wait(condition, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.3)


def _frames(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def clips(sample_archive, tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("clips")
    with tarfile.open(sample_archive["archive"]) as tar:
        tar.extractall(target, filter="data")
    return str(target)


@pytest.fixture(scope="module")
def streamed(sample_archive, clips, tmp_path_factory, registry_args):
    """One streaming job that sees: a clip published atomically, a clip written in three pieces while it is being
    listed, a corrupt file and, once the first clip is out, a cancellation of the account it kept a face for.
    It is stopped with SIGINT; then a second job is started on the same landing zone and output root."""
    root = tmp_path_factory.mktemp("stream")
    land, events, out = root / "land", root / "events", str(root / "out")
    land.mkdir()
    events.mkdir()
    args = [
        "--streaming",
        str(land),
        out,
        "--events",
        str(events),
        "--path-template",
        TEMPLATE,
        *[a for a in registry_args(sample_archive) if a != "--manifest" and a != sample_archive["manifest"]],
        "--settle",
        "2s",
        "--poll-interval",
        "0.5s",
        "--stop-after",
        "600s",
        "--run-id",
        "s-first",
    ]
    log: list[str] = []

    def drop():
        try:
            # A corrupt file first: once it is quarantined, the job is known to be up and listing.
            (land / "corrupt.mp4").write_bytes(os.urandom(5000))
            _wait(
                lambda: any(
                    os.path.exists(os.path.join(out, "reports", r["run_id"], "report.json"))
                    for r in _rows(out, "runs", "s-first")
                ),
                "the corrupt file's run report",
            )
            # Then, while the job is idle and listing every 0.5 s: a clip written in three pieces, 1 s apart.
            lobby = land / LOBBY
            lobby.parent.mkdir(parents=True)
            data = open(os.path.join(clips, LOBBY), "rb").read()
            third = len(data) // 3 + 1
            for n in range(3):
                with open(lobby, "ab") as handle:
                    handle.write(data[n * third : (n + 1) * third])
                time.sleep(1.0)
            desk = land / DESK
            desk.parent.mkdir(parents=True)
            shutil.copy(os.path.join(clips, DESK), desk.with_name(".090000.mp4.tmp"))
            os.replace(desk.with_name(".090000.mp4.tmp"), desk)
            _wait(lambda: any(_rows(out, "restricted", "s-first")), "the desk clip's restricted copy")
            log.append("restricted copy written")
            line = {"event_id": "ev-1", "account_id": "acct-0042", "event": "cancelled", "time": "2026-11-21T10:00:00Z"}
            (events / ".cancel.tmp").write_text(json.dumps(line) + "\n")
            os.replace(events / ".cancel.tmp", events / "cancel.jsonl")
            _wait(
                lambda: len(_rows(out, "runs", "s-first")) == 3 and any(_rows(out, "retention_plan")),
                "three runs and the retention run",
            )
            # The same customer, later in the same session, after the cancellation: nothing may be kept now.
            again = land / LATER
            shutil.copy(os.path.join(clips, DESK), again.with_name(".later.tmp"))
            os.replace(again.with_name(".later.tmp"), again)
            _wait(lambda: len(_rows(out, "runs", "s-first")) == 4, "the later desk recording's run")
            log.append("all done")
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    writer = threading.Thread(target=drop, daemon=True)
    started = time.monotonic()
    writer.start()
    first_exit = cli.main(["anonymize", *args])
    first_seconds = time.monotonic() - started
    writer.join(5)
    assert log == ["restricted copy written", "all done"]
    runs_after_first = len(_rows(out, "runs"))
    second_args = [a if a != "s-first" else "s-second" for a in args]
    second_args[second_args.index("--stop-after") + 1] = "6s"
    second_exit = cli.main(["anonymize", *second_args])
    return {
        "out": out,
        "land": str(land),
        "clips": clips,
        "first_exit": first_exit,
        "second_exit": second_exit,
        "runs_after_first": runs_after_first,
        "first_seconds": first_seconds,
    }


@pytest.mark.slow
def test_each_file_dropped_while_running_is_processed_once(streamed):
    out = streamed["out"]
    runs = _rows(out, "runs", "s-first")
    assert len(runs) == 4
    raw = sorted(r["uri"] for r in _rows(out, "catalog", "s-first") if r["kind"] == ArtifactKind.RAW_INPUT.value)
    assert raw == sorted(os.path.join(streamed["land"], p) for p in (DESK, LOBBY, LATER, "corrupt.mp4"))
    assert streamed["first_exit"] == cli.EXIT_QUARANTINED


@pytest.mark.slow
def test_a_file_written_in_pieces_while_listed_is_processed_once_and_complete(streamed):
    (lobby,) = [m for m in _rows(streamed["out"], "media", "s-first") if m["camera_id"] == "lobby-01"]
    expected = _frames(os.path.join(streamed["clips"], LOBBY))
    assert lobby["frames"] == lobby["frames_out"] == expected
    assert _frames(lobby["output_uri"]) == expected


@pytest.mark.slow
def test_a_corrupt_file_is_quarantined_and_the_stream_goes_on(streamed):
    (row,) = _rows(streamed["out"], "quarantine", "s-first")
    assert row["input_uri"].endswith("corrupt.mp4")
    assert row["reason_code"] == QuarantineReason.CORRUPT_MEDIA.value
    assert os.path.exists(os.path.join(streamed["out"], "quarantine", row["run_id"]))


@pytest.mark.slow
def test_a_cancellation_during_the_run_deletes_the_copy_and_leaves_a_ledger_entry(streamed):
    out = streamed["out"]
    (copy,) = _rows(out, "restricted", "s-first")
    assert not os.path.exists(copy["uri"])
    entries = [e for name, data in read_ledger(out) for e in from_lines(data, name)]
    assert {(e.action, e.artifact_kind) for e in entries if e.event_id == "ev-1"} >= {
        ("delete_file", "restricted_copy"),
        ("destroy_key", "data_key"),
    }
    assert verify_ledger(out, os.path.join(out, "keys", "keystore.json")) == []
    assert copy["account_id"] != "acct-0042"
    plan = _rows(out, "retention_plan")
    assert {r["status"] for r in plan if r["event_id"] == "ev-1"} == {"done"}


@pytest.mark.slow
def test_an_account_cancelled_during_the_run_keeps_no_face_in_later_recordings(streamed):
    out = streamed["out"]
    (later,) = [m for m in _rows(out, "media", "s-first") if m["input_uri"].endswith(LATER)]
    assert later["faces_redacted"] > 0 and later["tracks_kept"] == 0
    tracks = [t for t in _rows(out, "face_tracks", "s-first") if t["media_id"] == later["media_id"]]
    assert tracks and {t["action"] for t in tracks} == {"redact"}
    assert "consent_missing" in {t["reason_code"] for t in tracks}
    assert [r for r in _rows(out, "restricted", "s-first") if r["media_id"] == later["media_id"]] == []
    assert "acct-0042" not in open_keystore(os.path.join(out, "keys", "keystore.json")).accounts()


@pytest.mark.slow
def test_every_recording_and_window_passed_validation_and_the_stream_report_says_so(streamed):
    out = streamed["out"]
    for run in _rows(out, "runs", "s-first"):
        with open(os.path.join(out, "reports", run["run_id"], "validation.json")) as handle:
            assert json.load(handle)["passed"], run["run_id"]
    windows = _rows(out, "stream_windows", "s-first")
    assert sum(w["recordings"] for w in windows) == 4
    with open(os.path.join(out, "reports", "s-first", "report.json")) as handle:
        report = json.load(handle)
    assert all(w["validation"]["passed"] for w in report["windows"])
    assert report["totals"]["anonymized"] == 3 and report["totals"]["quarantined"] == 1
    assert not os.path.exists(os.path.join(out, ".work", "s-first"))


@pytest.mark.slow
def test_a_restart_does_not_reprocess_what_the_catalog_says_is_done(streamed):
    assert len(_rows(streamed["out"], "runs")) == streamed["runs_after_first"]
    assert _rows(streamed["out"], "runs", "s-second") == []
    assert streamed["second_exit"] == 0


@pytest.mark.slow
def test_the_summary_shows_files_per_minute_and_lag(streamed, capsys):
    text = stream.summarize(streamed["out"], "s-first", streamed["first_seconds"])
    assert "recordings: 4 (" in text and "/min)" in text
    assert "lag from landing to output" in text


def test_streaming_refuses_bad_options_before_starting(tmp_path):
    land = tmp_path / "land"
    land.mkdir()
    with pytest.raises(ValueError, match="not a duration"):
        stream.parse(["--streaming", str(land), str(tmp_path / "out"), "--window", "soon"])
    with pytest.raises(ValueError, match="must not contain each other"):
        stream.parse(["--streaming", str(land), str(tmp_path / "out"), "--events", str(land / "events")])
    with pytest.raises(ValueError, match="refused on Dask"):
        stream.parse(["--streaming", str(land), str(tmp_path / "out"), "--runner", "dask"])
    with pytest.raises(ValueError, match="LANDING .*typo is not a folder"):
        stream.parse(["--streaming", str(tmp_path / "typo"), str(tmp_path / "out")])
    with pytest.raises(ValueError, match="EVENTS .*events is not a folder"):
        stream.parse(["--streaming", str(land), str(tmp_path / "out"), "--events", str(tmp_path / "events")])
    with pytest.raises(ValueError, match="longer than zero"):
        stream.parse(["--streaming", str(land), str(tmp_path / "out"), "--window", "0s"])


def test_the_timing_options_reach_the_job(tmp_path):
    land = tmp_path / "land"
    land.mkdir()
    _, opts, _, _ = stream.parse(
        [
            "--streaming",
            str(land),
            str(tmp_path / "out"),
            "--window",
            "5m",
            "--allowed-lateness",
            "2h",
            "--landing-delay",
            "90s",
            "--settle",
            "3s",
            "--poll-interval",
            "250ms",
            "--stop-after",
            "1d",
        ]
    )
    assert stream.timing(opts) == stream.Timing(
        window=300, lateness=7200, delay=90, settle=3, interval=0.25, stop_after=86400
    )
    _, defaults, _, _ = stream.parse(["--streaming", str(land), str(tmp_path / "out")])
    assert stream.timing(defaults) == stream.Timing(60, 3600, 300, 5, 2, None)
