"""The detection stage: its three models find a face and each threshold acts; CenterFace checks BlazeFace's weak
candidates only; one frame in ``every`` is scanned, the same frames whatever the segments; DetectFaces in a
TestPipeline reports detections by their frame in the input."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from skimage import data

from schemas.codes import IdentitySource
from schemas.elements import MediaInfo, MediaSource
from transforms.detection import (
    CHECK_INPUT,
    CHECK_LEAST,
    CUE_SIDE,
    DetectFaces,
    DetectorConfig,
    FaceDetector,
    ScanCounts,
    check_crop,
    check_rects,
    cue_rects,
    scan,
    shifted,
)
from transforms.segments import SplitSegments

PHOTO = (600, 200, 512, 512)
"""Where the astronaut photo is pasted in the test frame: x, y, w, h."""


def _frame() -> np.ndarray:
    frame = np.zeros((720, 1280, 3), np.uint8)
    x, y, w, h = PHOTO
    frame[y : y + h, x : x + w] = data.astronaut()
    return frame


FACE_CENTRE = (PHOTO[0] + 225, PHOTO[1] + 120)
"""The astronaut's face centre in the test frame."""


def _on_face(box) -> bool:
    x, y, w, h = box
    return x <= FACE_CENTRE[0] <= x + w and y <= FACE_CENTRE[1] <= y + h


def test_blazeface_the_pose_heads_and_centerface_each_find_the_face():
    config = DetectorConfig()
    frame = _frame()
    detector = FaceDetector(config)
    assert any(_on_face(box) for box, _ in detector._faces.detect(frame, config.face_threshold))
    assert any(_on_face(box) for box, _ in detector._heads.detect(frame, config.head_threshold))
    assert any(_on_face(box) for box, _ in detector._centerface.detect(frame, config.centerface_threshold))
    faces, heads, _ = detector.detect(frame)
    assert any(_on_face(box) for box, _ in faces) and any(_on_face(box) for box, _ in heads)
    # On a frame where heads are not looked for, the face is still found, and no head is.
    faces, heads, _ = detector.detect(frame, with_heads=False)
    assert any(_on_face(box) for box, _ in faces) and heads == []


def _scores(config: DetectorConfig, frame: np.ndarray) -> list[float]:
    return sorted(score for _, score in FaceDetector(config).detect(frame)[0])


def test_each_threshold_acts():
    frame = _frame()
    config = DetectorConfig()
    found = _scores(config, frame)
    assert found and max(found) < 0.99
    # Above the face's score BlazeFace's detection becomes a candidate, and CenterFace checks it: still found.
    above = (max(found) + 1) / 2
    checked = FaceDetector(dataclasses.replace(config, face_threshold=above)).detect(frame)
    assert checked[2] >= 1 and any(_on_face(box) for box, _ in checked[0])
    # ... unless CenterFace is off, or too strict, or the candidate is under the candidate threshold.
    for off in ({"centerface_threshold": 0}, {"centerface_threshold": 0.99}, {"candidate_threshold": above}):
        strict = dataclasses.replace(config, face_threshold=above, **off)
        assert not any(_on_face(box) for box, _ in FaceDetector(strict).detect(frame)[0]), off
    heads = FaceDetector(config)._heads.detect(frame, config.head_threshold)
    assert heads and FaceDetector(config)._heads.detect(frame, 0.99) == []


def test_centerface_checks_only_weak_candidates_in_squares_it_sees_at_one_size():
    # A face BlazeFace is sure of needs no check; weak candidates close together share one square.
    rects = check_rects(
        [((100.0, 100.0, 20.0, 20.0), 0.4), ((105.0, 104.0, 18.0, 18.0), 0.3), ((600.0, 300.0, 100.0, 90.0), 0.25)],
        768,
        432,
    )
    assert len(rects) == 2
    assert [w for _, _, w, _ in rects] == [CHECK_LEAST, 300] and all(w == h for _, _, w, h in rects)
    # A square at the edge stays inside the frame; a frame smaller than the square cuts it.
    assert all(x >= 0 and y >= 0 and x + w <= 768 and y + h <= 432 for x, y, w, h in rects)
    assert check_rects([((5.0, 5.0, 40.0, 40.0), 0.3)], 100, 60) == [(0, 0, 100, 60)]
    # Every square is shown at one size (one network), small ones enlarged (CenterFace misses 6-px faces at their
    # own size), and what is found there is mapped back.
    frame = np.zeros((432, 768, 3), np.uint8)
    assert [(c.shape[:2], scale) for c, scale in (check_crop(frame, r) for r in rects)] == [
        ((CHECK_INPUT, CHECK_INPUT), 2),
        ((CHECK_INPUT, CHECK_INPUT), CHECK_INPUT / 300),
    ]
    assert shifted([((20.0, 30.0, 10.0, 12.0), 0.5)], 100, 200, 2) == [((110.0, 215.0, 5.0, 6.0), 0.5)]
    # A face the scan before found, that BlazeFace no longer scores even as a candidate, is checked again.
    strict = DetectorConfig(face_threshold=0.99, candidate_threshold=0.99)
    assert not any(_on_face(box) for box, _ in FaceDetector(strict).detect(_frame())[0])
    before = [((PHOTO[0] + 180.0, PHOTO[1] + 70.0, 90.0, 110.0), 0.9)]
    again = FaceDetector(strict).detect(_frame(), before)
    assert again[2] == 1 and any(_on_face(box) for box, _ in again[0])
    # With no band between the candidate and the face threshold, CenterFace checks nothing.
    assert FaceDetector(DetectorConfig(candidate_threshold=0.5)).detect(_frame())[2] == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, "every must be >= 1"),
        ({"head_every": 0}, "head_every must be >= 1"),
        ({"face_threshold": 0}, "face_threshold must be in"),
        ({"head_threshold": 1}, "head_threshold must be in"),
        ({"centerface_threshold": -0.1}, "centerface_threshold must be in"),
        ({"candidate_threshold": 0.6}, "candidate_threshold must be in"),
        ({"threads": 0}, "threads must be >= 1"),
    ],
)
def test_bad_detector_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kwargs)


