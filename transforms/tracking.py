"""Gather each input's detections from all its segments and link them into face tracks."""

from __future__ import annotations

import apache_beam as beam

from schemas.codes import QuarantineReason
from schemas.elements import Failure, MediaTracks, SegmentDetections
from transforms.logic.tracking import TrackerConfig, link_tracks
from transforms.stage import Stage, Step


def assemble(parts: list[SegmentDetections], config: TrackerConfig) -> MediaTracks:
    """One input's tracks from its segments' detections; any failed or missing segment fails the input."""
    parts = sorted(parts, key=lambda p: p.segment.index)
    first = parts[0].segment
    segments = tuple(p.segment for p in parts)
    failure = next((p.failure for p in parts if p.failure), None)
    if failure is None and [s.index for s in segments] != list(range(first.count)):
        failure = Failure(
            QuarantineReason.PROCESSING_ERROR, f"{len(parts)} of {first.count} segments arrived for tracking"
        )
    if failure is not None:
        return MediaTracks(first.media, first.stream, segments, (), failure)
    tracks = link_tracks((d for p in parts for d in p.detections), config)
    return MediaTracks(first.media, first.stream, segments, tuple(tracks))


class _LinkTracksFn(beam.DoFn):
    """Link one input's detections, from all its segments, into tracks."""

    def __init__(self, config: TrackerConfig):
        self._config = config

    def process(self, keyed):
        _, grouped = keyed
        yield assemble(grouped["detections"], self._config)


class TrackFaces(Stage):
    """Gather segment detections by input and link them into tracks with ids stable across segments.

    Reads ``detections``, writes ``tracks``.
    """

    def __init__(self, config: TrackerConfig):
        super().__init__(
            Step(
                "Link Tracks",
                _LinkTracksFn(config),
                ("detections",),
                "tracks",
                guarded=False,
                key=lambda d: d.segment.media.media_id,
            )
        )
