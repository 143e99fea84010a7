"""The anonymize job end to end on the generated sample archive (clips and a frame folder with known faces)."""

import os
import shutil
import tarfile

import av
import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import sample
from schemas import tables
from schemas.codes import IdentitySource, MediaStatus, ReasonCode
from tests.leakmeasure import LEAK_THRESHOLD, read_gray_frames, retained_detail
from transforms.logic.scanning import DetectorConfig
from transforms.logic.tracking import TrackerConfig

pytestmark = pytest.mark.slow  # every test reads anonymize runs


@pytest.fixture(scope="module")
def originals(sample_archive, tmp_path_factory):
    """Grey frames of every sample stream as stored in the archive, keyed by scene name."""
    folder = tmp_path_factory.mktemp("originals")
    with tarfile.open(sample_archive["archive"]) as tar:
        tar.extractall(folder, filter="data")
    frames = {}
    for scene in sample.SCENES:
        path = os.path.join(folder, scene.path)
        if scene.stills:
            frames[scene.name] = [
                cv2.imread(os.path.join(path, f), cv2.IMREAD_GRAYSCALE) for f in sorted(os.listdir(path))
            ]
        else:
            frames[scene.name] = read_gray_frames(path)
    return frames


def _row_for(rows, scene):
    return next(r for r in rows if r["input_uri"].endswith("!" + scene.path))


def test_every_input_ends_exactly_once_and_the_run_row_counts_them(sample_run):
    rows = sample_run["rows"]
    assert sorted(r["input_uri"].split("!")[1] for r in rows["media"]) == sorted(s.path for s in sample.SCENES)
    assert rows["quarantine"] == []
    (run,) = rows["runs"]
    n = len(sample.SCENES)
    assert (run["inputs"], run["anonymized"], run["quarantined"], run["skipped"]) == (n, n, 0, 0)
    assert run["frames"] == sum(s.frames for s in sample.SCENES)
    assert all(r["status"] == MediaStatus.ANONYMIZED.value for r in rows["media"])


def _leaks(rows, sample_archive, originals, groundtruth):
    """(scene, frame, person, detail) of every ground-truth face whose detail survives in the output."""
    leaks = []
    for scene in sample.SCENES:
        output = read_gray_frames(_row_for(rows["media"], scene)["output_uri"])
        truth = groundtruth(sample_archive["dir"], scene.name)
        for index, faces in truth["frames"].items():
            for face in faces:
                detail = retained_detail(originals[scene.name][int(index)], output[int(index)], face["box"])
                if detail >= LEAK_THRESHOLD:
                    leaks.append((scene.name, index, face["id"], round(detail, 2)))
    return leaks


def test_every_ground_truth_face_is_destroyed_in_every_frame(sample_run, sample_archive, originals, groundtruth):
    assert _leaks(sample_run["rows"], sample_archive, originals, groundtruth) == []


@pytest.mark.parametrize("mode", ["pixelate", "mask"])
def test_every_ground_truth_face_is_destroyed_in_the_other_modes_too(
    sample_archive, originals, tmp_path, mode, run_job, groundtruth
):
    rows = run_job(
        sample_archive["archive"], str(tmp_path / "out"), "--manifest", sample_archive["manifest"], "--redact", mode
    )
    assert {r["redaction_mode"] for r in rows["media"]} == {mode}
    assert _leaks(rows, sample_archive, originals, groundtruth) == []


@pytest.mark.parametrize("scene", sample.SCENES, ids=lambda s: s.name)
def test_output_keeps_frame_count_rate_and_size_and_carries_no_audio_or_source_tags(sample_run, scene):
    row = _row_for(sample_run["rows"]["media"], scene)
    with av.open(row["output_uri"]) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (frames, stream.average_rate, stream.width, stream.height) == (
            scene.frames,
            10,
            scene.width,
            scene.height,
        )
        assert stream.codec_context.name == "h264"
        assert not container.streams.audio
        assert "creation_time" not in container.metadata
    assert (row["frames"], row["frames_out"], row["width"], row["height"]) == (
        scene.frames,
        scene.frames,
        scene.width,
        scene.height,
    )