def _fake_infer(calls, befores=None):
    def infer(item):
        rgb, before, with_heads = item
        calls.append((int(rgb[0, 0, 0]), with_heads))
        if befores is not None:
            befores.append(before)
        heads = [((5.0, 5.0, 40.0, 40.0), 0.5), ((100.0, 5.0, 40.0, 40.0), 0.5)] if with_heads else []
        return [((10.0, 10.0, 20.0, 20.0), 0.9)], heads, 1

    return infer


def test_one_frame_in_every_is_scanned_counted_from_the_input_not_the_segment():
    config = DetectorConfig(every=3, head_every=2)
    # A segment starting at frame 7 of its input: frames 9 and 12 are the scanned ones, as in any other split, and
    # heads are looked for on 12 only.
    frames = [(i, np.full((64, 64, 3), i, np.uint8) if config.scanned(i) else None) for i in range(7, 14)]
    calls, befores, counts = [], [], ScanCounts()
    found = list(scan(frames, _fake_infer(calls, befores), config, counts))
    assert calls == [(9, False), (12, True)]
    # Each scan is told the faces the scan before it found, for CenterFace to check again.
    assert befores == [[], [((10.0, 10.0, 20.0, 20.0), 0.9)]]
    assert sorted({d.frame for d in found}) == [9, 12]
    # Per scanned frame: the face, and the head with no face in it; the head holding the face is not added.
    assert [d.box for d in found if d.frame == 9] == [(10.0, 10.0, 20.0, 20.0)]
    assert [d.box for d in found if d.frame == 12] == [(10.0, 10.0, 20.0, 20.0), (100.0, 5.0, 40.0, 40.0)]
    assert (counts.frames, counts.scanned, counts.checked) == (7, 2, 2)


def test_large_frames_give_the_pose_detector_tiles_of_the_size_it_was_measured_at():
    assert cue_rects(768, 432) == [(0, 0, 768, 432)]
    rects = cue_rects(1920, 1080)
    assert len(rects) > 1 and all(w <= CUE_SIDE and h <= CUE_SIDE for _, _, w, h in rects)
    covered = np.zeros((1080, 1920), bool)
    for x, y, w, h in rects:
        covered[y : y + h, x : x + w] = True
    assert covered.all()


class _Scored:
    """Stands in for BlazeFace: one box on the astronaut's face, at a given score."""

    def __init__(self, score: float):
        self.score = score

    def detect(self, rgb, threshold):
        return [((270.0, 110.0, 110.0, 120.0), self.score)]


def test_an_unsure_blazeface_face_is_checked_by_centerface_and_a_sure_one_is_not():
    x, y, _, _ = PHOTO
    frame = _frame()[y - 50 : y + 382, x - 100 : x + 668]  # 768x432: BlazeFace sees it whole
    detector = FaceDetector(DetectorConfig())
    detector._faces = _Scored(0.6)
    faces, _, checked = detector.detect(frame)
    assert checked == 1 and len(faces) >= 2  # BlazeFace's box and CenterFace's, merged downstream
    detector._faces = _Scored(0.9)
    assert detector.detect(frame)[2] == 0


@pytest.mark.parametrize("every", [1, 2])
def test_detect_faces_reports_detections_with_frame_indices_of_the_input(clip, every, beam_options, scripted_handler):
    """The detector sees every multiple of 3; only the scanned ones (multiples of ``every``) are reported, by their
    index in the input although the segments start at 0 and 20."""
    media = MediaInfo(MediaSource(clip, clip, "video"), "m", "sha", "c", None, IdentitySource.MANIFEST)
    with TestPipeline(options=beam_options) as p:
        segments = {"screened": p | beam.Create([media])} | SplitSegments(Fraction(10), 20)
        detect = DetectFaces(DetectorConfig(every=every), handler=scripted_handler)
        found = ({"segments": segments["segments"]} | detect)["detections"]
        frames = found | beam.FlatMap(lambda s: [d.frame for d in s.detections])
        assert_that(frames, equal_to([f for f in range(0, 40, 3) if f % every == 0]))
    scanned = p.result.metrics().query(MetricsFilter().with_name("frames_scanned"))["counters"]
    assert sum(c.committed for c in scanned) == 40 // every
