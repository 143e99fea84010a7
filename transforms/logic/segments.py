"""Where a video is cut into segments: at keyframes, so each segment decodes on its own."""

from __future__ import annotations


def plan_segments(keyframes: list[int], frames: int, target: int) -> list[tuple[int, int]]:
    """Frame ranges [start, end) that start on keyframes, each at least ``target`` frames where the stream allows."""
    starts = sorted({k for k in keyframes if 0 <= k < frames} | {0})
    bounds: list[tuple[int, int]] = []
    current = 0
    for key in starts[1:]:
        if key - current >= target:
            bounds.append((current, key))
            current = key
    bounds.append((current, frames))
    return bounds
