"""Destroy the planned face regions in every frame of a segment and encode it to a temporary file."""

from __future__ import annotations

import os
import tempfile

import apache_beam as beam
import av

from schemas import tables
from schemas.codes import QuarantineReason, RedactionMode
from schemas.elements import EncodedSegment, Failure, InputRefused, MediaPlan, Regions, SegmentJob
from transforms.logic.audit import AuditConfig, HaarAuditor, over_regions, sampled
from transforms.logic.masks import plane_views, redact
from transforms.logic.sealing import seal_file
from transforms.services import progress, storage
from transforms.services.keystore import KeyStore, open_keystore
from transforms.services.media import EncoderConfig, SegmentEncoder, decode
from transforms.stage import Stage, Step

AUDIT = "leak_audit"


def segment_jobs(plan: MediaPlan):
    """One job per segment of a planned input, each with the regions that fall in its frames, per copy."""
    if plan.tracks.failure is not None:
        return
    for segment in plan.tracks.segments:

        def within(regions, segment=segment):
            return {f: b for f, b in regions.items() if segment.start_frame <= f < segment.end_frame}

        yield SegmentJob(segment, within(plan.regions), {a: within(r) for a, r in plan.restricted.items()})


def part_uri(temp_root: str, job: SegmentJob, key_id: str | None = None) -> str:
    """Where a segment's encoded part waits: the public copy's, or a restricted part sealed with ``key_id``.

    Key ids are random, so paths never spell out an account.
    """
    folder = storage.join(temp_root, job.segment.media.media_id)
    if key_id is None:
        return storage.join(folder, f"{job.segment.index:06d}.mp4")
    return storage.join(folder, key_id, f"{job.segment.index:06d}.sealed")


class _SegmentJobsFn(beam.DoFn):
    """One job per segment of a planned input."""

    def process(self, plan: MediaPlan):
        yield from segment_jobs(plan)


class _RedactSegmentFn(beam.DoFn):
    """Destroy the planned regions in one segment's frames and encode each copy of it."""

    def __init__(
        self,
        mode: RedactionMode,
        encoder: EncoderConfig,
        temp_root: str,
        audit: AuditConfig,
        keystore: str,
        progress: str | None,
    ):
        self._progress = progress
        self._mode = mode
        self._encoder = encoder
        self._temp_root = temp_root
        self._audit = audit
        self._keystore_uri = keystore
        self._auditor: HaarAuditor | None = None
        self._keystore: KeyStore | None = None
        self._audited = beam.metrics.Metrics.counter("veil", "frames_audited")
        self._regions = beam.metrics.Metrics.counter("veil", "faces_redacted")
        self._dropped = beam.metrics.Metrics.counter("veil", "frames_dropped")
        self._frames = beam.metrics.Metrics.counter("veil", "frames_encoded")

    def setup(self) -> None:
        self._auditor = HaarAuditor(self._audit)
        self._keystore = open_keystore(self._keystore_uri)

    def process(self, job: SegmentJob):
        segment = job.segment
        media_id = segment.media.media_id
        copies: dict[str | None, Regions] = {None: job.regions, **job.restricted}
        audit_rows = []
        with tempfile.TemporaryDirectory() as workdir:
            encoders = {
                account: SegmentEncoder(
                    os.path.join(workdir, f"part-{n}.mp4"),
                    segment.stream.width,
                    segment.stream.height,
                    segment.stream.fps,
                    self._encoder,
                )
                for n, account in enumerate(copies)
            }
            try:
                for index, frame in decode(segment):
                    source = None
                    for account, regions in copies.items():
                        boxes = regions.get(index)
                        if boxes and self._mode is RedactionMode.DROP_FRAME:
                            if account is None:
                                self._dropped.inc()
                            continue
                        encoder = encoders[account]
                        out = frame
                        if boxes:
                            fmt = encoder.pixel_format
                            # One conversion per frame for every copy: redact() works on a copy of it.
                            source = frame.to_ndarray(format=fmt) if source is None else source
                            planes = redact(source, frame.width, frame.height, boxes, self._mode)
                            out = av.VideoFrame.from_ndarray(planes, format=fmt)
                            if account is None:
                                self._regions.inc(len(boxes))
                                if sampled(media_id, index, self._audit.rate):
                                    luma = plane_views(planes, frame.width, frame.height)[0][0]
                                    survivors = over_regions(self._auditor.find_around(luma, boxes), boxes)
                                    audit_rows.append(
                                        tables.leak_audit_row(media_id, index, len(boxes), len(survivors))
                                    )
                        encoder.write(out)
                for encoder in encoders.values():
                    encoder.close()
            except InputRefused as err:
                for encoder in encoders.values():
                    encoder.abort()
                yield EncodedSegment(segment, None, 0, Failure(err.reason, str(err)))
                return
            except Exception as err:  # noqa: BLE001 - fail closed: the join quarantines the whole input
                for encoder in encoders.values():
                    encoder.abort()
                message = f"redaction or encoding failed: {type(err).__name__}: {err}"
                yield EncodedSegment(segment, None, 0, Failure(QuarantineReason.PROCESSING_ERROR, message))
                return
            parts = [self._publish(job, account, encoder) for account, encoder in encoders.items()]
        self._frames.inc(encoders[None].frames)
        progress.note(
            self._progress, progress.ENCODED, f"{segment.media.media_id}-{segment.index}", encoders[None].frames
        )
        self._audited.inc(len(audit_rows))
        for row in audit_rows:
            yield beam.pvalue.TaggedOutput(AUDIT, row)
        yield from parts

    def _publish(self, job: SegmentJob, account: str | None, encoder: SegmentEncoder) -> EncodedSegment:
        """Move an encoded part to temporary storage; a restricted part is sealed first, so kept faces never rest
        there in the clear."""
        if not encoder.frames:
            return EncodedSegment(job.segment, None, 0, account_id=account)
        path, key_id = encoder.path, None
        if account is not None:
            key_id, key = self._keystore.key_for(account)
            path = encoder.path + ".sealed"
            seal_file(encoder.path, path, key, key_id)
        uri = part_uri(self._temp_root, job, key_id)
        storage.publish_file(path, uri)
        return EncodedSegment(job.segment, uri, encoder.frames, account_id=account)


class RedactFrames(Stage):
    """Split each plan into per-segment jobs, destroy every planned region, and encode each segment.

    Reads ``plans``; writes ``parts``: one EncodedSegment per segment and copy (the public one, and one sealed
    restricted copy per account with a kept face), written to ``temp_root``; a segment whose decoding or encoding
    fails carries a Failure and its input is quarantined when segments are joined. ``leak_audit`` holds a row per
    audited frame: Haar cascades, unlike the pipeline's detectors, look again where faces were just redacted.
    """

    def __init__(
        self,
        mode: RedactionMode,
        encoder: EncoderConfig,
        temp_root: str,
        audit: AuditConfig,
        keystore: str,
        progress: str | None = None,
    ):
        super().__init__(
            Step("Plan Segment Jobs", _SegmentJobsFn(), ("plans",), "jobs", guarded=False),
            Step(
                "Redact And Encode",
                _RedactSegmentFn(RedactionMode(mode), encoder, temp_root, audit, keystore, progress),
                ("jobs",),
                "parts",
                (AUDIT,),
                guarded=False,
                spread=True,
            ),
        )
