"""Gather each input's detections from all its segments and link them into face tracks."""

from __future__ import annotations

import apache_beam as beam

from schemas.codes import QuarantineReason
from schemas.elements import Failure, MediaTracks, SegmentDetections
from transforms.logic.tracking import TrackerConfig, link_tracks


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


class TrackFaces(beam.PTransform):
    """Group segment detections by input and link them into tracks with ids stable across segments."""

    def __init__(self, config: TrackerConfig):
        super().__init__()
        self._config = config

    def expand(self, detections):
        config = self._config
        return (
            detections
            | "Key By Media" >> beam.Map(lambda d: (d.segment.media.media_id, d))
            | "Gather Segments" >> beam.GroupByKey()
            | "Link Tracks" >> beam.MapTuple(lambda _, parts: assemble(list(parts), config))
        )
