"""Decide per track what happens to the face, and turn the decisions into regions to destroy per frame."""
from __future__ import annotations

from collections import defaultdict

import apache_beam as beam

from schemas.codes import Action
from schemas.elements import Box, MediaPlan, MediaTracks
from transforms.logic.policy import decide
from transforms.logic.tracking import TrackerConfig, track_regions


def plan(tracks: MediaTracks, config: TrackerConfig) -> MediaPlan:
    """Decisions for every track of an input, and the padded regions of every redacted track per frame."""
    decisions = tuple(decide(track, tracks.media) for track in tracks.tracks)
    regions: dict[int, list[Box]] = defaultdict(list)
    for track, decision in zip(tracks.tracks, decisions):
        if decision.action is Action.REDACT:
            for frame, box in track_regions(track, config, tracks.stream.frames).items():
                regions[frame].append(box)
    return MediaPlan(tracks, decisions, {f: tuple(b) for f, b in regions.items()})


class ApplyPolicy(beam.PTransform):
    """Give every face track a decision with a reason code; redacted tracks become per-frame regions."""

    def __init__(self, config: TrackerConfig):
        super().__init__()
        self._config = config

    def expand(self, tracks):
        config = self._config
        return tracks | "Decide Per Track" >> beam.Map(lambda t: plan(t, config))
