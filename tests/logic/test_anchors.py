"""Anchors, decoding and NMS of MediaPipe's SSD models (the detectors that run them are in
tests/services/test_detectors.py)."""

from __future__ import annotations

import numpy as np
import pytest

from transforms.logic import anchors


@pytest.mark.parametrize(
    "options, count, per_cell, first, last",
    [
        (anchors.BLAZEFACE_BACK, 896, 2, (0.5 / 16, 0.5 / 16), (7.5 / 8, 7.5 / 8)),
        (anchors.POSE_DETECTOR, 2254, 2, (0.5 / 28, 0.5 / 28), (6.5 / 7, 6.5 / 7)),
        (anchors.FACE_FULL_RANGE, 2304, 1, (0.5 / 48, 0.5 / 48), (47.5 / 48, 47.5 / 48)),
    ],
)
def test_anchor_count_and_order_match_mediapipe(options, count, per_cell, first, last):
    centres = anchors.anchors(options)
    assert centres.shape == (count, 2)
    np.testing.assert_allclose(centres[:per_cell], [first] * per_cell, rtol=1e-6)
    # The next cell along x follows: anchors run row by row, all of a cell's anchors together.
    np.testing.assert_allclose(centres[per_cell], (first[0] * 3, first[1]), rtol=1e-6)
    np.testing.assert_allclose(centres[-1], last, rtol=1e-6)


def test_decode_maps_raw_offsets_against_the_anchor():
    raw = np.array([[22.4, -11.2, 44.8, 22.4, 0.0, 22.4, -22.4, 0.0]], np.float32)
    boxes, points = anchors.decode(raw, np.array([[0.5, 0.5]], np.float32), 224, 2)
    np.testing.assert_allclose(boxes, [[0.5, 0.4, 0.7, 0.5]], atol=1e-6)
    np.testing.assert_allclose(points, [[[0.5, 0.6], [0.4, 0.5]]], atol=1e-6)


def test_letterbox_maps_the_square_back_to_frame_pixels():
    box = anchors.Letterbox.of(480, 270)
    assert (box.side, box.pad_x, box.pad_y) == (480, 0, 105)
    np.testing.assert_allclose(box.to_frame(np.array([0.5, 0.5, 0.75, 0.25])), [240, 135, 360, 15])


def test_weighted_nms_averages_a_cluster_and_keeps_a_separate_box():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]])
    points = np.zeros((3, 1, 2))
    kept, _, scores = anchors.weighted_nms(boxes, points, np.array([0.75, 0.25, 0.5]), iou=0.3)
    np.testing.assert_allclose(kept, [[0.025, 0.0, 1.025, 1.0], [3.0, 3.0, 4.0, 4.0]])
    np.testing.assert_allclose(scores, [0.75, 0.5])


def test_sigmoid_scores_clip_huge_logits():
    np.testing.assert_allclose(anchors.sigmoid_scores(np.array([-1e4, 0.0, 1e4])), [0.0, 0.5, 1.0], atol=1e-30)
