"""Bad input end to end: every kind of input the anonymize job refuses is quarantined with its exact reason,
nothing of it is written out, and the good input beside it is still anonymized.

Three pipeline runs keep the file fast: one over a folder holding every bad input that is handled correctly
plus one good clip, one over a folder of damaged archives, and one through the CLI.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib

import av
import cv2
import numpy as np
import pytest

from pipelines import cli, work_folders
from pipelines.sample import write_clip
from schemas.codes import IN_WORDS, MediaStatus, QuarantineReason

pytestmark = pytest.mark.slow  # every test reads anonymize runs

FRAMES, WIDTH, HEIGHT = 20, 64, 48
ANONYMIZED = MediaStatus.ANONYMIZED.value
ARCHIVE_LIMIT = 100_000
"""--max-archive-bytes of the bad-folder run: small enough for a zip bomb of a few MB, large enough for the rest."""


# --------------------------------------------------------------------------------------------- input builders


def clip_frames(seed: int = 0) -> list[np.ndarray]:
    """A few RGB frames: moving gradients with noise, so every frame carries real coded data (no faces needed)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(FRAMES):
        rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        rgb[..., 0] = (np.arange(WIDTH)[None, :] * 4 + i * 5) % 256
        rgb[..., 1] = (np.arange(HEIGHT)[:, None] * 5) % 256
        rgb[..., 2] = rng.integers(0, 256, (HEIGHT, WIDTH))
        frames.append(rgb)
    return frames