def test_output_lands_under_camera_and_day_from_the_manifest(sample_run):
    for scene in sample.SCENES:
        row = _row_for(sample_run["rows"]["media"], scene)
        camera = scene.path.split("/")[0]
        assert (row["camera_id"], row["camera_known"], row["identity_source"]) == (
            camera,
            True,
            IdentitySource.MANIFEST.value,
        )
        assert f"/anonymized/{camera}/2026-11-20/" in row["output_uri"]


def test_tables_on_disk_match_their_schemas_and_hold_no_pixels(sample_run):
    for name in set(tables.VALIDATED) - {"retention_plan", "stream_windows"}:
        schema = tables.TABLES[name]
        (path,) = [
            os.path.join(d, f) for d, _, fs in os.walk(os.path.join(sample_run["output"], "tables", name)) for f in fs
        ]
        assert pq.read_schema(path).remove_metadata() == schema
        assert all(not str(field.type).startswith(("binary", "large_binary", "list")) for field in schema)


def test_every_track_gets_its_cameras_reason_and_only_the_served_customer_is_kept(sample_run):
    rows = sample_run["rows"]
    by_camera = {m["media_id"]: m["camera_id"] for m in rows["media"]}
    reasons = {(by_camera[t["media_id"]], t["action"], t["reason_code"]) for t in rows["face_tracks"]}
    assert reasons == {
        ("lobby-01", "redact", ReasonCode.PURPOSE_KEEPS_NO_FACES.value),
        ("corridor-02", "redact", ReasonCode.PURPOSE_KEEPS_NO_FACES.value),
        ("counter-03", "redact", ReasonCode.NO_SERVICE_LINK.value),
        ("desk-04", "redact", ReasonCode.NO_SERVICE_LINK.value),
        ("desk-04", "keep", ReasonCode.CONSENTED_SERVICE_SUBJECT.value),
    }
    (kept,) = [t for t in rows["face_tracks"] if t["action"] == "keep"]
    assert (kept["session_id"], kept["consent_id"], kept["account_id"]) == ("s-1001", "c-0042", "acct-0042")
    for media in rows["media"]:
        tracks = [t for t in rows["face_tracks"] if t["media_id"] == media["media_id"]]
        assert media["tracks_redacted"] + media["tracks_kept"] == len(tracks) >= 1
        assert media["faces_redacted"] >= sum(t["frame_count"] for t in tracks), "public copies redact kept faces too"


def test_rerun_skips_inputs_already_done_and_force_redoes_them(sample_archive, tmp_path, run_job):
    output = str(tmp_path / "out")
    first = run_job(sample_archive["archive"], output, "--manifest", sample_archive["manifest"])
    stamps = {r["output_uri"]: os.stat(r["output_uri"]).st_mtime_ns for r in first["media"]}
    again = run_job(sample_archive["archive"], output, "--manifest", sample_archive["manifest"])
    n = len(sample.SCENES)
    assert again["media"] == [] and again["runs"][0]["skipped"] == n and again["runs"][0]["inputs"] == 0
    assert {u: os.stat(u).st_mtime_ns for u in stamps} == stamps
    other_mode = run_job(
        sample_archive["archive"], output, "--manifest", sample_archive["manifest"], "--redact", "mask"
    )
    assert len(other_mode["media"]) == n, "different settings are a different job: nothing skipped"
    forced = run_job(sample_archive["archive"], output, "--manifest", sample_archive["manifest"], "--force")
    assert len(forced["media"]) == n and forced["runs"][0]["skipped"] == 0
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(output) for f in fs if ".tmp-" in f]
    assert leftovers == [] and not os.path.exists(os.path.join(output, ".work"))


