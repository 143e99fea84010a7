"""The detector finds the same faces after it drops its second detector's networks (done after every segment), and
its score threshold acts."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage import data

from schemas.codes import SecondDetector
from transforms.detection import MEDIAPIPE_SCORE_FLOOR, DetectorConfig, FaceDetector


def test_the_detector_finds_the_same_faces_after_releasing_its_networks():
    config = DetectorConfig()
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[200:712, 600:1112] = data.astronaut()
    detector = FaceDetector(config)
    rects = config.rects(1280, 720)
    before = detector.detect(frame, rects, True)
    detector.release()
    after = detector.detect(frame, rects, True)
    assert after == before
    # Both detectors found the face, inside the photo (MediaPipe once, CenterFace at least once more).
    whole, _ = before
    assert len(whole) >= 2
    assert all(600 <= x and x + w <= 1112 and 200 <= y and y + h <= 712 for (x, y, w, h), _ in whole)


def test_min_confidence_drops_mediapipe_detections_below_it_and_refuses_values_mediapipe_cannot_honour():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[200:712, 600:1112] = data.astronaut()
    alone = DetectorConfig(second_detector=SecondDetector.NONE)
    scores = [score for _, score in FaceDetector(alone).detect(frame, [], False)[0]]
    assert scores and min(scores) >= MEDIAPIPE_SCORE_FLOOR
    above = max(scores) + (1 - max(scores)) / 2
    strict = dataclasses.replace(alone, min_confidence=above)
    assert FaceDetector(strict).detect(frame, [], False)[0] == []
    with pytest.raises(ValueError, match="below its own fixed threshold"):
        DetectorConfig(min_confidence=0.35)
