"""Where an input is cut into segments: every segment starts on a keyframe, near the target length."""

import pytest

from transforms.logic.segments import plan_segments


@pytest.mark.parametrize(
    "keyframes, frames, target, expected",
    [
        ([0, 10, 20, 30], 35, 20, [(0, 20), (20, 35)]),
        ([0, 10, 20, 30], 35, 1, [(0, 10), (10, 20), (20, 30), (30, 35)]),
        ([0, 10, 20, 30], 35, 100, [(0, 35)]),
        ([0], 7, 3, [(0, 7)]),
        ([5, 9], 12, 4, [(0, 5), (5, 9), (9, 12)]),
    ],
)
def test_plan_segments_starts_every_segment_on_a_keyframe(keyframes, frames, target, expected):
    assert plan_segments(keyframes, frames, target) == expected
