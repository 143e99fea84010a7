"""SSD anchors, box and keypoint decoding and non-max suppression for MediaPipe's fixed-input detectors.

Mirrors MediaPipe's SsdAnchorsCalculator and TensorsToDetectionsCalculator (mediapipe/calculators/tflite and
tensor) for the options its graphs give each model, and a keep-aspect letterbox (the frame padded to a square,
centred, as ImageToTensorCalculator does with keep_aspect_ratio) so faces are not squashed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from schemas.elements import Box


@dataclasses.dataclass(frozen=True)
class AnchorOptions:
    """SsdAnchorsCalculatorOptions as MediaPipe's graph for a model sets them (fixed_anchor_size is always on)."""

    input_size: int
    num_layers: int
    min_scale: float
    max_scale: float
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float = 1.0
    anchor_offset: float = 0.5


BLAZEFACE_BACK = AnchorOptions(256, 4, 0.15625, 0.75, (16, 32, 32, 32))
"""face_detection_back: 896 anchors (16x16x2 + 8x8x6)."""
POSE_DETECTOR = AnchorOptions(224, 5, 0.1484375, 0.75, (8, 16, 32, 32, 32))
"""pose_detection (BlazePose's detector): 2254 anchors (28x28x2 + 14x14x2 + 7x7x6)."""
FACE_FULL_RANGE = AnchorOptions(192, 1, 0.1484375, 0.75, (4,), interpolated_scale_aspect_ratio=0.0)
"""face_detection_full_range(_sparse): 2304 anchors (48x48x1)."""


def anchors(options: AnchorOptions) -> np.ndarray:
    """Anchor centres (N, 2) as x, y in [0, 1] of the square input, in the order the model's outputs use."""
    centres = []
    layer = 0
    while layer < options.num_layers:
        per_cell = 0
        last = layer
        # Consecutive layers of one stride share a feature map: their anchors are emitted together per cell.
        while last < options.num_layers and options.strides[last] == options.strides[layer]:
            per_cell += 1 + (options.interpolated_scale_aspect_ratio > 0)
            last += 1
        side = math.ceil(options.input_size / options.strides[layer])
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        cells = np.stack([(xs.ravel() + options.anchor_offset) / side, (ys.ravel() + options.anchor_offset) / side], 1)
        centres.append(np.repeat(cells, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


def sigmoid_scores(raw: np.ndarray, clip: float = 100.0) -> np.ndarray:
    """Scores from raw logits, clipped first as MediaPipe's score_clipping_thresh does."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(raw, np.float64), -clip, clip)))


def decode(raw: np.ndarray, centres: np.ndarray, input_size: int, num_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4: x0, y0, x1, y1) and keypoints (N, K, 2: x, y), both in [0, 1] of the square input.

    ``raw`` is (N, 4 + 2K) in input pixels relative to each anchor: centre x, centre y, width, height, then
    keypoint x, y pairs (reverse_output_order; with fixed-size anchors the anchor's width and height are 1).
    """
    scaled = raw.astype(np.float32) / input_size
    cx, cy = scaled[:, 0] + centres[:, 0], scaled[:, 1] + centres[:, 1]
    half_w, half_h = scaled[:, 2] / 2, scaled[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
    points = scaled[:, 4 : 4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) + centres[:, None, :]
    return boxes, points


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every corner box (x0, y0, x1, y1) in ``a`` with every one in ``b``."""
    x0, y0 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    x1, y1 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def weighted_nms(
    boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, iou: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-max suppression: each cluster (IoU > ``iou`` with its best box) becomes the
    score-weighted mean of its boxes and keypoints, scored as its best member."""
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order], scores[order]
    left = np.ones(len(scores), bool)
    kept_boxes, kept_points, kept_scores = [], [], []
    for i in range(len(scores)):
        if not left[i]:
            continue
        members = left & (iou_matrix(boxes[i : i + 1], boxes)[0] > iou)
        members[i] = True
        weights = scores[members] / scores[members].sum()
        kept_boxes.append(weights @ boxes[members])
        kept_points.append(np.tensordot(weights, points[members], axes=1))
        kept_scores.append(scores[i])
        left &= ~members
    if not kept_scores:
        return np.zeros((0, 4), np.float32), np.zeros((0,) + points.shape[1:], np.float32), np.zeros(0, np.float32)
    return np.array(kept_boxes), np.array(kept_points), np.array(kept_scores)


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """A frame padded to a centred square of ``side`` pixels: maps [0, 1] square coordinates to frame pixels."""

    side: int
    pad_x: int
    pad_y: int

    @classmethod
    def of(cls, width: int, height: int) -> Letterbox:
        side = max(width, height)
        return cls(side, (side - width) // 2, (side - height) // 2)

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Points or corner boxes (..., 2k) in [0, 1] of the square, as frame pixels (x, y alternating)."""
        flat = np.asarray(xy, np.float64) * self.side
        flat[..., 0::2] -= self.pad_x
        flat[..., 1::2] -= self.pad_y
        return flat


def clipped_box(corners: np.ndarray, width: int, height: int) -> Box | None:
    """A corner box (frame pixels) clipped to the frame as (x, y, w, h); None when nothing of it is inside."""
    x0, y0 = max(0.0, float(corners[0])), max(0.0, float(corners[1]))
    x1, y1 = min(float(width), float(corners[2])), min(float(height), float(corners[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0
