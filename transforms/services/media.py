"""Media files on any Beam filesystem: probe a video or a folder of frames, split it into independently decodable
segments, decode a segment's frames (PyAV for containers, OpenCV for still frames), encode redacted segments to
H.264 and join them into one video."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2
import numpy as np
from apache_beam.io.filesystems import FileSystems

from schemas.codes import QuarantineReason
from schemas.elements import InputRefused, MediaInfo, MediaSource, Segment, StreamInfo
from schemas.options import X264_PRESETS, config_default
from transforms.logic.masks import pixel_format
from transforms.logic.segments import plan_segments
from transforms.services import storage


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


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """libx264 settings: constant rate factor and speed preset."""

    crf: int = config_default("encoder", "crf")
    preset: str = config_default("encoder", "preset")

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if self.preset not in X264_PRESETS:
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
