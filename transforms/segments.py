"""Split inputs into independently decodable segments, spread over workers."""

from __future__ import annotations

from fractions import Fraction

import apache_beam as beam

from schemas.elements import InputRefused, MediaInfo, QuarantineRecord
from transforms.quarantine import QUARANTINE
from transforms.services import progress
from transforms.services.media import split
from transforms.stage import Stage, Step


class _SplitFn(beam.DoFn):
    """Probe one input and emit its segments; an unreadable one goes to quarantine."""

    def __init__(self, image_fps: Fraction, segment_frames: int, progress: str | None):
        self._image_fps = image_fps
        self._segment_frames = segment_frames
        self._progress = progress
        self._segments = beam.metrics.Metrics.counter("veil", "segments")

    def process(self, media: MediaInfo):
        try:
            segments = split(media, self._image_fps, self._segment_frames)
        except InputRefused as err:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                QuarantineRecord(
                    media.source.origin_uri,
                    err.reason,
                    str(err),
                    media.media_id,
                    media.source.single_file,
                    media.camera_id,
                ),
            )
            return
        self._segments.inc(len(segments))
        if segments:
            progress.note(self._progress, progress.FRAMES, media.media_id, segments[0].stream.frames)
        yield from segments


class SplitSegments(Stage):
    """Split each input into GOP-aligned segments; unreadable inputs go to quarantine.

    Reads ``screened``, writes ``segments``; the detector spreads them over workers, so that the segments of one
    long video are detected in parallel.
    """

    def __init__(self, image_fps: Fraction, segment_frames: int, progress: str | None = None):
        if segment_frames < 1:
            raise ValueError("segment_frames must be >= 1")
        if image_fps <= 0:
            raise ValueError("image_fps must be > 0")
        super().__init__(
            Step("Probe And Split", _SplitFn(image_fps, segment_frames, progress), ("screened",), "segments")
        )
