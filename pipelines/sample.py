"""Generate a sample CCTV archive with known face boxes, from photos bundled with scikit-image.

Writes under DIR: ``archive.tar.gz`` (three H.264 clips and a folder of JPEG frames, laid out as
``<camera_id>/<date>/<time>``), ``manifest.csv`` for it, the registries of the sample site
(``cameras.yaml``, ``sessions.csv``, ``consents.csv``: one consented customer served at desk-04), and
``<name>.groundtruth.json`` per stream in the format of shared/footage (boxes x, y, w, h per frame;
in the service scene, person 0 is the customer). Nothing is downloaded.

Run:  veil sample DIR
"""

from __future__ import annotations

import dataclasses
import json
import os
import tarfile
import tempfile
from fractions import Fraction

import av
import cv2
import numpy as np

from pipelines.options import CommandParser

SPRITES = {
    # name: (crop x0, y0, x1, y1 in the bundled photo, face box x, y, w, h inside the crop)
    "astronaut": ((130, 20, 322, 230), (44, 48, 104, 104)),
    "camera": ((160, 85, 316, 245), (40, 38, 76, 76)),
}


@dataclasses.dataclass(frozen=True)
class Walker:
    """A face moving in a straight line: sprite, face height in pixels, start and end of its face centre."""

    sprite: str
    face_px: int
    start: tuple[float, float]
    end: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class Scene:
    name: str
    path: str
    width: int
    height: int
    frames: int
    walkers: tuple[Walker, ...]
    stills: bool = False


SCENES = (
    Scene(
        "lobby",
        "lobby-01/2026-11-20/080000.mp4",
        640,
        360,
        60,
        (Walker("astronaut", 64, (80, 150), (560, 170)), Walker("camera", 36, (520, 90), (300, 110))),
    ),
    Scene(
        "corridor",
        "corridor-02/2026-11-20/081500.mp4",
        480,
        270,
        50,
        (Walker("astronaut", 26, (60, 80), (420, 120)), Walker("camera", 22, (380, 200), (370, 200))),
    ),
    Scene(
        "counter",
        "counter-03/2026-11-20/frames/",
        320,
        240,
        12,
        (Walker("astronaut", 48, (120, 110), (200, 110)),),
        stills=True,
    ),
    # A served customer at the desk (walker 0, inside the session's zone) and two bystanders behind.
    Scene(
        "service",
        "desk-04/2026-11-20/090000.mp4",
        640,
        360,
        40,
        (
            Walker("astronaut", 72, (310, 260), (330, 255)),
            Walker("camera", 44, (90, 90), (150, 95)),
            Walker("astronaut", 40, (560, 100), (500, 105)),
        ),
    ),
)
START_TIMES = {
    "lobby": "2026-11-20T08:00:00Z",
    "corridor": "2026-11-20T08:15:00Z",
    "counter": "2026-11-20T08:30:00Z",
    "service": "2026-11-20T09:00:00Z",
}

WHOLE_FRAME = [[0, 0], [1, 0], [1, 1], [0, 1]]
DESK_ZONE = [[0.3, 0.5], [0.7, 0.5], [0.7, 1], [0.3, 1]]
CAMERAS_YAML = f"""\
# Veil camera registry of the sample site (schemas/registries.py); polygons are in frame-relative coordinates.
- camera_id: lobby-01
  site: sample-branch
  location_category: lobby
  purpose: public_safety
  signage: true
  capture_area: {WHOLE_FRAME}
- camera_id: corridor-02
  site: sample-branch
  location_category: corridor
  purpose: internal_management
  signage: false
  capture_area: {WHOLE_FRAME}
  raw_retention_days: 30
- camera_id: counter-03
  site: sample-branch
  location_category: counter
  purpose: service
  signage: true
  capture_area: {WHOLE_FRAME}
  zones: {{desk: {DESK_ZONE}}}
- camera_id: desk-04
  site: sample-branch
  location_category: counter
  purpose: service
  signage: true
  capture_area: {WHOLE_FRAME}
  zones: {{desk: {DESK_ZONE}}}
"""
SESSIONS_CSV = """\
session_id,account_id,camera_id,start,end,zone_id,consent_id,subjects
s-1001,acct-0042,desk-04,2026-11-20T08:59:00Z,2026-11-20T09:10:00Z,desk,c-0042,1
"""
CONSENTS_CSV = """\
consent_id,account_id,kind,subject_minor,granted_at,expires_at,withdrawn_at
c-0042,acct-0042,written,false,2026-11-01T00:00:00Z,2027-11-01T00:00:00Z,
"""
FPS = Fraction(10)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]


