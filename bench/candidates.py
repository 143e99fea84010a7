"""Which of BlazeFace's weak candidates CenterFace should check: per-frame recall and cost of the detection stage's
face finding (transforms.detection.FaceDetector) at several candidate and CenterFace thresholds, without tracking.

    .venv/bin/python bench/candidates.py [--out DIR] [--scales 1,0.7,0.5]

Clips, scales, matching and the tune/confirm split as bench/frontier.py (whose helpers it imports): only annotated
frames, each network run once per frame. For each candidate threshold and CenterFace threshold, the faces are
BlazeFace's at --face-threshold (0.5) and CenterFace's in the squares of the candidates
(transforms.detection.check_rects), the pose detector's heads left out so the candidates' own worth shows. Also
BlazeFace alone at 0.5, and with the heads. ms: CenterFace's wall time on the squares, per frame, one thread.
Writes OUT/candidates.json and OUT/candidates.md (default: bench/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path += [p for p in (str(HERE), str(HERE.parent)) if p not in sys.path]
from frontier import annotated_frames, found_flags, scaled_frames  # noqa: E402

from tests.footage_clips import discover  # noqa: E402
from transforms.detection import check_crop, check_rects, shifted  # noqa: E402
from transforms.logic.scanning import DetectorConfig  # noqa: E402
from transforms.services.detectors import BlazeFaceBack, CenterFace, PoseHeads  # noqa: E402

CANDIDATE_THRESHOLDS = (0.1, 0.2, 0.3)
CENTERFACE_THRESHOLDS = (0.2, 0.3)


def tally(tallies: dict, key: tuple, boxes: list, faces: list[dict], ms: float, checks: int) -> None:
    t = tallies[key]
    flags = found_flags(boxes, faces)
    t["frames"] += 1
    t["faces"] += len(faces)
    t["found"] += sum(flags)
    t["hard"] += sum(1 for f in faces if f["hard"])
    t["hard_found"] += sum(flag for flag, f in zip(flags, faces) if f["hard"])
    t["ms"] += ms
    t["checks"] += checks


def measure(scales: list[float]) -> dict:
    face_threshold = DetectorConfig().face_threshold
    faces_det, heads_det, centerface = BlazeFaceBack(1), PoseHeads(1), CenterFace(1)
    tallies: dict = defaultdict(lambda: defaultdict(float))
    for clip in discover():
        truth, frames = annotated_frames(clip)
        for scale in scales:
            for rgb, faces in scaled_frames(frames, truth, scale):
                height, width = rgb.shape[:2]
                raw = faces_det.forward(rgb)
                sure = faces_det.decode(raw, face_threshold)
                heads = [b for b, _ in heads_det.detect(rgb, DetectorConfig().head_threshold)]
                key = (clip.set, f"{scale:g}")
                tally(tallies, (*key, "blazeface@0.5"), [b for b, _ in sure], faces, 0.0, 0)
                tally(tallies, (*key, "blazeface@0.5+heads"), [b for b, _ in sure] + heads, faces, 0.0, 0)
                for low in CANDIDATE_THRESHOLDS:
                    weak = [c for c in faces_det.decode(raw, low) if c[1] < face_threshold]
                    rects = check_rects(weak, width, height)
                    started = time.perf_counter()
                    outputs = [
                        (rect, zoom, centerface.forward(crop))
                        for rect in rects
                        for crop, zoom in [check_crop(rgb, rect)]
                    ]
                    ms = 1000 * (time.perf_counter() - started)
                    for high in CENTERFACE_THRESHOLDS:
                        found = [b for b, _ in sure]
                        for (x, y, _, _), zoom, out in outputs:
                            found += [b for b, _ in shifted(centerface.decode(out, high), x, y, zoom)]
                        tally(
                            tallies,
                            (*key, f"blazeface@0.5+centerface@{high:g} on candidates@{low:g}"),
                            found,
                            faces,
                            ms,
                            len(rects),
                        )
                print(f"{clip.id}@{scale:g}: done", file=sys.stderr)
    return {" | ".join(k): dict(v) for k, v in tallies.items()}


def write_markdown(path: Path, res: dict) -> None:
    lines = [
        f"# Which candidates CenterFace checks ({res['when']})",
        "",
        __doc__.split("\n\n")[0],
        "",
        "| set | scale | faces found by | all | hard | checks / frame | CenterFace ms / frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, t in sorted(res["tallies"].items()):
        which, scale, config = key.split(" | ")
        frames = max(1, t["frames"])
        lines.append(
            f"| {which} | {scale} | {config} | {int(t['found'])}/{int(t['faces'])} | "
            f"{int(t['hard_found'])}/{int(t['hard'])} | {t['checks'] / frames:.2f} | {t['ms'] / frames:.1f} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default bench/)")
    parser.add_argument("--scales", default="1,0.7,0.5", help="scales of every clip (default 1,0.7,0.5)")
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    res = {"when": dt.datetime.now().astimezone().isoformat(timespec="minutes"), "tallies": measure(scales)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "candidates.json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(args.out / "candidates.md", res)
    print((args.out / "candidates.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
