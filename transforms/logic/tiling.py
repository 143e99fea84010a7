"""Which detector tiles of a frame need scanning: only those whose content changed since their last scan.

A CCTV camera is static: most of a frame repeats the frame before. A tile whose pixels match what
they were when it was last scanned cannot hold a face that was not there then, so its detections
from that scan still hold and are carried forward. A tile is rescanned when any cell of it changed
by more than ``threshold`` grey levels (mean over the cell) since its last scan, or after
``refresh`` frames whatever happened.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from schemas.elements import Box

CELL = 8
"""Side, in pixels of the original frame, of the cells whose mean brightness is compared."""


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """threshold: grey levels a cell's mean may move before its tile is rescanned (0 scans every tile always).
    refresh: frames after which a tile is rescanned even if unchanged."""

    threshold: float = 4.0
    refresh: int = 25

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.refresh < 1:
            raise ValueError("gate threshold must be >= 0 and refresh >= 1")


def cell_means(gray: np.ndarray) -> np.ndarray:
    """Mean brightness of each CELL x CELL block of a grey frame."""
    height, width = gray.shape
    return cv2.resize(gray, (max(1, width // CELL), max(1, height // CELL)), interpolation=cv2.INTER_AREA
                      ).astype(np.int16)


class ChangeGate:
    """Per-stream memory of each tile's content and detections at its last scan."""

    def __init__(self, rects: list[tuple[int, int, int, int]], config: GateConfig):
        self._rects = rects
        self._config = config
        self._reference: list[np.ndarray | None] = [None] * len(rects)
        self._age = [0] * len(rects)
        self._found: list[list[tuple[Box, float]]] = [[] for _ in rects]

    def due(self, cells: np.ndarray) -> list[int]:
        """Indices of the tiles to scan in a frame, given its cell means (see ``cell_means``)."""
        due = []
        for i, (x, y, w, h) in enumerate(self._rects):
            current = cells[y // CELL:-(-(y + h) // CELL), x // CELL:-(-(x + w) // CELL)]
            reference = self._reference[i]
            self._age[i] += 1
            if (reference is None or self._age[i] >= self._config.refresh or self._config.threshold == 0
                    or reference.shape != current.shape
                    or np.abs(current - reference).max() > self._config.threshold):
                due.append(i)
        return due

    def record(self, index: int, found: list[tuple[Box, float]], cells: np.ndarray) -> None:
        """Remember what a scan of tile ``index`` found, and the tile's content (cell means) at that scan."""
        x, y, w, h = self._rects[index]
        self._reference[index] = cells[y // CELL:-(-(y + h) // CELL), x // CELL:-(-(x + w) // CELL)].copy()
        self._age[index] = 0
        self._found[index] = found

    def carried(self, scanned: set[int]) -> list[tuple[Box, float]]:
        """Detections of the tiles not scanned in this frame, carried from their last scan."""
        return [d for i, found in enumerate(self._found) if i not in scanned for d in found]
