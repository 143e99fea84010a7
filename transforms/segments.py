"""Probe inputs, split them into independently decodable segments, and decode a segment's frames."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from fractions import Fraction

import apache_beam as beam
import av
import cv2
import numpy as np
from apache_beam.io.filesystems import FileSystems

from schemas.codes import QuarantineReason
from schemas.elements import InputRefused, MediaInfo, MediaSource, QuarantineRecord, Segment, StreamInfo
from transforms import storage
from transforms.quarantine import QUARANTINE, guarded_pardo
from transforms.redistribute import Redistribute


@dataclasses.dataclass(frozen=True)
class _Probe:
    stream: StreamInfo
    pts: list[int] | None
    keyframes: list[int]


def probe(source: MediaSource, image_fps: Fraction) -> _Probe:
    """Frame count, rate, size and keyframe positions of an input, from its container alone (no decoding)."""
    if source.kind == "frames":
        return _probe_frames(source, image_fps)
    with open_container(source.uri) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        if context is None or context.codec is None or not context.codec.is_decoder:
            tag = getattr(stream, "codec_tag", "") or "unknown"
            raise InputRefused(
                QuarantineReason.UNSUPPORTED_CODEC, f"no decoder for this video stream (codec tag {tag!r})"
            )
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise InputRefused(QuarantineReason.CORRUPT_MEDIA, "video stream declares no frame rate")
        packets: list[tuple[int | None, bool]] = []
        try:
            for packet in container.demux(stream):
                if packet.size:
                    packets.append((packet.pts, packet.is_keyframe))
        except av.error.FFmpegError as err:
            raise InputRefused(
                QuarantineReason.TRUNCATED_MEDIA, f"container breaks off after {len(packets)} frames: {err}"
            ) from err
        if not packets:
            raise InputRefused(QuarantineReason.CORRUPT_MEDIA, "video stream holds no frames")
        if stream.frames and stream.frames > len(packets):
            raise InputRefused(
                QuarantineReason.TRUNCATED_MEDIA, f"container declares {stream.frames} frames but holds {len(packets)}"
            )
        info = StreamInfo(
            frames=len(packets),
            fps=Fraction(rate),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            has_audio=bool(container.streams.audio),
        )
        if info.width <= 0 or info.height <= 0:
            raise InputRefused(QuarantineReason.CORRUPT_MEDIA, "video stream declares no frame size")
        if any(pts is None for pts, _ in packets):
            return _Probe(info, None, [0])
        order = sorted(packets)
        return _Probe(info, [pts for pts, _ in order], [i for i, (_, key) in enumerate(order) if key] or [0])


def _probe_frames(source: MediaSource, image_fps: Fraction) -> _Probe:
    first = read_image(source.frame_uris[0])
    height, width = first.shape[:2]
    info = StreamInfo(frames=len(source.frame_uris), fps=image_fps, width=width, height=height, has_audio=False)
    return _Probe(info, None, list(range(len(source.frame_uris))))


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


def split(media: MediaInfo, image_fps: Fraction, target: int) -> list[Segment]:
    """The segments of an input, in order."""
    found = probe(media.source, image_fps)
    ranges = plan_segments(found.keyframes, found.stream.frames, target)
    segments = []
    for index, (start, end) in enumerate(ranges):
        segments.append(
            Segment(
                media=media,
                stream=found.stream,
                index=index,
                count=len(ranges),
                start_frame=start,
                end_frame=end,
                start_pts=found.pts[start] if found.pts else None,
                end_pts=found.pts[end] if found.pts and end < len(found.pts) else None,
            )
        )
    return segments


def decode(segment: Segment) -> Iterator[tuple[int, av.VideoFrame]]:
    """Every frame of a segment with its index in the input, decoded once, in order.

    Raises InputRefused when the segment yields fewer frames than its range holds (truncated or corrupt
    data), so a partly readable input is never written out as if whole.
    """
    produced = 0
    frames = _decode_frames(segment) if segment.media.source.kind == "frames" else _decode_video(segment)
    for frame in frames:
        if frame.width != segment.stream.width or frame.height != segment.stream.height:
            raise InputRefused(
                QuarantineReason.CORRUPT_MEDIA,
                f"frame {segment.start_frame + produced} is {frame.width}x{frame.height}, "
                f"stream is {segment.stream.width}x{segment.stream.height}",
            )
        yield segment.start_frame + produced, frame
        produced += 1
        if segment.start_frame + produced == segment.end_frame:
            return
    raise InputRefused(
        QuarantineReason.TRUNCATED_MEDIA,
        f"frames {segment.start_frame + produced}..{segment.end_frame - 1} could not be decoded",
    )


def _decode_video(segment: Segment) -> Iterator[av.VideoFrame]:
    with open_container(segment.media.source.uri) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if segment.start_pts is not None and segment.index > 0:
            container.seek(segment.start_pts, stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                if segment.start_pts is not None and frame.pts is not None:
                    if frame.pts < segment.start_pts:
                        continue
                    if segment.end_pts is not None and frame.pts >= segment.end_pts:
                        return
                yield frame
        except av.error.FFmpegError as err:
            raise InputRefused(QuarantineReason.CORRUPT_MEDIA, f"decoding failed: {err}") from err


def _decode_frames(segment: Segment) -> Iterator[av.VideoFrame]:
    for uri in segment.media.source.frame_uris[segment.start_frame : segment.end_frame]:
        yield av.VideoFrame.from_ndarray(read_image(uri), format="rgb24")


def read_image(uri: str) -> np.ndarray:
    """An RGB still frame from any filesystem."""
    try:
        with FileSystems.open(uri) as handle:
            data = handle.read()
    except OSError as err:
        raise InputRefused(QuarantineReason.UNREADABLE_FRAMES, f"cannot read frame {uri}: {err}") from err
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InputRefused(QuarantineReason.UNREADABLE_FRAMES, f"frame {uri} is not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextlib.contextmanager
def open_container(uri: str) -> Iterator[av.container.InputContainer]:
    """An input container with a video stream, opened from any filesystem; unreadable input raises InputRefused."""
    handle = None if storage.is_local(uri) else FileSystems.open(uri)
    try:
        try:
            container = av.open(handle or storage.local_path(uri), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as err:
            raise InputRefused(QuarantineReason.CORRUPT_MEDIA, f"not a readable video container: {err}") from err
        try:
            if not container.streams.video:
                raise InputRefused(QuarantineReason.CORRUPT_MEDIA, "container holds no video stream")
            yield container
        finally:
            container.close()
    finally:
        if handle is not None:
            handle.close()


def container_start_time(uri: str) -> str | None:
    """The recording time a container declares in its tags, if any."""
    try:
        with open_container(uri) as container:
            tags = {**container.metadata, **container.streams.video[0].metadata}
    except InputRefused:
        return None
    return tags.get("creation_time")


class SplitFn(beam.DoFn):
    def __init__(self, image_fps: Fraction, segment_frames: int):
        self._image_fps = image_fps
        self._segment_frames = segment_frames
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
        yield from segments


class SplitSegments(beam.PTransform):
    """Split each input into GOP-aligned segments; unreadable inputs go to the quarantine output.

    Segments are redistributed so that the segments of one long video spread over workers.
    """

    def __init__(self, image_fps: Fraction, segment_frames: int):
        super().__init__()
        if segment_frames < 1:
            raise ValueError("segment_frames must be >= 1")
        if image_fps <= 0:
            raise ValueError("image_fps must be > 0")
        self._image_fps = image_fps
        self._segment_frames = segment_frames

    def expand(self, media):
        results = guarded_pardo(media, "Probe And Split", SplitFn(self._image_fps, self._segment_frames), "segments")
        segments = results["segments"] | "Spread Segments" >> Redistribute()
        return {"segments": segments, QUARANTINE: results[QUARANTINE]}
