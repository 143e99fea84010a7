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
from schemas.elements import EncodedSegment, Failure, MediaPlan, QuarantineRecord
from transforms import layout, storage
from transforms.keystore import KeyStore, open_keystore
from transforms.logic.masks import pixel_format
from transforms.logic.sealing import open_sealed, seal_file
from transforms.quarantine import QUARANTINE, guarded_pardo
from transforms.segments import open_container

TRACKS = "face_tracks"
RESTRICTED = "restricted"


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """libx264 settings: constant rate factor and speed preset."""

    crf: int = 23
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if self.preset not in (
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
        ):
            raise ValueError(f"unknown x264 preset {self.preset!r}")


class SegmentEncoder:
    """Writes frames (planar YUV arrays) to a local H.264 MP4 file with no source metadata."""

    def __init__(self, path: str, width: int, height: int, fps: Fraction, config: EncoderConfig):
        self.path = path
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


class JoinFn(beam.DoFn):
    def __init__(self, output_root: str, mode: str, settings_hash: str, keep_audio: bool, keystore: str):
        self._output_root = output_root
        self._mode = mode
        self._settings_hash = settings_hash
        self._keep_audio = keep_audio
        self._keystore_uri = keystore
        self._keystore: KeyStore | None = None
        self._written = beam.metrics.Metrics.counter("veil", "media_anonymized")
        self._sealed = beam.metrics.Metrics.counter("veil", "restricted_copies")

    def setup(self) -> None:
        self._keystore = open_keystore(self._keystore_uri)

    def process(self, keyed):
        _, grouped = keyed
        (plan,) = grouped["plan"]
        media = plan.media
        copies: dict[str | None, list[EncodedSegment]] = {None: [], **{a: [] for a in plan.restricted}}
        failure = plan.tracks.failure
        for part in sorted(grouped["parts"], key=lambda p: p.segment.index):
            failure = failure or part.failure
            copies.setdefault(part.account_id, []).append(part)
        expected = len(plan.tracks.segments)
        if failure is None and any(len(parts) != expected for parts in copies.values()):
            counts = ", ".join(f"{len(parts)} of {expected}" for parts in copies.values())
            failure = Failure(QuarantineReason.PROCESSING_ERROR, f"segments encoded per copy: {counts}")
        if failure is not None:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                QuarantineRecord(
                    media.source.origin_uri,
                    failure.reason,
                    failure.message,
                    media.media_id,
                    media.source.single_file,
                    media.camera_id,
                ),
            )
            return
        kept = [(t, d) for t, d in zip(plan.tracks.tracks, plan.decisions) if d.action is Action.KEEP]
        # Restricted copies first: an input only counts as done once its public copy exists.
        for account in plan.restricted:
            uri, key_id, frames = self._publish_restricted(plan, account, copies[account])
            self._sealed.inc()
            yield beam.pvalue.TaggedOutput(
                RESTRICTED,
                tables.restricted_row(
                    media.media_id,
                    media.camera_id,
                    account,
                    key_id,
                    uri,
                    frames,
                    sum(d.account_id == account for _, d in kept),
                ),
            )
        uri, frames_out = self._publish_public(plan, [p.uri for p in copies[None] if p.uri])
        self._written.inc()
        yield tables.media_row(
            plan,
            uri,
            frames_out,
            MediaStatus.ANONYMIZED.value,
            self._mode,
            self._settings_hash,
            sum(len(b) for b in plan.regions.values()),
            sum(d.action is Action.REDACT for d in plan.decisions),
            len(kept),
        )
        for track, decision in zip(plan.tracks.tracks, plan.decisions):
            yield beam.pvalue.TaggedOutput(TRACKS, tables.face_track_row(media.media_id, track, decision))

    def _publish_public(self, plan: MediaPlan, parts: list[str]) -> tuple[str, int]:
        if not parts:
            return "", 0
        uri = output_uri(self._output_root, plan)
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
            local_parts = [stack.enter_context(storage.local_copy(p)) for p in parts]
            joined = os.path.join(workdir, "joined.mp4")
            audio = plan.media.source.uri if self._keep_audio and plan.tracks.stream.has_audio else None
            frames = join_segments(local_parts, joined, plan.tracks.stream.fps, audio)
            storage.publish_file(joined, uri)
        return uri, frames

    def _publish_restricted(self, plan: MediaPlan, account: str, parts: list[EncodedSegment]) -> tuple[str, str, int]:
        """Open an account's sealed parts on local disk only, join them, and seal the result with the same key."""
        key_id, key = self._keystore.key_for(account)
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
            local_parts = []
            for n, part in enumerate(p for p in parts if p.uri):
                opened = os.path.join(workdir, f"{n:06d}.mp4")
                open_sealed(stack.enter_context(storage.local_copy(part.uri)), opened, self._keystore.lookup)
                local_parts.append(opened)
            if not local_parts:
                raise ValueError(f"the restricted copy of {plan.media.media_id} has no frames")
            joined, sealed = os.path.join(workdir, "joined.mp4"), os.path.join(workdir, "joined.sealed")
            frames = join_segments(local_parts, joined, plan.tracks.stream.fps, None)
            seal_file(joined, sealed, key, key_id)
            uri = output_uri(self._output_root, plan, layout.RESTRICTED, f".{key_id}.mp4.sealed")
            storage.publish_file(sealed, uri)
        return uri, key_id, frames


def output_uri(root: str, plan: MediaPlan, folder: str = layout.ANONYMIZED, suffix: str = ".mp4") -> str:
    """OUT/<folder>/<camera_id>/<yyyy-mm-dd>/<name>-<id><suffix> for an input."""
    media = plan.media
    camera = media.camera_id or "unknown-camera"
    day = media.start_time.strftime("%Y-%m-%d") if media.start_time else "undated"
    stem = posixpath.splitext(posixpath.basename(media.source.origin_uri.rstrip("/").split("!")[-1]))[0]
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "input"
    return storage.join(
        layout.media_folder(root, folder),
        re.sub(r"[^A-Za-z0-9._-]+", "_", camera),
        day,
        f"{safe_stem}-{media.media_id[:8]}{suffix}",
    )


class JoinSegments(beam.PTransform):
    """Join each input's encoded segments into one output video, written atomically; emit its table rows.

    Main output: media rows. Tagged outputs: face_tracks rows, restricted rows (one per account's
    sealed copy under OUT/restricted/), and quarantine records for inputs any of whose segments
    failed (nothing of them is written out).
    """

    def __init__(self, output_root: str, mode: str, settings_hash: str, keep_audio: bool, keystore: str):
        super().__init__()
        self._fn = JoinFn(output_root, mode, settings_hash, keep_audio, keystore)

    def expand(self, inputs):
        plans, parts = inputs
        keyed_plans = plans | "Key Plans" >> beam.Map(lambda p: (p.media.media_id, p))
        keyed_parts = parts | "Key Parts" >> beam.Map(lambda p: (p.segment.media.media_id, p))
        grouped = {"plan": keyed_plans, "parts": keyed_parts} | "Gather Parts" >> beam.CoGroupByKey()
        return guarded_pardo(grouped, "Join And Publish", self._fn, "media", TRACKS, RESTRICTED)