def _background(width: int, height: int, seed: int) -> np.ndarray:
    from skimage import data

    wall = cv2.resize(data.brick(), (width, height), interpolation=cv2.INTER_AREA)
    wall = cv2.cvtColor(wall, cv2.COLOR_GRAY2RGB).astype(np.float32) * 0.6 + 60
    rng = np.random.default_rng(seed)
    return np.clip(wall + rng.normal(0, 2, wall.shape), 0, 255).astype(np.uint8)


def render(scene: Scene, index: int) -> tuple[list[np.ndarray], dict]:
    """The RGB frames of a scene and its ground truth (shared/footage format)."""
    base = _background(scene.width, scene.height, index)
    sprites = {name: (_photo(name)[y0:y1, x0:x1], face) for name, ((x0, y0, x1, y1), face) in SPRITES.items()}
    frames, truth = [], {}
    for f in range(scene.frames):
        t = f / max(1, scene.frames - 1)
        image = base.copy()
        boxes = []
        for pid, walker in enumerate(scene.walkers):
            sprite, (fx, fy, fw, fh) = sprites[walker.sprite]
            scale = walker.face_px / fh
            sw, sh = max(1, round(sprite.shape[1] * scale)), max(1, round(sprite.shape[0] * scale))
            small = cv2.resize(sprite, (sw, sh), interpolation=cv2.INTER_AREA)
            cx = walker.start[0] + (walker.end[0] - walker.start[0]) * t
            cy = walker.start[1] + (walker.end[1] - walker.start[1]) * t
            x0 = round(cx - (fx + fw / 2) * scale)
            y0 = round(cy - (fy + fh / 2) * scale)
            sx0, sy0 = max(0, -x0), max(0, -y0)
            dx0, dy0 = max(0, x0), max(0, y0)
            dx1, dy1 = min(scene.width, x0 + sw), min(scene.height, y0 + sh)
            image[dy0:dy1, dx0:dx1] = small[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
            boxes.append(
                {
                    "box": [x0 + fx * scale, y0 + fy * scale, fw * scale, fh * scale],
                    "hard": walker.face_px < 20,
                    "id": pid,
                }
            )
        frames.append(image)
        truth[str(f)] = boxes
    groundtruth = {
        "clip": scene.name,
        "frame_count": scene.frames,
        "annotated_frames": list(range(scene.frames)),
        "frames": truth,
    }
    return frames, groundtruth


def write_clip(frames: list[np.ndarray], path: str, gop: int = 10, muxer_options: dict | None = None) -> None:
    """Encode RGB frames as H.264 MP4 with a keyframe every ``gop`` frames (like CCTV recorders)."""
    height, width = frames[0].shape[:2]
    with av.open(path, mode="w", options=muxer_options or {}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def generate(target: str) -> dict[str, str]:
    """Write the sample archive, manifest and ground truth under ``target``; returns their paths."""
    os.makedirs(target, exist_ok=True)
    manifest_rows = ["path,camera_id,start_time"]
    with tempfile.TemporaryDirectory() as staging:
        for index, scene in enumerate(SCENES):
            frames, truth = render(scene, index)
            dest = os.path.join(staging, scene.path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if scene.stills:
                for i, rgb in enumerate(frames):
                    cv2.imwrite(
                        os.path.join(dest, f"{i:05d}.jpg"),
                        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95],
                    )
            else:
                write_clip(frames, dest)
            camera = scene.path.split("/")[0]
            manifest_rows.append(f"{scene.path},{camera},{START_TIMES[scene.name]}")
            with open(os.path.join(target, f"{scene.name}.groundtruth.json"), "w") as handle:
                json.dump({**truth, "path": scene.path}, handle)
        archive = os.path.join(target, "archive.tar.gz")
        with tarfile.open(archive + ".tmp", "w:gz") as tar:
            for scene in SCENES:
                tar.add(os.path.join(staging, scene.path.split("/")[0]), arcname=scene.path.split("/")[0])
        os.replace(archive + ".tmp", archive)
    written = {"archive": archive}
    for name, text in (
        ("manifest.csv", "\n".join(manifest_rows) + "\n"),
        ("cameras.yaml", CAMERAS_YAML),
        ("sessions.csv", SESSIONS_CSV),
        ("consents.csv", CONSENTS_CSV),
    ):
        written[name.split(".")[0]] = os.path.join(target, name)
        with open(written[name.split(".")[0]], "w") as handle:
            handle.write(text)
    return written


def parser() -> CommandParser:
    """The command line of ``veil sample``."""
    parser = CommandParser(prog="veil sample", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "dir",
        metavar="DIR",
        help="folder to write the archive, manifest, registries and ground truth into (created if missing)",
    )
    return parser