def write_stream(frames: list[np.ndarray], path: str, fmt: str, codec: str) -> None:
    """Encode frames with ``codec`` into a ``fmt`` container (to patch its codec identifier afterwards)."""
    with av.open(path, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def packet_spans(path: str) -> list[tuple[int, int]]:
    """(byte offset, size) of every video packet of a file, in stream order."""
    with av.open(path) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


def overwrite(data: bytes, start: int, length: int, seed: int) -> bytes:
    """``data`` with ``length`` random bytes written over it from ``start`` (same length, so offsets still hold)."""
    noise = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    return data[:start] + noise + data[start + length :]


def write_clip_faststart(frames: list[np.ndarray], path: str) -> None:
    """A clip whose moov atom (the index) stands in front of the frame data."""
    write_clip(frames, path, muxer_options={"movflags": "faststart"})


def has_decoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown and encoder-only codecs
        return False
    return True


# --------------------------------------------------------------------------------------------- run helpers


def only_row(rows: list[dict], suffix: str) -> dict:
    found = [r for r in rows if r["input_uri"].endswith(suffix)]
    assert len(found) == 1, f"expected one row for {suffix}, got {found}"
    return found[0]


def outputs_named(output: str, stem: str) -> list[str]:
    """Output videos written for an input: OUTPUT/anonymized/<camera>/<day>/<stem>-<id>.mp4."""
    return glob.glob(os.path.join(output, "anonymized", "**", f"{glob.escape(stem)}-*.mp4"), recursive=True)


def assert_run_goes_on(run: dict) -> None:
    """The good clip is anonymized and written, and the run row counts every input once."""
    rows = run["rows"]
    good = only_row(rows["media"], "/good.mp4")
    assert good["status"] == ANONYMIZED
    assert (good["frames"], good["frames_out"]) == (FRAMES, FRAMES)
    assert os.path.isfile(good["output_uri"])
    (summary,) = rows["runs"]
    assert summary["inputs"] == summary["anonymized"] + summary["quarantined"]
    assert (summary["anonymized"], summary["quarantined"]) == (len(rows["media"]), len(rows["quarantine"]))


def assert_refused(run: dict, suffix: str, reason: QuarantineReason, *message_parts: str) -> dict:
    """The input ending in ``suffix`` has one quarantine row with ``reason``, no media row and no output video."""
    rows = run["rows"]
    row = only_row(rows["quarantine"], suffix)
    assert row["reason_code"] == reason.value, row["message"]
    for part in message_parts:
        assert part in row["message"]
    assert [r for r in rows["media"] if r["input_uri"].endswith(suffix)] == []
    stem = os.path.splitext(os.path.basename(suffix.rstrip("/")))[0]
    assert outputs_named(run["output"], stem) == []
    assert_run_goes_on(run)
    return row


def quarantine_folders(run: dict) -> dict[str, tuple[str, dict]]:
    """OUTPUT/quarantine/<run_id>/<id>/ of every refused input, with its reason.json, by input uri."""
    run_id = run["rows"]["runs"][0]["run_id"]
    found = {}
    for path in glob.glob(os.path.join(run["output"], "quarantine", run_id, "*", "reason.json")):
        with open(path) as handle:
            details = json.load(handle)
        found[details["input_uri"]] = (os.path.dirname(path), details)
    return found


# --------------------------------------------------------------------------------------------- the bad folder


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, run_job) -> dict:
    """One run over a folder of every kind of bad input plus one good clip; ``expected`` says how each ends."""
    root = tmp_path_factory.mktemp("bad-inputs")
    folder = root / "in"
    folder.mkdir()
    frames = clip_frames()
    good = folder / "good.mp4"
    write_clip(frames, str(good))
    good_bytes = good.read_bytes()
    expected = {"good.mp4": ANONYMIZED}

    (folder / "empty.mp4").write_bytes(b"")
    expected["empty.mp4"] = QuarantineReason.EMPTY_FILE

    # write_clip puts the moov atom (the index) after the frame data, as a recorder writing live does.
    (folder / "truncated_moov_at_end.mp4").write_bytes(good_bytes[: len(good_bytes) // 2])
    expected["truncated_moov_at_end.mp4"] = QuarantineReason.CORRUPT_MEDIA
    write_clip_faststart(frames, str(root / "faststart.mp4"))
    fast = (root / "faststart.mp4").read_bytes()
    assert fast[4:8] == b"ftyp" and fast.find(b"moov") < fast.find(b"mdat"), "faststart: index before data"
    (folder / "truncated_faststart.mp4").write_bytes(fast[: len(fast) // 2])
    expected["truncated_faststart.mp4"] = QuarantineReason.TRUNCATED_MEDIA

    # Damage inside one coded frame (frame 12, a P frame): 32 bytes in the middle of its slice data, or the
    # whole packet including its NAL length prefix.
    pos, size = packet_spans(str(good))[12]
    (folder / "damaged_lightly.mp4").write_bytes(overwrite(good_bytes, pos + size // 2 - 16, 32, seed=1))
    expected["damaged_lightly.mp4"] = ANONYMIZED
    (folder / "damaged_heavily.mp4").write_bytes(overwrite(good_bytes, pos, size, seed=1))
    expected["damaged_heavily.mp4"] = QuarantineReason.CORRUPT_MEDIA

    (folder / "not_a_video.mp4").write_text("meeting notes, not a video\n" * 20)
    expected["not_a_video.mp4"] = QuarantineReason.CORRUPT_MEDIA

    # Unsupported codec, two ways: an MKV whose CodecID names no codec FFmpeg knows, and an AVI whose fourcc
    # names AVS2 (China's broadcast/surveillance codec), which FFmpeg knows but PyAV's build cannot decode.
    write_stream(frames, str(root / "h264.mkv"), "matroska", "libx264")
    mkv = (root / "h264.mkv").read_bytes()
    assert mkv.count(b"V_MPEG4/ISO/AVC") == 1
    (folder / "unknown_codec.mkv").write_bytes(mkv.replace(b"V_MPEG4/ISO/AVC", b"V_VEIL/NOCODEC!"))
    expected["unknown_codec.mkv"] = QuarantineReason.UNSUPPORTED_CODEC
    if not has_decoder("avs2"):
        write_stream(frames, str(root / "mpeg4.avi"), "avi", "mpeg4")
        avi = (root / "mpeg4.avi").read_bytes()
        assert avi.count(b"FMP4") == 2  # stream header handler and bitmap-info compression
        (folder / "avs2.avi").write_bytes(avi.replace(b"FMP4", b"AVS2"))
        expected["avs2.avi"] = QuarantineReason.UNSUPPORTED_CODEC

    with zipfile.ZipFile(folder / "unsafe.zip", "w") as archive:
        archive.writestr("cam/inside.mp4", good_bytes)
        archive.writestr("../escape.mp4", good_bytes)
        archive.writestr(zipfile.ZipInfo("/abs/absolute.mp4"), good_bytes)
        link = zipfile.ZipInfo("cam/link.mp4")
        link.create_system, link.external_attr = 3, 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with zipfile.ZipFile(folder / "unsafe.zip") as archive:
        assert {i.filename for i in archive.infolist()} >= {"../escape.mp4", "/abs/absolute.mp4"}
        assert sum(i.file_size for i in archive.infolist()) < ARCHIVE_LIMIT
    expected.update(
        {
            "unsafe.zip!cam/inside.mp4": ANONYMIZED,
            "unsafe.zip!../escape.mp4": QuarantineReason.UNSAFE_ARCHIVE_PATH,
            "unsafe.zip!/abs/absolute.mp4": QuarantineReason.UNSAFE_ARCHIVE_PATH,
            "unsafe.zip!cam/link.mp4": QuarantineReason.UNSAFE_ARCHIVE_PATH,
        }
    )

    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cam/fine.mp4", good_bytes)
        archive.writestr("cam/huge.mp4", bytes(5_000_000))
    assert (folder / "bomb.zip").stat().st_size < 50_000, "a bomb: small on disk, large expanded"
    expected["bomb.zip"] = QuarantineReason.ARCHIVE_TOO_LARGE

    (folder / "garbage.zip").write_bytes(np.random.default_rng(7).integers(0, 256, 4096, np.uint8).tobytes())
    expected["garbage.zip"] = QuarantineReason.CORRUPT_ARCHIVE

    # A frame folder whose third frame is not a JPEG: the probe reads only the first frame, so this is found
    # while decoding, after other frames were already scanned.
    stills = folder / "frames_bad"
    stills.mkdir()
    for i, rgb in enumerate(frames[:6]):
        cv2.imwrite(str(stills / f"{i:03d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (stills / "002.jpg").write_bytes(b"this is not a JPEG")
    expected["frames_bad/"] = QuarantineReason.UNREADABLE_FRAMES

    (folder / "notes.txt").write_text("camera 3 was moved on Tuesday\n")
    expected["notes.txt"] = QuarantineReason.UNSUPPORTED_FILE

    output = str(root / "out")
    rows = run_job(str(folder), output, "--max-archive-bytes", str(ARCHIVE_LIMIT))
    return {"input": str(folder), "output": output, "rows": rows, "expected": expected, "good_size": len(good_bytes)}


def test_every_bad_input_ends_exactly_once_and_the_run_row_counts_them(bad_run):
    rows, expected = bad_run["rows"], bad_run["expected"]
    prefix = bad_run["input"] + "/"
    ended = {r["input_uri"].removeprefix(prefix): ANONYMIZED for r in rows["media"]}
    refused = {r["input_uri"].removeprefix(prefix): QuarantineReason(r["reason_code"]) for r in rows["quarantine"]}
    assert not set(ended) & set(refused), "an input ended twice"
    assert {**ended, **refused} == expected
    assert all(r["status"] == ANONYMIZED for r in rows["media"])
    (summary,) = rows["runs"]
    anonymized = sum(1 for v in expected.values() if v == ANONYMIZED)
    assert (summary["inputs"], summary["anonymized"], summary["quarantined"], summary["skipped"]) == (
        len(expected),
        anonymized,
        len(expected) - anonymized,
        0,
    )
    written = glob.glob(os.path.join(bad_run["output"], "anonymized", "**", "*.mp4"), recursive=True)
    assert sorted(written) == sorted(r["output_uri"] for r in rows["media"])


def test_zero_byte_video_is_quarantined_as_empty_file(bad_run):
    assert_refused(bad_run, "/empty.mp4", QuarantineReason.EMPTY_FILE, "empty", "0 bytes")


def test_truncated_mp4_without_its_trailing_index_is_quarantined_as_corrupt_media(bad_run):
    # corrupt_media, not truncated_media: the muxer writes the moov atom (codec parameters, frame count, frame
    # offsets) last, so cutting the file in half drops the whole index. What is left (ftyp + part of mdat) is
    # not an openable container ("moov atom not found"), and nothing readable in it declares frames that are
    # missing. truncated_media is for a container that opens and declares more frames than it holds (below).
    assert_refused(
        bad_run, "/truncated_moov_at_end.mp4", QuarantineReason.CORRUPT_MEDIA, "not a readable video container"
    )


def test_truncated_faststart_mp4_is_quarantined_as_truncated_media(bad_run):
    # truncated_media: with faststart the index comes first and survives the cut; it declares 20 frames while
    # only the first half of the frame data is there, so the probe can say exactly that.
    assert_refused(
        bad_run, "/truncated_faststart.mp4", QuarantineReason.TRUNCATED_MEDIA, f"declares {FRAMES} frames but holds 10"
    )


def test_damaged_frame_data_the_decoder_conceals_is_anonymized_with_every_frame(bad_run):
    # 32 random bytes inside one frame's slice data: H.264 decoding conceals the damage (no error), so the
    # input is anonymized like any other, with all of its frames, each scanned and redacted as decoded.
    row = only_row(bad_run["rows"]["media"], "/damaged_lightly.mp4")
    assert row["status"] == ANONYMIZED
    assert (row["frames"], row["frames_out"]) == (FRAMES, FRAMES)
    with av.open(row["output_uri"]) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    assert [r for r in bad_run["rows"]["quarantine"] if r["input_uri"].endswith("/damaged_lightly.mp4")] == []
    assert_run_goes_on(bad_run)


def test_damaged_frame_data_the_decoder_rejects_quarantines_the_whole_video_as_corrupt_media(bad_run):
    # A whole packet overwritten (its NAL length prefix too): the decoder refuses it mid-stream, after earlier
    # frames were already decoded and scanned; fail closed means nothing of the video is written.
    assert_refused(bad_run, "/damaged_heavily.mp4", QuarantineReason.CORRUPT_MEDIA, "decoding failed", "Invalid data")


def test_text_file_with_a_video_extension_is_quarantined_as_corrupt_media(bad_run):
    assert_refused(bad_run, "/not_a_video.mp4", QuarantineReason.CORRUPT_MEDIA, "not a readable video container")


def test_mkv_with_an_unknown_codec_id_is_quarantined_as_unsupported_codec(bad_run):
    assert_refused(
        bad_run, "/unknown_codec.mkv", QuarantineReason.UNSUPPORTED_CODEC, "no decoder for this video stream"
    )


def test_avi_of_a_codec_without_a_decoder_is_quarantined_as_unsupported_codec(bad_run):
    if "avs2.avi" not in bad_run["expected"]:
        pytest.skip("this PyAV build can decode AVS2")
    assert_refused(bad_run, "/avs2.avi", QuarantineReason.UNSUPPORTED_CODEC, "no decoder for this video stream")


def test_zip_entries_escaping_the_archive_are_quarantined_and_the_safe_entry_is_anonymized(bad_run):
    for entry in ("../escape.mp4", "/abs/absolute.mp4"):
        assert_refused(
            bad_run,
            f"/unsafe.zip!{entry}",
            QuarantineReason.UNSAFE_ARCHIVE_PATH,
            repr(entry),
            "escapes the archive folder",
        )
    assert_refused(
        bad_run, "/unsafe.zip!cam/link.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH, "is a symlink, not a regular file"
    )
    inside = only_row(bad_run["rows"]["media"], "/unsafe.zip!cam/inside.mp4")
    assert inside["status"] == ANONYMIZED and (inside["frames"], inside["frames_out"]) == (FRAMES, FRAMES)
    assert os.path.isfile(inside["output_uri"])
    # Nothing was extracted next to the input or written out for the refused entries (same bytes as inside.mp4).
    assert not os.path.exists(os.path.join(os.path.dirname(bad_run["input"]), "escape.mp4"))
    assert outputs_named(bad_run["output"], "escape") == outputs_named(bad_run["output"], "absolute") == []


def test_zip_bomb_over_the_archive_limit_is_quarantined_whole_as_archive_too_large(bad_run):
    row = assert_refused(bad_run, "/bomb.zip", QuarantineReason.ARCHIVE_TOO_LARGE, f"over the limit of {ARCHIVE_LIMIT}")
    assert f"declares {5_000_000 + bad_run['good_size']} bytes expanded" in row["message"]
    # One row for the archive, none for its members, and not even its harmless member is processed.
    rows = bad_run["rows"]
    assert [r["input_uri"] for r in rows["quarantine"] if "/bomb.zip" in r["input_uri"]] == [row["input_uri"]]
    assert [r for r in rows["media"] if "/bomb.zip" in r["input_uri"]] == []
    assert outputs_named(bad_run["output"], "fine") == outputs_named(bad_run["output"], "huge") == []


def test_zip_of_garbage_bytes_is_quarantined_as_corrupt_archive(bad_run):
    assert_refused(bad_run, "/garbage.zip", QuarantineReason.CORRUPT_ARCHIVE, "cannot read archive", "not a zip file")


def test_frame_folder_with_a_frame_that_is_not_a_jpeg_is_quarantined_as_unreadable_frames(bad_run):
    row = assert_refused(bad_run, "/frames_bad/", QuarantineReason.UNREADABLE_FRAMES, "002.jpg", "not a readable image")
    assert row["media_id"]


def test_non_media_file_is_quarantined_as_unsupported_file(bad_run):
    assert_refused(bad_run, "/notes.txt", QuarantineReason.UNSUPPORTED_FILE, "not a video")


def test_every_refused_input_has_its_reason_json_in_the_runs_quarantine_folder(bad_run):
    folders = quarantine_folders(bad_run)
    rows = bad_run["rows"]["quarantine"]
    assert set(folders) == {r["input_uri"] for r in rows}
    for row in rows:
        _, details = folders[row["input_uri"]]
        assert (details["reason_code"], details["message"]) == (row["reason_code"], row["message"])


@pytest.mark.parametrize(
    "name",
    [
        "damaged_heavily.mp4",
        "empty.mp4",
        "truncated_moov_at_end.mp4",
        "truncated_faststart.mp4",
        "not_a_video.mp4",
        "unknown_codec.mkv",
        "notes.txt",
        "garbage.zip",
        "bomb.zip",
    ],
)
def test_refused_single_file_is_kept_with_its_reason_json_in_the_quarantine_folder(bad_run, name):
    source = os.path.join(bad_run["input"], name)
    folder, details = quarantine_folders(bad_run)[source]
    kept = os.path.join(folder, name)
    assert details["kept_copy"] == kept and details["copy_error"] is None
    with open(kept, "rb") as copy, open(source, "rb") as original:
        assert copy.read() == original.read()


# --------------------------------------------------------------------------------------------- damaged archives


def _zip_with_undeflatable_member(path: str, payload: bytes) -> None:
    """A zip whose directory is intact but whose member's deflate stream starts with an invalid block type."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cam/a.mp4", payload)
    with zipfile.ZipFile(path) as archive:
        (info,) = archive.infolist()
    with open(path, "r+b") as handle:
        handle.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(handle.read(2), "little"), int.from_bytes(handle.read(2), "little")
        handle.seek(info.header_offset + 30 + name_len + extra_len)
        handle.write(b"\xff")  # BFINAL=1, BTYPE=11: reserved, so zlib stops with "invalid block type"


def _tar_gz_with_damaged_second_header(path: str, payload: bytes) -> None:
    """A tar.gz of two clips whose second member header is garbled; the gzip CRC is that of the intact tar.

    That is what bit rot in a stored .tar.gz looks like: the gzip checksum no longer matches the data.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("cam/a.mp4", "cam/b.mp4"):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(payload), 1_700_000_000
            tar.addfile(info, io.BytesIO(payload))
    intact = raw.getvalue()
    second = 512 + (len(payload) + 511) // 512 * 512
    damaged = overwrite(intact, second, 512, seed=3)
    body = gzip.compress(damaged, mtime=0)
    crc = zlib.crc32(intact).to_bytes(4, "little")
    with open(path, "wb") as handle:
        handle.write(body[:-8] + crc + body[-4:])


@pytest.fixture(scope="module")
def damaged_archive_run(tmp_path_factory, run_job) -> dict:
    root = tmp_path_factory.mktemp("damaged-archives")
    folder = root / "in"
    folder.mkdir()
    write_clip(clip_frames(), str(folder / "good.mp4"))
    payload = (folder / "good.mp4").read_bytes()
    _zip_with_undeflatable_member(str(folder / "undeflatable.zip"), payload)
    _tar_gz_with_damaged_second_header(str(folder / "bitrot.tar.gz"), payload)
    output = str(root / "out")
    return {"input": str(folder), "output": output, "rows": run_job(str(folder), output)}


def test_zip_with_garbage_in_a_compressed_member_is_quarantined_as_corrupt_archive(damaged_archive_run):
    assert_refused(damaged_archive_run, "/undeflatable.zip", QuarantineReason.CORRUPT_ARCHIVE, "cannot read archive")


def test_tar_gz_with_a_damaged_member_header_is_quarantined_as_corrupt_archive(damaged_archive_run):
    assert_refused(damaged_archive_run, "/bitrot.tar.gz", QuarantineReason.CORRUPT_ARCHIVE, "cannot read archive")
    rows = damaged_archive_run["rows"]
    assert [r for r in rows["media"] if "/bitrot.tar.gz" in r["input_uri"]] == []
    assert [r["input_uri"] for r in rows["quarantine"] if "/bitrot.tar.gz" in r["input_uri"]] == [
        os.path.join(damaged_archive_run["input"], "bitrot.tar.gz")
    ]


# --------------------------------------------------------------------------------------------- exit status


def test_cli_exits_3_and_reports_the_quarantined_input_when_one_file_is_bad(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_clip(clip_frames(), str(folder / "good.mp4"))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 10)
    output = tmp_path / "out"
    status = cli.main(["anonymize", str(folder), str(output)])
    shown = capsys.readouterr().out
    assert status == cli.EXIT_QUARANTINED == 3
    assert "2 input(s) in" in shown and "anonymized: 1  quarantined: 1" in shown
    assert f"quarantined {folder / 'broken.mp4'}: {IN_WORDS[QuarantineReason.CORRUPT_MEDIA]}\n" in shown
    assert "quarantine folder: " + str(output / "quarantine") in shown
    assert outputs_named(str(output), "broken") == [] and len(outputs_named(str(output), "good")) == 1


# --------------------------------------------------------------------------------------------- a failed run


def tar_of_one_clip(folder) -> str:
    """A tar archive of one clip, which a run stages (extracts) under OUTPUT/.work before scanning it."""
    clip, archive = folder / "clip.mp4", folder / "in.tar"
    write_clip(clip_frames(), str(clip))
    with tarfile.open(archive, "w") as tar:
        tar.add(clip, arcname="cam-01/clip.mp4")
    return str(archive)


def test_a_run_that_fails_leaves_no_staged_footage_under_output(tmp_path, run_job):
    archive, output = tar_of_one_clip(tmp_path), tmp_path / "out"
    # A file where the media table's folder belongs: the run stages the clip out of the archive, anonymizes it, and
    # fails writing the table.
    (output / "tables").mkdir(parents=True)
    (output / "tables" / "media").write_text("in the way")
    with pytest.raises(Exception, match="tables/media"):
        run_job(archive, str(output), "--run-id", "doomed")
    assert not (output / ".work").exists()


def test_the_staged_footage_of_a_killed_launcher_is_removed_by_the_next_run(tmp_path, run_job):
    archive, output = tar_of_one_clip(tmp_path), tmp_path / "out"
    work = output / ".work" / "killed"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "pipelines.anonymize", archive, str(output), "--run-id", "killed"],
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    deadline = time.monotonic() + 120
    while (
        launcher.poll() is None
        and time.monotonic() < deadline
        and not (
            (work / work_folders.LAUNCHER_FILE).exists()
            and glob.glob(str(work / "staging" / "**" / "*.mp4"), recursive=True)
        )
    ):
        time.sleep(0.02)
    assert launcher.poll() is None, "the run ended before it could be killed with its footage staged"
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait()
    assert glob.glob(str(work / "staging" / "**" / "*.mp4"), recursive=True), "kill -9 leaves the staged clip"

    rows = run_job(archive, str(output), "--run-id", "next")
    assert [r["status"] for r in rows["media"]] == [ANONYMIZED]
    assert not (output / ".work").exists()
