"""Decoding of CenterFace's output maps into face boxes (the model runs in transforms.detection)."""

from __future__ import annotations

import numpy as np

from schemas.elements import Box

STRIDE = 4
"""CenterFace predicts one heat-map cell per 4x4 pixels of its input."""


def input_size(width: int, height: int) -> tuple[int, int]:
    """The network input size for a frame: each side rounded up to a multiple of 32."""
    return -(-width // 32) * 32, -(-height // 32) * 32


def decode(
    heat: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    threshold: float,
    net_size: tuple[int, int],
    frame_size: tuple[int, int],
) -> list[tuple[Box, float]]:
    """Face boxes (frame pixels) from one image's heat map (H, W), scale and offset maps (2, H, W).

    Every cell above ``threshold`` is a face centre; overlapping boxes are merged downstream.
    """
    net_w, net_h = net_size
    frame_w, frame_h = frame_size
    ys, xs = np.nonzero(heat > threshold)
    found = []
    with np.errstate(over="ignore"):
        for y, x in zip(ys, xs):
            h, w = np.exp(scale[0, y, x]) * STRIDE, np.exp(scale[1, y, x]) * STRIDE
            cy, cx = (y + offset[0, y, x] + 0.5) * STRIDE, (x + offset[1, y, x] + 0.5) * STRIDE
            x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
            x1, y1 = min(float(net_w), x0 + w), min(float(net_h), y0 + h)
            if x1 <= x0 or y1 <= y0 or not np.isfinite([x0, y0, x1, y1]).all():
                continue
            sx, sy = frame_w / net_w, frame_h / net_h
            found.append(((x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy), float(heat[y, x])))
    return found
