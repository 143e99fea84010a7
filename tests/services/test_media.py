"""Segments split at keyframes decode to exactly the full video, and encoded segments join back losslessly (where the
cuts go: tests/logic/test_segments.py)."""

import random
from fractions import Fraction

import av
import numpy as np
import pytest

from pipelines.sample import write_clip
from schemas.codes import IdentitySource
from schemas.elements import MediaInfo, MediaSource
from transforms.services.media import EncoderConfig, SegmentEncoder, decode, join_segments, split

FRAMES = 95


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
    frames = [np.roll(base, i * 3, axis=1) for i in range(FRAMES)]
    path = str(tmp_path_factory.mktemp("clip") / "clip.mp4")
    write_clip(frames, path, gop=10)
    return path


def _media(path):
    return MediaInfo(MediaSource(path, path, "video"), "m1", "sha", None, None, IdentitySource.UNKNOWN)


def _full_decode(path):
    with av.open(path) as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def test_segments_decoded_in_any_order_equal_the_full_decode(clip):
    segments = split(_media(clip), Fraction(10), target=20)
    assert [(s.start_frame, s.end_frame) for s in segments] == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 95)]
    decoded = {}
    for segment in random.Random(3).sample(segments, len(segments)):
        for index, frame in decode(segment):
            decoded[index] = frame.to_ndarray(format="yuv420p")
    full = _full_decode(clip)
    assert sorted(decoded) == list(range(FRAMES))
    assert all(np.array_equal(decoded[i], full[i]) for i in range(FRAMES))


def test_encoded_segments_join_into_one_video_with_every_frame_and_the_input_rate(clip, tmp_path):
    segments = split(_media(clip), Fraction(10), target=30)
    parts = []
    for segment in segments:
        path = str(tmp_path / f"part{segment.index}.mp4")
        encoder = SegmentEncoder(path, 96, 72, segment.stream.fps, EncoderConfig(preset="ultrafast"))
        for _, frame in decode(segment):
            encoder.write(frame)
        encoder.close()
        parts.append(path)
    joined = str(tmp_path / "joined.mp4")
    assert join_segments(parts, joined, Fraction(10), audio_from=None) == FRAMES
    with av.open(joined) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        assert (stream.average_rate, stream.width, stream.height) == (10, 96, 72)
        assert container.metadata.get("creation_time") is None
    assert len(pts) == FRAMES and pts == sorted(pts) and len(set(pts)) == FRAMES