def test_unknown_camera_is_processed_with_every_face_redacted_and_says_so(sample_archive, tmp_path, run_job):
    rows = run_job(sample_archive["archive"], str(tmp_path / "out"))
    assert {(r["camera_id"], r["camera_known"], r["identity_source"]) for r in rows["media"]} == {
        (None, False, IdentitySource.UNKNOWN.value)
    }
    assert {t["reason_code"] for t in rows["face_tracks"]} == {ReasonCode.UNKNOWN_CAMERA.value}
    assert all("/anonymized/unknown-camera/undated/" in r["output_uri"] for r in rows["media"])


def test_path_template_names_camera_and_start_time(sample_archive, tmp_path, run_job):
    rows = run_job(sample_archive["archive"], str(tmp_path / "out"), "--path-template", "{camera_id}/{date}/{time}.mp4")
    found = {
        r["camera_id"]: (r["identity_source"], r["start_time"].isoformat()) for r in rows["media"] if r["camera_id"]
    }
    assert found == {
        "lobby-01": ("path_template", "2026-11-20T08:00:00+00:00"),
        "corridor-02": ("path_template", "2026-11-20T08:15:00+00:00"),
        "desk-04": ("path_template", "2026-11-20T09:00:00+00:00"),
    }


def _faces_then_empty(path, with_audio=False):
    """A clip whose first 20 frames show the lobby scene and last 20 an empty grey wall."""
    frames, _ = sample.render(sample.SCENES[0], 0)
    clip = frames[:20] + [np.full_like(frames[0], 128)] * 20
    sample.write_clip(clip, path)
    if with_audio:
        _add_audio(path)
    return clip


def _add_audio(path):
    staged = path + ".audio.mp4"
    with av.open(path) as src, av.open(staged, "w") as out:
        video = out.add_stream_from_template(src.streams.video[0])
        audio = out.add_stream("aac", rate=16000)
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
        tone = (np.sin(np.arange(16000 * 4) / 16000 * 2 * np.pi * 440) * 0.3).astype(np.float32)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    shutil.move(staged, path)


def test_drop_frame_mode_drops_exactly_the_frames_that_show_a_face(tmp_path, run_job):
    clip = str(tmp_path / "mixed.mp4")
    _faces_then_empty(clip)
    rows = run_job(clip, str(tmp_path / "out"), "--redact", "drop-frame")
    (media,) = rows["media"]
    output = read_gray_frames(media["output_uri"])
    assert len(output) == media["frames_out"] and media["frames"] == 40
    # Faces fill frames 0-19; the last scanned one is the last multiple of the stride below 20, and
    # its track is held ``hold`` frames past it: the frames after that remain.
    every = DetectorConfig().every
    last_scanned = 19 - 19 % every
    assert media["frames_out"] == 40 - (last_scanned + TrackerConfig().covering(every).hold + 1)
    assert all(frame.std() < 3 for frame in output), "every kept frame is the empty wall"


def test_audio_is_dropped_by_default_and_copied_with_keep_audio(tmp_path, run_job):
    clip = str(tmp_path / "voice.mp4")
    _faces_then_empty(clip, with_audio=True)
    default = run_job(clip, str(tmp_path / "out1"))
    kept = run_job(clip, str(tmp_path / "out2"), "--keep-audio")
    with av.open(default["media"][0]["output_uri"]) as container:
        assert not container.streams.audio
    with av.open(kept["media"][0]["output_uri"]) as container:
        assert len(container.streams.audio) == 1 and container.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in container.decode(video=0)) == 40


def test_long_video_split_into_many_segments_is_joined_into_one_output_with_every_frame(tmp_path, run_job):
    clip = str(tmp_path / "long.mp4")
    frames, _ = sample.render(sample.SCENES[1], 0)
    sample.write_clip(frames, clip, gop=5)
    rows = run_job(clip, str(tmp_path / "out"), "--segment-frames", "5")
    (media,) = rows["media"]
    with av.open(media["output_uri"]) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(frames) == media["frames_out"]
    assert len({t["track_id"] for t in rows["face_tracks"]}) == len(rows["face_tracks"])
