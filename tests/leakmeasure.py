"""How much of a face's fine detail survives in an output frame: the measure of shared/footage/score_leak.py.

D = <d_orig, d_out> / (|d_orig|^2 + N * 2^2) over the ellipse inscribed in the box (shrunk to 0.85),
with d = I - GaussianBlur(I, max(1, h/16)); the worst quadrant for faces of 16 px and more.
1 means all detail is still there (a re-encode), 0 none (strong blur, fill). A face leaks at D >= 0.2.
"""

from __future__ import annotations

import cv2
import numpy as np

LEAK_THRESHOLD = 0.2


def retained_detail(orig_gray: np.ndarray, out_gray: np.ndarray, box, noise: float = 2.0) -> float:
    height, width = orig_gray.shape
    x, y, w, h = box
    sigma = max(1.0, h / 16.0)
    pad = int(np.ceil(3 * sigma)) + 2
    x0, y0 = int(max(0, np.floor(x) - pad)), int(max(0, np.floor(y) - pad))
    x1, y1 = int(min(width, np.ceil(x + w) + pad)), int(min(height, np.ceil(y + h) + pad))
    o = orig_gray[y0:y1, x0:x1].astype(np.float64)
    a = out_gray[y0:y1, x0:x1].astype(np.float64)
    do = o - cv2.GaussianBlur(o, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    da = a - cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    cx, cy = x + w / 2, y + h / 2
    rx, ry = max(w / 2 * 0.85, 1.0), max(h / 2 * 0.85, 1.0)
    ellipse = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    if ellipse.sum() < 4:
        ellipse = (xx >= x) & (xx <= x + w) & (yy >= y) & (yy <= y + h)

    def ratio(sel):
        return float(np.clip((do[sel] * da[sel]).sum() / ((do[sel] ** 2).sum() + sel.sum() * noise**2), -1, 2))

    whole = ratio(ellipse)
    if w < 16 or h < 16:
        return whole
    quadrants = [ellipse & sy & sx for sy in (yy < cy, yy >= cy) for sx in (xx < cx, xx >= cx)]
    return max([ratio(q) for q in quadrants if q.sum() >= 4] or [whole])


def read_gray_frames(path: str) -> list[np.ndarray]:
    """Every frame of a video as 8-bit grey (BT.601 luma), decoded with PyAV."""
    import av

    with av.open(path) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
