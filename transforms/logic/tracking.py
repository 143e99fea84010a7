"""Face tracking by overlap, and the per-frame regions a track covers (with gaps filled, held and led)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from schemas.elements import Box, Detection, Track
from transforms.logic.geometry import centre_distance, interpolate, iou, pad_head


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    """How detections are linked into tracks and how far a track's cover reaches beyond them.

    max_gap: frames a track may go undetected and still continue.
    hold / lead: frames a track stays covered after its last / before its first detection.
    pad_x / pad_y: share of the box's longer side / its height added on every side (detector boxes run
    brow to chin; hair, ears and detector jitter lie outside them; see geometry.pad_head).
    """

    min_iou: float = 0.1
    max_centre_distance: float = 1.0
    max_gap: int = 8
    hold: int = 5
    lead: int = 2
    pad_x: float = 0.3
    pad_y: float = 0.4

    def __post_init__(self) -> None:
        for name in ("max_gap", "hold", "lead"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.pad_x < 0 or self.pad_y < 0:
            raise ValueError("padding must be >= 0")

    def covering(self, every: int) -> TrackerConfig:
        """This tracker for detections on one frame in ``every``: a face may appear up to ``every - 1`` frames before
        its first scanned frame and stay as long after its last, and two scans of it lie ``every`` frames apart."""
        reach = every - 1
        return dataclasses.replace(
            self, lead=max(self.lead, reach), hold=max(self.hold, reach), max_gap=max(self.max_gap, 2 * every)
        )


def link_tracks(detections: Iterable[Detection], config: TrackerConfig) -> list[Track]:
    """Link detections frame by frame into tracks: greedy best overlap, ids in order of first appearance."""
    by_frame: dict[int, list[Detection]] = defaultdict(list)
    for det in detections:
        by_frame[det.frame].append(det)
    open_tracks: list[list[Detection]] = []
    closed: list[list[Detection]] = []
    for frame in sorted(by_frame):
        still_open = []
        for dets in open_tracks:
            (closed if frame - dets[-1].frame > config.max_gap + 1 else still_open).append(dets)
        open_tracks = still_open
        candidates = []
        for ti, dets in enumerate(open_tracks):
            for di, det in enumerate(by_frame[frame]):
                overlap = iou(dets[-1].box, det.box)
                distance = centre_distance(dets[-1].box, det.box)
                if overlap >= config.min_iou or distance <= config.max_centre_distance:
                    candidates.append((-overlap, distance, ti, di))
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, _, ti, di in sorted(candidates):
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            open_tracks[ti].append(by_frame[frame][di])
        for di, det in enumerate(by_frame[frame]):
            if di not in used_dets:
                open_tracks.append([det])
    runs = sorted(closed + open_tracks, key=lambda dets: (dets[0].frame, dets[0].box))
    return [Track(track_id=i, detections=tuple(dets)) for i, dets in enumerate(runs)]


def track_regions(track: Track, config: TrackerConfig, frame_count: int) -> dict[int, Box]:
    """The padded box a track covers in every frame from ``lead`` before its first detection to ``hold`` after its last.

    Frames between two detections get the linear interpolation of the two boxes, grown to hold both,
    so a face the detector missed in between is still covered wherever it moved.
    """
    regions: dict[int, Box] = {}
    dets = track.detections
    for prev, nxt in zip(dets, dets[1:]):
        span = nxt.frame - prev.frame
        for frame in range(prev.frame, nxt.frame):
            t = (frame - prev.frame) / span
            regions[frame] = _grow_to(interpolate(prev.box, nxt.box, t), prev.box, nxt.box, t)
    regions[dets[-1].frame] = dets[-1].box
    for frame in range(max(0, track.first_frame - config.lead), track.first_frame):
        regions[frame] = dets[0].box
    for frame in range(track.last_frame + 1, min(frame_count, track.last_frame + config.hold + 1)):
        regions[frame] = dets[-1].box
    return {f: pad_head(b, config.pad_x, config.pad_y) for f, b in regions.items() if 0 <= f < frame_count}


def _grow_to(box: Box, a: Box, b: Box, t: float) -> Box:
    """Keep an interpolated box at least as large as the nearer endpoint box, centred where interpolated."""
    near = a if t < 0.5 else b
    w, h = max(box[2], near[2]), max(box[3], near[3])
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return (cx - w / 2, cy - h / 2, w, h)
