"""Per-stage throughput (`make bench` runs it first; alone: `.venv/bin/python bench/stages.py`): frames/s of each
stage of Veil's per-frame work, in one process, so the next saving is chosen by measurement.

    .venv/bin/python bench/stages.py [--frames N] [--threads 1,2] [--out DIR]

Inputs: the first N frames (default 300) of the shared footage clip (768x432), and the same frames upscaled to
1080p (bench/eval.py's copy, made once under bench/out/eval/variants). Stages, each timed on its own over all N
frames, with the outputs of the stage before it computed beforehand:
  decode      PyAV decoding to frames (what detection and redaction each do once per segment);
  rgb         frame to the RGB array the detectors take (scanned frames only, in the job);
  blazeface   BlazeFace on the frame or its tiles (transforms.detection.cue_rects); pose-heads: the pose detector
              on the same; centerface-whole: CenterFace on the whole frame, what checking only BlazeFace's weak
              candidates saves;
  detect      the detection stage as configured by default (transforms.detection.scan: one frame in `every`,
              CenterFace in the squares of BlazeFace's weak candidates), per input frame;
  track       linking the detections into tracks and the regions they cover (transforms.logic.tracking);
  redact      frame to YUV, blur every region, back to a frame (transforms.logic.masks.redact);
  encode      libx264 at Veil's preset and crf (transforms.encoding.SegmentEncoder).
Model stages run at each thread count of --threads (a worker's models get the machine's cores shared among its
worker processes: launch.threads_per_worker); the others are single-threaded or use their library's own threads.
Frames/s = N / wall seconds. Writes OUT/stages.json and OUT/stages.md (OUT: --out, default bench/out).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
sys.path += [p for p in (str(HERE), str(HERE.parent)) if p not in sys.path]  # bench.py, eval.py and Veil as modules
import eval as bench_eval  # noqa: E402

import bench  # noqa: E402
from schemas.codes import RedactionMode  # noqa: E402
from transforms.detection import FaceDetector, ScanCounts, cue_rects, scan  # noqa: E402
from transforms.logic.masks import pixel_format, redact  # noqa: E402
from transforms.logic.scanning import DetectorConfig  # noqa: E402
from transforms.logic.tracking import TrackerConfig, link_tracks, track_regions  # noqa: E402
from transforms.services.detectors import BlazeFaceBack, CenterFace, PoseHeads  # noqa: E402
from transforms.services.media import EncoderConfig, SegmentEncoder  # noqa: E402


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def decode_all(path: Path, frames: int) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return [f for _, f in zip(range(frames), container.decode(stream))]


def model_stages(rgbs: list, threads: int, config: DetectorConfig) -> tuple[dict[str, float], list, ScanCounts]:
    """Seconds of each model over all frames, at ``threads`` threads."""
    height, width = rgbs[0].shape[:2]
    faces, heads, centerface = BlazeFaceBack(threads), PoseHeads(threads), CenterFace(threads)
    cues = cue_rects(width, height)
    seconds = {
        "blazeface": timed(
            lambda: [faces.detect(f[y : y + h, x : x + w], config.face_threshold) for f in rgbs for x, y, w, h in cues]
        )[0],
        "pose-heads": timed(
            lambda: [heads.detect(f[y : y + h, x : x + w], config.head_threshold) for f in rgbs for x, y, w, h in cues]
        )[0],
        "centerface-whole": timed(lambda: [centerface.detect(f, config.centerface_threshold) for f in rgbs])[0],
    }
    model = FaceDetector(dataclasses.replace(config, threads=threads))
    counts = ScanCounts()
    seconds["detect"], found = timed(
        lambda: list(scan(enumerate(rgbs), lambda item: model.detect(*item), config, counts))
    )
    return seconds, found, counts


def measure(path: Path, frames: int, thread_counts: list[int]) -> dict:
    """Seconds per stage on the first ``frames`` frames of one input."""
    decode_s, decoded = timed(lambda: decode_all(path, frames))
    rgb_s, rgbs = timed(lambda: [f.to_ndarray(format="rgb24") for f in decoded])
    width, height = decoded[0].width, decoded[0].height
    config = DetectorConfig()
    row = {
        "input": str(path),
        "width": width,
        "height": height,
        "frames": len(decoded),
        "seconds": {"decode": decode_s, "rgb": rgb_s},
        "by_threads": {},
    }
    found = []
    for threads in thread_counts:
        seconds, found, counts = model_stages(rgbs, threads, config)
        row["by_threads"][str(threads)] = seconds
        row["scanned"], row["checked"] = counts.scanned, counts.checked
    tracker = TrackerConfig().covering(config.head_stride)
    track_s, regions = timed(lambda: _regions(found, tracker, len(decoded)))
    row["seconds"]["track"] = track_s
    fmt = pixel_format(width, height)
    planes = [f.to_ndarray(format=fmt) for f in decoded]

    def redact_all():
        out = []
        for i, (frame, plane) in enumerate(zip(decoded, planes)):
            boxes = regions.get(i)
            out.append(
                av.VideoFrame.from_ndarray(redact(plane, width, height, boxes, RedactionMode.BLUR), format=fmt)
                if boxes
                else frame
            )
        return out

    row["seconds"]["redact"], redacted = timed(redact_all)
    row["redacted_frames"] = sum(1 for i in range(len(decoded)) if regions.get(i))
    with tempfile.TemporaryDirectory() as tmp:
        encoder = SegmentEncoder(os.path.join(tmp, "part.mp4"), width, height, Fraction(10), EncoderConfig())

        def encode_all():
            for frame in redacted:
                encoder.write(frame)
            encoder.close()

        row["seconds"]["encode"] = timed(encode_all)[0]
    return row


def _regions(found: list, tracker: TrackerConfig, frame_count: int) -> dict[int, tuple]:
    regions: dict[int, list] = {}
    for track in link_tracks(found, tracker):
        for frame, box in track_regions(track, tracker, frame_count).items():
            regions.setdefault(frame, []).append(box)
    return {f: tuple(b) for f, b in regions.items()}


def lines(rows: list[dict]) -> list[str]:
    """The rows as a Markdown table: frames/s per stage."""
    out = ["| input | stage | threads | frames/s | ms/frame |", "|---|---|---|---|---|"]
    for row in rows:
        label = f"{Path(row['input']).name} ({row['width']}x{row['height']}, {row['frames']} frames)"
        entries = [(name, "–", s) for name, s in row["seconds"].items() if name in ("decode", "rgb")]
        entries += [(name, t, s) for t, stages in row["by_threads"].items() for name, s in stages.items()]
        entries += [(name, "–", s) for name, s in row["seconds"].items() if name not in ("decode", "rgb")]
        for name, threads, seconds in entries:
            out.append(
                f"| {label} | {name} | {threads} | {row['frames'] / seconds:.1f} | "
                f"{1000 * seconds / row['frames']:.1f} |"
            )
        out.append(
            f"| {label} | (detect scanned {row['scanned']} frames, CenterFace checked "
            f"{row['checked']} squares; "
            f"{row['redacted_frames']} frames redacted) | | | |"
        )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--frames", type=int, default=300, help="frames of each input (default 300)")
    parser.add_argument(
        "--threads",
        default=f"1,{os.cpu_count() or 1}",
        help="thread counts of the model stages (default 1 and the machine's cores)",
    )
    parser.add_argument("--out", type=Path, default=bench.OUT, help=f"output folder (default {bench.OUT})")
    args = parser.parse_args(argv)
    thread_counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    footage = bench.find_footage()
    if footage is None:
        print("stages: the shared footage clip is not there (set VEIL_FOOTAGE)", file=sys.stderr)
        return 1
    hd = args.out / "eval" / "variants" / f"{footage.stem}-1080p-{args.frames}f.mp4"
    if not hd.is_file():
        hd.parent.mkdir(parents=True, exist_ok=True)
        bench_eval.write_scaled(footage, hd, 1.0, frame_limit=args.frames, size=bench_eval.HD_SIZE)
    machine = bench.machine()
    print(
        f"stages: {args.frames} frames of {footage.name} and its 1080p copy; threads {thread_counts}; "
        f"load {' '.join(machine['loadavg_at_start'])}",
        flush=True,
    )
    rows = [measure(path, args.frames, thread_counts) for path in (footage, hd)]
    res = {
        "when": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine,
        "loadavg_at_end": [f"{x:.2f}" for x in os.getloadavg()],
        "rows": rows,
    }
    table = lines(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stages.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "stages.md").write_text(
        f"# Veil per-stage throughput (`bench/stages.py`)\n\n{res['when']}; {machine['nproc']} x "
        f"{machine['cpu_model']}, load average {' '.join(machine['loadavg_at_start'])} at start, "
        f"{' '.join(res['loadavg_at_end'])} at end.\n\n" + "\n".join(table) + "\n"
    )
    print("\n".join(table))
    print(f"written: {args.out / 'stages.md'}, {args.out / 'stages.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
