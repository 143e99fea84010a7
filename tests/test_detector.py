"""The detection stage: its three models find a face and each threshold acts; one frame in ``every`` is scanned, the
same frames whatever the segments; CenterFace tiles that did not change are carried, not rescanned."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage import data

from transforms.detection import CUE_SIDE, DetectorConfig, FaceDetector, ScanCounts, cue_rects, scan

PHOTO = (600, 200, 512, 512)
"""Where the astronaut photo is pasted in the test frame: x, y, w, h."""


def _frame() -> np.ndarray:
    frame = np.zeros((720, 1280, 3), np.uint8)
    x, y, w, h = PHOTO
    frame[y:y + h, x:x + w] = data.astronaut()
    return frame


FACE_CENTRE = (PHOTO[0] + 225, PHOTO[1] + 120)
"""The astronaut's face centre in the test frame."""


def _on_face(box) -> bool:
    x, y, w, h = box
    return x <= FACE_CENTRE[0] <= x + w and y <= FACE_CENTRE[1] <= y + h


def test_blazeface_the_pose_heads_and_centerface_each_find_the_face():
    config = DetectorConfig()
    frame = _frame()
    assert any(_on_face(box) for box, _ in FaceDetector(config)._faces.detect(frame, config.face_threshold))
    assert any(_on_face(box) for box, _ in FaceDetector(config)._heads.detect(frame, config.head_threshold))
    faces, heads, per_tile = FaceDetector(config).detect(frame, config.rects(1280, 720))
    assert any(_on_face(box) for t in per_tile for box, _ in t)
    assert any(_on_face(box) for box, _ in faces) and any(_on_face(box) for box, _ in heads)


def _scores(config: DetectorConfig, frame: np.ndarray) -> tuple[list[float], list[float]]:
    faces, _, per_tile = FaceDetector(config).detect(frame, config.rects(frame.shape[1], frame.shape[0]))
    return sorted(score for _, score in faces), sorted(score for t in per_tile for _, score in t)


def test_each_threshold_acts():
    frame = _frame()
    config = DetectorConfig()
    found, tiled = _scores(config, frame)
    assert found and max(found) < 0.99 and min(tiled) < 0.9 < max(tiled)
    strict = dataclasses.replace(config, face_threshold=(max(found) + 1) / 2)
    assert _scores(strict, frame)[0] == []
    strict_tiles = dataclasses.replace(config, centerface_threshold=0.9)
    assert _scores(strict_tiles, frame)[1] == [s for s in tiled if s >= 0.9]
    heads = FaceDetector(config)._heads.detect(frame, config.head_threshold)
    assert heads and FaceDetector(config)._heads.detect(frame, 0.99) == []
    off = dataclasses.replace(config, centerface_threshold=0)
    assert off.rects(1280, 720) == [] and FaceDetector(off).detect(frame, [])[2] == []


@pytest.mark.parametrize("kwargs, message", [
    ({"every": 0}, "every must be >= 1"),
    ({"face_threshold": 0}, "face_threshold must be in"),
    ({"head_threshold": 1}, "head_threshold must be in"),
    ({"centerface_threshold": -0.1}, "centerface_threshold must be in"),
    ({"threads": 0}, "threads >= 1"),
])
def test_bad_detector_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kwargs)


def _fake_infer(calls):
    def infer(item):
        rgb, rects = item
        calls.append((int(rgb[0, 0, 0]), list(rects)))
        return ([((10.0, 10.0, 20.0, 20.0), 0.9)], [],
                [[((x + 1.0, y + 1.0, 8.0, 8.0), 0.5)] for x, y, _, _ in rects])
    return infer


def test_one_frame_in_every_is_scanned_counted_from_the_input_not_the_segment():
    config = DetectorConfig(every=3, centerface_threshold=0)
    # A segment starting at frame 7 of its input: frames 9 and 12 are the scanned ones, as in any other split.
    frames = [(i, np.full((64, 64, 3), i, np.uint8)) for i in range(7, 14)]
    calls, counts = [], ScanCounts()
    found = list(scan(frames, _fake_infer(calls), config, 64, 64, counts))
    assert [c[0] for c in calls] == [9, 12]
    assert sorted({d.frame for d in found}) == [9, 12]
    assert (counts.frames, counts.scanned, counts.tiles) == (7, 2, 0)


def test_unchanged_tiles_are_carried_and_changed_ones_rescanned():
    config = DetectorConfig(every=1, tile_size=64, tile_overlap=0)
    still = np.full((64, 128, 3), 100, np.uint8)
    moved = still.copy()
    moved[:, 64:] = 200
    calls, counts = [], ScanCounts()
    found = list(scan([(0, still), (1, still), (2, moved)], _fake_infer(calls), config, 128, 64, counts))
    assert [len(rects) for _, rects in calls] == [2, 0, 1]
    # Frame 1 scanned no tile yet keeps both tiles' faces from frame 0; frame 2 rescanned only the right one.
    assert sum(1 for d in found if d.frame == 1) == 3
    assert counts.tiles == 3


def test_large_frames_give_the_pose_detector_tiles_of_the_size_it_was_measured_at():
    assert cue_rects(768, 432) == [(0, 0, 768, 432)]
    rects = cue_rects(1920, 1080)
    assert len(rects) > 1 and all(w <= CUE_SIDE and h <= CUE_SIDE for _, _, w, h in rects)
    covered = np.zeros((1080, 1920), bool)
    for x, y, w, h in rects:
        covered[y:y + h, x:x + w] = True
    assert covered.all()
