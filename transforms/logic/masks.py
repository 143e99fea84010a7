"""Irreversible destruction of image regions, on the planes of a YUV frame.

Every mode keeps at most a handful of samples of what was under a region: blur and pixelate
average the face down to a few cells first, so no deconvolution can bring the detail back.
"""

from __future__ import annotations

import cv2
import numpy as np

from schemas.codes import RedactionMode
from schemas.elements import Box
from transforms.logic.geometry import clip_box

BLUR_CELLS = 3
"""Cells across the larger side of a blurred region: 3 leaves nothing of eyes, nose or mouth."""
PIXELATE_CELLS = 4
"""Blocks across the larger side of a pixelated region: with padding a face spans about three blocks."""
PIXELATE_EDGE_SOFTNESS = 0.25
"""Gaussian sigma of the softened block edges, as a share of the block side."""
SMOOTH_STEPS = 8
"""Pixels per cell at which a blurred region is smoothed before it is enlarged back."""
MASK_VALUES = (16, 128, 128)
"""Video-range black in Y, U, V."""


def pixel_format(width: int, height: int) -> str:
    """The planar format Veil encodes in: 4:2:0 where the size allows it, else 4:4:4 (odd sizes)."""
    return "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"


def plane_views(frame: np.ndarray, width: int, height: int) -> list[tuple[np.ndarray, int]]:
    """Y, U, V views into a frame array as PyAV lays it out, each with its subsampling factor."""
    if frame.ndim == 3:
        return [(frame[0], 1), (frame[1], 1), (frame[2], 1)]
    flat = frame.reshape(-1)
    luma = width * height
    chroma = luma // 4
    return [
        (flat[:luma].reshape(height, width), 1),
        (flat[luma : luma + chroma].reshape(height // 2, width // 2), 2),
        (flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2), 2),
    ]


def redact(frame: np.ndarray, width: int, height: int, boxes: tuple[Box, ...], mode: RedactionMode) -> np.ndarray:
    """A copy of a planar YUV frame with every box destroyed by ``mode`` (blur, pixelate or mask)."""
    if mode is RedactionMode.DROP_FRAME:
        raise ValueError("drop-frame removes whole frames; it has no region redaction")
    out = frame.copy()
    for (plane, sub), fill in zip(plane_views(out, width, height), MASK_VALUES):
        ph, pw = plane.shape
        for box in boxes:
            rect = clip_box(tuple(v / sub for v in box), pw, ph)
            if rect is not None:
                x0, y0, x1, y1 = rect
                plane[y0:y1, x0:x1] = destroy(plane[y0:y1, x0:x1], mode, fill)
    return out


def destroy(region: np.ndarray, mode: RedactionMode, fill: int) -> np.ndarray:
    """The redacted replacement for one single-channel region."""
    h, w = region.shape
    if mode is RedactionMode.MASK:
        return np.full_like(region, fill)
    cells = BLUR_CELLS if mode is RedactionMode.BLUR else PIXELATE_CELLS
    side = max(h, w)
    cw, ch = max(1, round(cells * w / side)), max(1, round(cells * h / side))
    small = cv2.resize(region, (cw, ch), interpolation=cv2.INTER_AREA)
    if mode is RedactionMode.PIXELATE:
        # Hard block edges line up with a small face's own edges often enough to carry some of its fine
        # detail (measured: up to a third of it on 20 px faces); softened edges carry none.
        blocks = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        sigma = max(1.0, side / cells * PIXELATE_EDGE_SOFTNESS)
        return cv2.GaussianBlur(blocks, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    # Smooth the few cells at a small fixed size, then enlarge: as soft as a wide Gaussian on the
    # full region, at a cost that does not grow with the face.
    soft = cv2.resize(small, (cw * SMOOTH_STEPS, ch * SMOOTH_STEPS), interpolation=cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(soft, (0, 0), SMOOTH_STEPS / 2, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
