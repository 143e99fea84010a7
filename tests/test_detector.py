"""The detector finds the same faces after it drops its second detector's networks (done after every segment)."""
from __future__ import annotations

import numpy as np
from skimage import data

from transforms.detection import DetectorConfig, FaceDetector


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
