"""Detector frontier: per-frame recall, false detections, needless redaction and cost of each candidate detector
(transforms/services/detectors.py) and of unions of a face detector with pose-detector heads, without tracking.

    .venv/bin/python bench/frontier.py [--out DIR] [--scales 1,0.7,0.5] [--clips NAME,...] [--no-timing]

Clips: every annotated clip tests/footage_clips.py finds, each in its set (settings are picked on `tune`, checked on
`confirm`); only annotated frames are run. Scales as bench/eval.py makes them (its scaled_size and
scale_groundtruth, imported): frames resized with area averaging, boxes scaled, faces now under 20 px high become
hard; unlike eval, the copies stay in memory and are not re-encoded. Each network runs once per frame and is decoded
at every threshold of THRESHOLDS.

A face is found when a detection overlaps it with IoU >= 0.3 or either box holds the other's centre. A false
detection matches no face, counted once per region (overlapping ones merged). Needless redaction: the detections
padded as Veil pads them (0.3 of the width, 0.4 of the height on each side) outside the ground-truth faces padded by
bench/eval.py's allowance, as a share of the frame, averaged over frames. Timing: median wall ms per call on a frame
of the mp4 at 480x270, 768x432 and 1920x1080 (upscaled), 1 and 2 threads, with the foreign load (CPU of other
processes, in cores) measured over each block. Memory: resident memory a model adds once loaded and run at the three
sizes, measured in a fresh process per detector.

Writes OUT/frontier.json and OUT/frontier.md (default: bench/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path += [p for p in (str(HERE), str(HERE.parent)) if p not in sys.path]  # bench.py, eval.py and the package
import eval as scaling  # noqa: E402  (bench/eval.py: how scaled copies and their ground truth are made)

import bench  # noqa: E402
from tests.footage_clips import SETS, discover  # noqa: E402
from transforms.logic.geometry import centre, clip_box, iou, merge_overlapping, pad_box  # noqa: E402
from transforms.services.detectors import DETECTORS  # noqa: E402

THRESHOLDS = {
    "centerface": (0.1, 0.2, 0.3, 0.5),
    "retinaface": (0.1, 0.3, 0.5),
    "yunet": (0.2, 0.3, 0.5),
    "blazeface": (0.1, 0.3, 0.5),
    "pose_heads": (0.1, 0.3, 0.5),
}
"""Scores each detector is decoded at (YuNet reports nothing under 0.2)."""
UNIONS = (
    ("retinaface", "pose_heads"),
    ("blazeface", "pose_heads"),
    ("centerface", "pose_heads"),
    ("yunet", "pose_heads"),
)
"""Pairs whose union is scored at every pair of their thresholds: a face detector and a head cue."""
TIMING_SIZES = ((480, 270), (768, 432), (1920, 1080))
VEIL_PAD = (0.3, 0.4)
"""The padding Veil redacts around a detection, of its width and height on each side."""
MATCH_IOU = 0.3
TARGET_RECALL = 0.98
"""A configuration is recommended from the tune set when it finds this share of all faces at every scale."""


# ---------------------------------------------------------------- pure measures


def _holds_centre(outer, inner) -> bool:
    cx, cy = centre(inner)
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def matches(box, face) -> bool:
    """The notes' rule: IoU >= 0.3, or either box holds the other's centre."""
    return iou(box, face) >= MATCH_IOU or _holds_centre(box, face) or _holds_centre(face, box)


def found_flags(boxes: list, faces: list[dict]) -> list[bool]:
    """For each ground-truth face, whether any of the boxes finds it."""
    return [any(matches(b, f["box"]) for b in boxes) for f in faces]


def false_regions(boxes: list, faces: list[dict]) -> int:
    """Boxes matching no face, overlapping ones counted once."""
    stray = [(b, 1.0) for b in boxes if not any(matches(b, f["box"]) for f in faces)]
    return len(merge_overlapping(stray, MATCH_IOU))


def needless_share(boxes: list, faces: list[dict], width: int, height: int) -> float:
    """Share of the frame redacted (boxes padded as Veil pads) outside the allowed area around the faces."""
    mask = np.zeros((height, width), bool)
    for box in boxes:
        rect = clip_box(pad_box(box, *VEIL_PAD), width, height)
        if rect:
            mask[rect[1] : rect[3], rect[0] : rect[2]] = True
    return float((mask & ~scaling.face_allowance(faces, width, height)).mean())


# ---------------------------------------------------------------- running


def annotated_frames(clip) -> tuple[dict, dict[int, np.ndarray]]:
    """A clip's ground truth and its annotated frames (RGB)."""
    truth = json.loads(clip.groundtruth.read_text())
    keep = {int(i) for i in truth["annotated_frames"]}
    frames = {}
    with av.open(str(clip.video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in keep:
                frames[index] = frame.to_ndarray(format="rgb24")
    return truth, frames


def new_tally() -> dict:
    return {
        "frames": 0,
        "faces": 0,
        "found": 0,
        "not_hard": 0,
        "not_hard_found": 0,
        "hard": 0,
        "hard_found": 0,
        "false": 0,
        "needless": 0.0,
    }


def add(tally: dict, flags: list[bool], faces: list[dict], false: int, needless: float) -> None:
    tally["frames"] += 1
    tally["false"] += false
    tally["needless"] += needless
    for flag, face in zip(flags, faces):
        kind = "hard" if face["hard"] else "not_hard"
        tally["faces"] += 1
        tally["found"] += flag
        tally[kind] += 1
        tally[f"{kind}_found"] += flag


def score_frame(found: dict, faces: list[dict], width: int, height: int, tallies: dict, keys: list) -> None:
    """Tally one frame for every detector configuration and union, under every key (clip, set, pooled)."""
    flags = {cfg: found_flags(boxes, faces) for cfg, boxes in found.items()}
    configs = [(cfg, boxes, flags[cfg]) for cfg, boxes in found.items()]
    for first, second in UNIONS:
        for a in THRESHOLDS[first]:
            for b in THRESHOLDS[second]:
                one, two = f"{first}@{a:g}", f"{second}@{b:g}"
                if one in found and two in found:
                    joint = [x or y for x, y in zip(flags[one], flags[two])]
                    configs.append((f"{one}+{two}", found[one] + found[two], joint))
    for cfg, boxes, flag in configs:
        false, needless = false_regions(boxes, faces), needless_share(boxes, faces, width, height)
        for key in keys:
            add(tallies[(cfg, *key)], flag, faces, false, needless)


def scaled_frames(frames: dict[int, np.ndarray], truth: dict, scale: float):
    """The annotated frames at ``scale`` as eval makes its copies: (rgb, its ground-truth faces) per frame."""
    src_h, src_w = next(iter(frames.values())).shape[:2]
    width, height = scaling.scaled_size(src_w, src_h, scale) if scale != 1 else (src_w, src_h)
    scaled = truth if scale == 1 else scaling.scale_groundtruth(truth, width / src_w, height / src_h)
    for index, rgb in frames.items():
        if scale != 1:
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        yield rgb, scaled["frames"].get(str(index), [])


def measure_recall(clips, scales: list[float], detectors: dict) -> dict:
    tallies: dict = defaultdict(new_tally)
    for clip in clips:
        truth, frames = annotated_frames(clip)
        for scale in scales:
            started = time.monotonic()
            for rgb, faces in scaled_frames(frames, truth, scale):
                height, width = rgb.shape[:2]
                found = {}
                for name, det in detectors.items():
                    raw = det.forward(rgb)
                    for threshold in THRESHOLDS[name]:
                        found[f"{name}@{threshold:g}"] = [box for box, _ in det.decode(raw, threshold)]
                keys = [(f"{scale:g}", clip.id), (f"{scale:g}", clip.set), (f"{scale:g}", "pooled")]
                score_frame(found, faces, width, height, tallies, keys)
            print(f"{clip.id}@{scale:g}: {len(frames)} frames in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return tallies


def time_detector(name: str, frame: np.ndarray, threads: int, budget_s: float = 1.5) -> dict:
    """Median wall ms per call at each timing size, with the foreign load over the block."""
    det = DETECTORS[name](threads=threads)
    threshold = THRESHOLDS[name][0]
    out = {}
    for width, height in TIMING_SIZES:
        interp = cv2.INTER_AREA if width <= frame.shape[1] else cv2.INTER_LINEAR
        rgb = cv2.resize(frame, (width, height), interpolation=interp)
        det.detect(rgb, threshold)  # warm-up: builds CenterFace's net for this size, LiteRT's buffers
        (busy0, _), own0, wall0 = bench.cpu_busy_seconds(), bench.own_cpu_seconds(), time.monotonic()
        calls = []
        while len(calls) < 3 or (sum(calls) < budget_s * 1000 and len(calls) < 25):
            start = time.perf_counter()
            det.detect(rgb, threshold)
            calls.append((time.perf_counter() - start) * 1000)
        wall = time.monotonic() - wall0
        own = bench.own_cpu_seconds() - own0
        foreign = max(0.0, bench.cpu_busy_seconds()[0] - busy0 - own) / wall
        out[f"{width}x{height}"] = {
            "median_ms": round(statistics.median(calls), 1),
            "calls": len(calls),
            "own_cpu_ms_per_call": round(own * 1000 / len(calls), 1),
            "foreign_cores": round(foreign, 2),
        }
    return out


def memory_of(name: str, frame: np.ndarray) -> dict:
    """Resident memory the model adds (this process: call it in a fresh one), loaded and run at every size."""
    import onnxruntime  # noqa: F401  - runtimes' own code is not the model's memory
    import psutil
    from ai_edge_litert import interpreter  # noqa: F401

    rss0 = psutil.Process().memory_info().rss
    det = DETECTORS[name](threads=1)
    loaded = psutil.Process().memory_info().rss
    for width, height in TIMING_SIZES:
        det.detect(cv2.resize(frame, (width, height)), THRESHOLDS[name][0])
    ran = psutil.Process().memory_info().rss
    return {"loaded_mb": round((loaded - rss0) / 2**20, 1), "after_runs_mb": round((ran - rss0) / 2**20, 1)}


def timing_frame(clips) -> np.ndarray:
    """The first annotated frame of the largest clip (the mp4, 768x432), the source of every timing frame."""
    biggest = max(clips, key=lambda c: c.video.stat().st_size)
    return next(iter(annotated_frames(biggest)[1].values()))


# ---------------------------------------------------------------- summary


def rates(t: dict) -> dict:
    pct = lambda n, d: round(100 * n / d, 1) if d else None  # noqa: E731
    return {
        "all": pct(t["found"], t["faces"]),
        "not_hard": pct(t["not_hard_found"], t["not_hard"]),
        "hard": pct(t["hard_found"], t["hard"]),
        "faces": t["faces"],
        "hard_faces": t["hard"],
        "false_per_frame": round(t["false"] / t["frames"], 2) if t["frames"] else None,
        "needless_pct": round(100 * t["needless"] / t["frames"], 2) if t["frames"] else None,
    }


def cost_ms(cfg: str, timing: dict, threads: str, size: str) -> float | None:
    try:
        return round(sum(timing[part.split("@")[0]][threads][size]["median_ms"] for part in cfg.split("+")), 1)
    except KeyError:
        return None


def recommend(summary: dict, scales: list[str], timing: dict) -> list[dict]:
    """Configurations finding TARGET_RECALL of tune faces at every scale, cheapest (2 threads, 768x432) first."""
    picks = []
    for cfg, by in summary.items():
        tune = [by[s].get("tune") for s in scales]
        if all(t and t["all"] is not None and t["all"] >= 100 * TARGET_RECALL for t in tune):
            picks.append(
                {
                    "config": cfg,
                    "ms_2t_768": cost_ms(cfg, timing, "2", "768x432"),
                    "tune_false": round(statistics.mean(t["false_per_frame"] for t in tune), 2),
                    "tune_needless": round(statistics.mean(t["needless_pct"] for t in tune), 2),
                }
            )
    return sorted(picks, key=lambda p: (p["ms_2t_768"] or 1e9, p["tune_false"]))


def mean_of(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows if r and r[key] is not None]
    return f"{statistics.mean(values):.2f}" if values else "–"


def cell(r: dict | None) -> str:
    if not r or r["faces"] == 0:
        return "–"
    hard = "–" if r["hard"] is None else f"{r['hard']:g}"
    return f"{r['all']:g} / {hard}"


def write_markdown(path: Path, res: dict) -> None:
    scales, summary, timing = res["scales"], res["summary"], res["timing"]
    lines = [
        f"# Detector frontier ({res['date']})",
        "",
        f"Machine: {res['machine']['nproc']} cores, {res['machine']['cpu_model']}; load average before / after "
        f"{res['loadavg_before']} / {res['loadavg_after']}. Made by bench/frontier.py (its docstring says how "
        "faces are matched and what each column means). Per frame, no tracking.",
        "",
    ]
    for which in (*SETS, "pooled"):
        if which not in summary[next(iter(summary))][scales[0]]:
            continue
        r0 = summary[next(iter(summary))][scales[0]][which]
        lines += [
            f"## {which} ({r0['faces']} faces at scale 1, {r0['hard_faces']} hard)",
            "",
            "Recall % all / hard per scale; false detections per frame and needless redaction (% of the frame) "
            "averaged over the scales; ms: median per call, 2 threads, 480x270 / 768x432.",
            "",
            "| config | " + " | ".join(f"x{s}" for s in scales) + " | not hard x1 | false/frame | needless % | ms 2t |",
            "|---" * (len(scales) + 5) + "|",
        ]
        for cfg, by in summary.items():
            rows = [by[s][which] for s in scales]
            ms = f"{cost_ms(cfg, timing, '2', '480x270')} / {cost_ms(cfg, timing, '2', '768x432')}"
            lines.append(
                f"| {cfg} | " + " | ".join(cell(r) for r in rows) + f" | {rows[0]['not_hard']} | "
                f"{mean_of(rows, 'false_per_frame')} | {mean_of(rows, 'needless_pct')} | {ms} |"
            )
        lines.append("")
    lines += [
        "## Cost: median ms per call (1 thread / 2 threads), foreign load in cores",
        "",
        "| detector | " + " | ".join(f"{w}x{h}" for w, h in TIMING_SIZES) + " | memory MB (loaded / run) |",
        "|---" * (len(TIMING_SIZES) + 2) + "|",
    ]
    for name, by in timing.items():
        cells = [
            f"{by['1'][k]['median_ms']} / {by['2'][k]['median_ms']} (foreign {by['1'][k]['foreign_cores']}, "
            f"{by['2'][k]['foreign_cores']})"
            for k in (f"{w}x{h}" for w, h in TIMING_SIZES)
        ]
        mem = res["memory"].get(name, {})
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mem.get('loaded_mb')} / {mem.get('after_runs_mb')} |")
    lines += [
        "",
        f"## Picked on tune (all faces >= {100 * TARGET_RECALL:g} % at every scale), cheapest first",
        "",
        "| config | ms 2t 768x432 | tune false/frame | confirm "
        + " | confirm ".join(f"x{s}" for s in scales)
        + " | confirm false/frame | confirm needless % |",
        "|---" * (len(scales) + 5) + "|",
    ]
    for pick in res["recommended"][:12]:
        rows = [summary[pick["config"]][s].get("confirm") or rates(new_tally()) for s in scales]
        lines.append(
            f"| {pick['config']} | {pick['ms_2t_768']} | {pick['tune_false']} | "
            + " | ".join(cell(r) for r in rows)
            + f" | {mean_of(rows, 'false_per_frame')} | {mean_of(rows, 'needless_pct')} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--scales", default="1,0.7,0.5")
    parser.add_argument("--clips", default="", help="comma-separated clip ids (default: all)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--memory", help=argparse.SUPPRESS)  # internal: one detector's memory, in a fresh process
    args = parser.parse_args(argv)
    clips = [c for c in discover() if not args.clips or c.id in args.clips.split(",")]
    if args.memory:
        print(json.dumps(memory_of(args.memory, timing_frame(discover()))))
        return 0
    scales = [float(s) for s in args.scales.split(",")]
    before = os.getloadavg()
    detectors = {name: cls(threads=2) for name, cls in DETECTORS.items()}
    tallies = measure_recall(clips, scales, detectors)
    del detectors
    timing, memory = {}, {}
    if not args.no_timing:
        frame = timing_frame(clips)
        for name in DETECTORS:
            timing[name] = {str(n): time_detector(name, frame, n) for n in (1, 2)}
            done = subprocess.run([sys.executable, __file__, "--memory", name], capture_output=True, text=True)
            memory[name] = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    after = os.getloadavg()
    summary: dict = defaultdict(lambda: defaultdict(dict))
    for (cfg, scale, key), tally in tallies.items():
        summary[cfg][scale][key] = rates(tally)
    scale_keys = [f"{s:g}" for s in scales]
    res = {
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "machine": bench.machine(),
        "loadavg_before": [round(x, 2) for x in before],
        "loadavg_after": [round(x, 2) for x in after],
        "scales": scale_keys,
        "thresholds": THRESHOLDS,
        "clips": {c.id: c.set for c in clips},
        "summary": summary,
        "timing": timing,
        "memory": memory,
        "recommended": recommend(summary, scale_keys, timing),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "frontier.json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(args.out / "frontier.md", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
