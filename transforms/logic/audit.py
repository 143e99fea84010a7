"""The leak audit: an independent detector looks at redacted output frames for faces that survived."""

from __future__ import annotations

import dataclasses
import zlib

import cv2
import numpy as np

from schemas.elements import Box
from schemas.options import config_default
from transforms.logic.geometry import clip_box, iou


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """rate: share of output frames audited (sampled by a hash of input and frame, so re-runs audit the same
    frames). min_neighbors: Haar's confidence, OpenCV's default. At 2 it took the edges of blurred blocks and a
    person's hair and shoulders beside them for faces (the sample's lobby frame 44 and desk frame 4, the shared mp4
    at 0.7 on its back), failing runs that leaked nothing; a face left in the clear is still caught
    (tests/logic/test_audit.py, tests/pipelines/test_leak_audit.py)."""

    rate: float = config_default("audit", "rate")
    min_neighbors: int = 3
    min_size: int = 12

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"audit rate must be in [0, 1], got {self.rate}")


def sampled(media_id: str, frame: int, rate: float) -> bool:
    """Whether a frame is audited: the same frames on every run, about ``rate`` of them."""
    return zlib.crc32(f"{media_id}:{frame}".encode()) % 10_000 < rate * 10_000


AUDIT_REGION_PX = 64
"""Regions larger than this are shrunk to it before the audit looks at them."""


class HaarAuditor:
    """OpenCV's Haar cascades (frontal and profile, shipped with opencv): a detector unlike the pipeline's."""

    def __init__(self, config: AuditConfig):
        self._config = config
        self._cascades = [
            cv2.CascadeClassifier(cv2.data.haarcascades + name)
            for name in ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
        ]
        if any(c.empty() for c in self._cascades):
            raise RuntimeError("OpenCV's Haar cascades are missing from this OpenCV build")

    def find(self, gray: np.ndarray) -> list[Box]:
        """Face boxes in a grey image."""
        size = (self._config.min_size, self._config.min_size)
        found = []
        for cascade in self._cascades:
            for x, y, w, h in cascade.detectMultiScale(gray, 1.1, self._config.min_neighbors, minSize=size):
                found.append((float(x), float(y), float(w), float(h)))
        return found

    def find_around(self, gray: np.ndarray, regions: tuple[Box, ...]) -> list[Box]:
        """Face boxes near the given regions only (each widened by its own size on every side), in frame pixels.

        The audit asks whether a face can still be found where one was redacted; looking only there keeps
        it cheap enough to run on every frame.
        """
        height, width = gray.shape
        found = []
        for x, y, w, h in regions:
            rect = clip_box((x - w, y - h, 3 * w, 3 * h), width, height)
            if rect is None:
                continue
            x0, y0, x1, y1 = rect
            crop = gray[y0:y1, x0:x1]
            # Large faces are looked for at a bounded size: Haar finds them as well, far faster.
            scale = min(1.0, AUDIT_REGION_PX / max(w, h))
            if scale < 1:
                crop = cv2.resize(
                    crop,
                    (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                    interpolation=cv2.INTER_AREA,
                )
            found += [(bx / scale + x0, by / scale + y0, bw / scale, bh / scale) for bx, by, bw, bh in self.find(crop)]
        return found


def over_regions(found: list[Box], regions: tuple[Box, ...]) -> list[Box]:
    """The detections that lie on a redacted region: a face there survived its redaction."""

    def on(box: Box, region: Box) -> bool:
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        inside = region[0] <= cx <= region[0] + region[2] and region[1] <= cy <= region[1] + region[3]
        return inside or iou(box, region) >= 0.3

    return [box for box in found if any(on(box, region) for region in regions)]
