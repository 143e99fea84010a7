"""A run's progress, for the launcher's progress line.

Stages note what they finished as tiny files in a folder of the run's work folder, one per input or segment (a
retried bundle rewrites its file rather than adding to a count), and the launcher sums them. One small file per
segment of about 150 frames: nothing per frame. Only for local output roots, which the launcher can list cheaply.
"""

from __future__ import annotations

import os

FOUND = "found"
"""Inputs identified (each file or frame folder, archive members included)."""
DONE = "done"
"""Inputs finished: anonymized, quarantined or skipped."""
FRAMES = "frames"
"""Frames of the inputs probed so far."""
DETECTED = "detected"
"""Frames of the segments detection finished."""
ENCODED = "encoded"
"""Frames redacted and encoded so far (the public copy's)."""
KINDS = (FOUND, DONE, FRAMES, DETECTED, ENCODED)
DETECTION_SHARE = 2 / 3
"""Detection's share of a frame's work, the rest being decoding again, redacting and encoding: 12.1 ms against
6.2 ms a frame on one core (bench/stages-results.md); every frame is detected before any is redacted."""


def frames_done(totals: dict[str, int]) -> float:
    """Frames' worth of work done: detection and redaction weighted by their measured cost."""
    return DETECTION_SHARE * totals[DETECTED] + (1 - DETECTION_SHARE) * totals[ENCODED]


def note(folder: str | None, kind: str, key: str, amount: int = 1) -> None:
    """Record that ``key`` (an input or a segment) accounts for ``amount`` of ``kind``; no-op without a folder."""
    if folder is None:
        return
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{kind}.{key}")
    scratch = f"{path}.{os.getpid()}.tmp"
    with open(scratch, "w") as handle:
        handle.write(str(amount))
    os.replace(scratch, path)


class Tally:
    """Sums of a progress folder, each file read once (a key's amount does not change)."""

    def __init__(self, folder: str):
        self._folder = folder
        self._seen: dict[str, tuple[str, int]] = {}

    def totals(self) -> dict[str, int]:
        try:
            names = [entry.name for entry in os.scandir(self._folder)]
        except FileNotFoundError:
            names = []
        for name in names:
            kind = name.split(".", 1)[0]
            if name in self._seen or name.endswith(".tmp") or kind not in KINDS:
                continue
            try:
                with open(os.path.join(self._folder, name)) as handle:
                    self._seen[name] = (kind, int(handle.read()))
            except (OSError, ValueError):
                continue
        sums = dict.fromkeys(KINDS, 0)
        for kind, amount in self._seen.values():
            sums[kind] += amount
        return sums
