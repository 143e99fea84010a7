"""H.264 encoding of redacted segments, and joining them into one output video per input."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import re
import tempfile
from fractions import Fraction

import apache_beam as beam
import av

from schemas import tables
from schemas.codes import Action, MediaStatus, QuarantineReason
from schemas.elements import Failure, MediaPlan, QuarantineRecord
from transforms import storage
from transforms.logic.masks import pixel_format
from transforms.quarantine import QUARANTINE, guarded_pardo
from transforms.segments import open_container

TRACKS = "face_tracks"


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """libx264 settings: constant rate factor and speed preset."""

    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if self.preset not in ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                               "slower", "veryslow"):
            raise ValueError(f"unknown x264 preset {self.preset!r}")


class SegmentEncoder:
    """Writes frames (planar YUV arrays) to a local H.264 MP4 file with no source metadata."""

    def __init__(self, path: str, width: int, height: int, fps: Fraction, config: EncoderConfig):
        self._container = av.open(path, mode="w", format="mp4")
        self._format = pixel_format(width, height)
        self._stream = self._container.add_stream("libx264", rate=fps)
        self._stream.width = width
        self._stream.height = height
        self._stream.pix_fmt = self._format
        self._stream.options = {"crf": str(config.crf), "preset": config.preset}
        self._stream.codec_context.time_base = 1 / fps
        self.frames = 0

    @property
    def pixel_format(self) -> str:
        return self._format

    def write(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        frame.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def abort(self) -> None:
        self._container.close()


def join_segments(parts: list[str], output: str, fps: Fraction, audio_from: str | None) -> int:
    """Concatenate encoded segment files (in order) into one MP4 without re-encoding; returns frames written.

    Timestamps of each part are shifted by the duration of the parts before it. With ``audio_from``,
    the audio stream of that input is copied through unchanged.
    """
    frames = 0
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(av.open(output, mode="w", format="mp4"))
        with av.open(parts[0]) as first:
            video_out = out.add_stream_from_template(first.streams.video[0])
        audio = None
        if audio_from is not None:
            source = stack.enter_context(open_container(audio_from))
            if source.streams.audio:
                audio = source.streams.audio[0]
                audio_out = out.add_stream_from_template(audio)
        offset = 0
        for part in parts:
            with av.open(part) as src:
                stream = src.streams.video[0]
                count = 0
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = video_out
                    out.mux(packet)
                    count += 1
                frames += count
                offset += round(count / fps / stream.time_base)
        if audio is not None:
            for packet in source.demux(audio):
                if packet.dts is not None:
                    packet.stream = audio_out
                    out.mux(packet)
    return frames


class _JoinFn(beam.DoFn):
    def __init__(self, output_root: str, mode: str, settings_hash: str, keep_audio: bool):
        self._output_root = output_root
        self._mode = mode
        self._settings_hash = settings_hash
        self._keep_audio = keep_audio
        self._written = beam.metrics.Metrics.counter("veil", "media_anonymized")

    def process(self, keyed):
        _, grouped = keyed
        (plan,) = grouped["plan"]
        parts = sorted(grouped["parts"], key=lambda p: p.segment.index)
        media = plan.media
        failure = plan.tracks.failure or next((p.failure for p in parts if p.failure), None)
        if failure is None and len(parts) != len(plan.tracks.segments):
            failure = Failure(QuarantineReason.PROCESSING_ERROR,
                              f"{len(parts)} of {len(plan.tracks.segments)} segments were encoded")
        if failure is not None:
            yield beam.pvalue.TaggedOutput(QUARANTINE, QuarantineRecord(
                media.source.origin_uri, failure.reason, failure.message, media.media_id, media.source.single_file))
            return
        written = [p.uri for p in parts if p.uri]
        uri = output_uri(self._output_root, plan)
        frames_out = 0
        if written:
            with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
                local_parts = [stack.enter_context(storage.local_copy(p)) for p in written]
                joined = os.path.join(workdir, "joined.mp4")
                audio = media.source.uri if self._keep_audio and plan.tracks.stream.has_audio else None
                frames_out = join_segments(local_parts, joined, plan.tracks.stream.fps, audio)
                storage.publish_file(joined, uri)
        else:
            uri = ""
        self._written.inc()
        redacted = [d for d in plan.decisions if d.action is Action.REDACT]
        yield tables.media_row(plan, uri, frames_out, MediaStatus.ANONYMIZED.value, self._mode, self._settings_hash,
                               sum(len(b) for b in plan.regions.values()), len(redacted))
        for track, decision in zip(plan.tracks.tracks, plan.decisions):
            yield beam.pvalue.TaggedOutput(TRACKS, tables.face_track_row(media.media_id, track, decision))


def output_uri(root: str, plan: MediaPlan) -> str:
    """OUT/anonymized/<camera_id>/<yyyy-mm-dd>/<name>-<id>.mp4 for an input."""
    media = plan.media
    camera = media.camera_id or "unknown-camera"
    day = media.start_time.strftime("%Y-%m-%d") if media.start_time else "undated"
    stem = posixpath.splitext(posixpath.basename(media.source.origin_uri.rstrip("/").split("!")[-1]))[0]
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "input"
    return storage.join(root, "anonymized", re.sub(r"[^A-Za-z0-9._-]+", "_", camera), day,
                        f"{safe_stem}-{media.media_id[:8]}.mp4")


class JoinSegments(beam.PTransform):
    """Join each input's encoded segments into one output video, written atomically; emit its table rows.

    Main output: media rows. Tagged outputs: face_tracks rows, and quarantine records for inputs
    any of whose segments failed (nothing of them is written out).
    """

    def __init__(self, output_root: str, mode: str, settings_hash: str, keep_audio: bool):
        super().__init__()
        self._fn = _JoinFn(output_root, mode, settings_hash, keep_audio)

    def expand(self, inputs):
        plans, parts = inputs
        keyed_plans = plans | "Key Plans" >> beam.Map(lambda p: (p.media.media_id, p))
        keyed_parts = parts | "Key Parts" >> beam.Map(lambda p: (p.segment.media.media_id, p))
        grouped = {"plan": keyed_plans, "parts": keyed_parts} | "Gather Parts" >> beam.CoGroupByKey()
        return guarded_pardo(grouped, "Join And Publish", self._fn, "media", TRACKS)
