"""Destroy the planned face regions in every frame of a segment and encode it to a temporary file."""
from __future__ import annotations

import os
import tempfile

import apache_beam as beam
import av

from schemas import tables
from schemas.codes import QuarantineReason, RedactionMode
from schemas.elements import EncodedSegment, Failure, InputRefused, MediaPlan, SegmentJob
from transforms import storage
from transforms.encoding import EncoderConfig, SegmentEncoder
from transforms.logic.audit import AuditConfig, HaarAuditor, over_regions, sampled
from transforms.logic.masks import plane_views, redact
from transforms.segments import decode

AUDIT = "leak_audit"


def segment_jobs(plan: MediaPlan):
    """One job per segment of a planned input, each with the regions that fall in its frames."""
    if plan.tracks.failure is not None:
        return
    for segment in plan.tracks.segments:
        regions = {f: b for f, b in plan.regions.items() if segment.start_frame <= f < segment.end_frame}
        yield SegmentJob(segment, regions)


def part_uri(temp_root: str, job: SegmentJob) -> str:
    return storage.join(temp_root, job.segment.media.media_id, f"{job.segment.index:06d}.mp4")


class _RedactSegmentFn(beam.DoFn):
    def __init__(self, mode: RedactionMode, encoder: EncoderConfig, temp_root: str, audit: AuditConfig):
        self._mode = mode
        self._encoder = encoder
        self._temp_root = temp_root
        self._audit = audit
        self._auditor: HaarAuditor | None = None
        self._audited = beam.metrics.Metrics.counter("veil", "frames_audited")
        self._regions = beam.metrics.Metrics.counter("veil", "faces_redacted")
        self._dropped = beam.metrics.Metrics.counter("veil", "frames_dropped")
        self._frames = beam.metrics.Metrics.counter("veil", "frames_encoded")

    def setup(self) -> None:
        self._auditor = HaarAuditor(self._audit)

    def process(self, job: SegmentJob):
        segment = job.segment
        media_id = segment.media.media_id
        uri = part_uri(self._temp_root, job)
        audit_rows = []
        with tempfile.TemporaryDirectory() as workdir:
            path = os.path.join(workdir, "part.mp4")
            encoder = SegmentEncoder(path, segment.stream.width, segment.stream.height, segment.stream.fps,
                                     self._encoder)
            try:
                for index, frame in decode(segment):
                    boxes = job.regions.get(index)
                    if boxes and self._mode is RedactionMode.DROP_FRAME:
                        self._dropped.inc()
                        continue
                    if boxes:
                        fmt = encoder.pixel_format
                        planes = redact(frame.to_ndarray(format=fmt), frame.width, frame.height, boxes, self._mode)
                        frame = av.VideoFrame.from_ndarray(planes, format=fmt)
                        self._regions.inc(len(boxes))
                        if sampled(media_id, index, self._audit.rate):
                            luma = plane_views(planes, frame.width, frame.height)[0][0]
                            survivors = over_regions(self._auditor.find_around(luma, boxes), boxes)
                            audit_rows.append(tables.leak_audit_row(media_id, index, len(boxes), len(survivors)))
                    encoder.write(frame)
                encoder.close()
            except InputRefused as err:
                encoder.abort()
                yield EncodedSegment(segment, None, 0, Failure(err.reason, str(err)))
                return
            except Exception as err:  # noqa: BLE001 - fail closed: the join quarantines the whole input
                encoder.abort()
                message = f"redaction or encoding failed: {type(err).__name__}: {err}"
                yield EncodedSegment(segment, None, 0, Failure(QuarantineReason.PROCESSING_ERROR, message))
                return
            self._frames.inc(encoder.frames)
            if encoder.frames:
                storage.publish_file(path, uri)
        self._audited.inc(len(audit_rows))
        for row in audit_rows:
            yield beam.pvalue.TaggedOutput(AUDIT, row)
        yield EncodedSegment(segment, uri if encoder.frames else None, encoder.frames)


class RedactFrames(beam.PTransform):
    """Split each plan into per-segment jobs, destroy every planned region, and encode each segment.

    Emits one EncodedSegment per segment, written to ``temp_root``; a segment whose decoding or
    encoding fails carries a Failure and its input is quarantined when segments are joined. The
    leak_audit output holds a row per audited frame: Haar cascades, unlike the pipeline's detectors,
    look again where faces were just redacted.
    """

    def __init__(self, mode: RedactionMode, encoder: EncoderConfig, temp_root: str, audit: AuditConfig):
        super().__init__()
        self._fn = _RedactSegmentFn(RedactionMode(mode), encoder, temp_root, audit)

    def expand(self, plans):
        results = (plans
                   | "Plan Segment Jobs" >> beam.FlatMap(segment_jobs)
                   | "Spread Jobs" >> beam.Reshuffle()
                   | "Redact And Encode" >> beam.ParDo(self._fn).with_outputs(AUDIT, main="parts"))
        return {"parts": results.parts, AUDIT: results[AUDIT]}
