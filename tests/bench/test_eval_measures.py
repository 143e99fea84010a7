"""`make eval`'s own measures (bench/eval.py): scaled ground truth, the redacted area found in the pixels, the
over-redaction share, pooling, and its options."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location("bench_eval", Path(__file__).resolve().parents[2] / "bench" / "eval.py")
bench_eval = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("bench_eval", bench_eval)  # its dataclasses look their module up there
_SPEC.loader.exec_module(bench_eval)


def _truth(*faces: dict) -> dict:
    return {"clip": "c.gif", "frame_count": 1, "annotated_frames": [0], "frames": {"0": list(faces)}}


@pytest.mark.parametrize(
    "face, sx, sy, box, hard",
    [
        ({"box": [100, 50, 30, 40], "hard": False}, 0.7, 0.7, [70.0, 35.0, 21.0, 28.0], False),
        ({"box": [100, 50, 30, 28], "hard": False}, 0.7, 0.7, [70.0, 35.0, 21.0, 19.6], True),  # now under 20 px
        ({"box": [100, 50, 60, 90], "hard": True}, 0.5, 0.5, [50.0, 25.0, 30.0, 45.0], True),  # turned: stays hard
        ({"box": [10, 10, 20, 40], "hard": False}, 0.5, 0.5037, [5.0, 5.04, 10.0, 20.15], False),  # height factor apart
    ],
)
def test_scaled_ground_truth_scales_boxes_and_marks_faces_under_20_px_hard(face, sx, sy, box, hard):
    (scaled,) = bench_eval.scale_groundtruth(_truth(face), sx, sy)["frames"]["0"]
    assert scaled["box"] == box and scaled["hard"] is hard


def test_scaled_ground_truth_keeps_ids_ambiguity_and_empty_frames():
    truth = _truth({"box": [0, 0, 50, 50], "hard": True, "ambiguous": True, "id": "p1"})
    truth["frames"]["1"], truth["frame_count"], truth["annotated_frames"] = [], 2, [0, 1]
    scaled = bench_eval.scale_groundtruth(truth, 0.5, 0.5)
    assert scaled["frames"] == {
        "0": [{"box": [0.0, 0.0, 25.0, 25.0], "hard": True, "ambiguous": True, "id": "p1"}],
        "1": [],
    }
    assert scaled["annotated_frames"] == [0, 1] and scaled["frame_count"] == 2


def test_ground_truth_is_not_scaled_up():
    with pytest.raises(ValueError, match="only scales down"):
        bench_eval.scale_groundtruth(_truth(), 1.5, 1.5)


@pytest.mark.parametrize(
    "size, scale, expected",
    [
        ((480, 270), 0.5, (240, 136)),
        ((480, 270), 0.7, (336, 188)),
        ((768, 432), 0.7, (538, 302)),
        ((768, 432), 0.5, (384, 216)),
        ((480, 270), 1.0, (480, 270)),
        ((3, 3), 0.1, (2, 2)),
    ],
)
def test_scaled_sizes_are_even(size, scale, expected):
    assert bench_eval.scaled_size(*size, scale) == expected


def test_the_allowance_is_the_face_box_padded_by_half_its_size_on_every_side():
    allowed = bench_eval.face_allowance([{"box": [10, 10, 10, 10]}], 40, 40)
    expected = np.zeros((40, 40), bool)
    expected[5:25, 5:25] = True
    assert (allowed == expected).all()


def test_over_redaction_counts_redacted_pixels_outside_every_padded_face():
    redacted = np.ones((40, 40), bool)
    assert bench_eval.over_redacted_share(redacted, [{"box": [10, 10, 10, 10]}]) == 0.75
    assert bench_eval.over_redacted_share(redacted, []) == 1.0
    assert bench_eval.over_redacted_share(~redacted, [{"box": [10, 10, 10, 10]}]) == 0.0


def test_a_blurred_square_is_found_and_coding_noise_is_not():
    rng = np.random.default_rng(3)
    plain = rng.integers(40, 216, (96, 96)).astype(np.uint8)
    noisy = np.clip(plain.astype(int) + rng.integers(-3, 4, plain.shape), 0, 255).astype(np.uint8)
    redacted = noisy.copy()
    redacted[32:64, 32:64] = int(plain[32:64, 32:64].mean())
    assert not bench_eval.redacted_area(noisy, plain).any()
    found = bench_eval.redacted_area(redacted, plain)
    assert found[32:64, 32:64].all()
    near = np.zeros_like(found)
    near[32 - 8 : 64 + 8, 32 - 8 : 64 + 8] = True
    assert not (found & ~near).any()


def test_pooled_rows_sum_faces_and_average_over_redaction_over_measured_frames():
    rows = [
        {
            "errors": [],
            "frames": 10,
            "faces": 4,
            "leaked": 1,
            "faces_hard": 2,
            "leaked_hard": 1,
            "faces_not_hard": 2,
            "leaked_not_hard": 0,
            "veil_wall_s": 5.0,
            "plain_wall_s": 0.5,
            "over_redaction": 0.1,
            "redacted": 0.2,
            "measured_frames": 1,
        },
        {
            "errors": [],
            "frames": 30,
            "faces": 6,
            "leaked": 0,
            "faces_hard": 0,
            "leaked_hard": 0,
            "faces_not_hard": 6,
            "leaked_not_hard": 0,
            "veil_wall_s": 15.0,
            "plain_wall_s": 1.5,
            "over_redaction": 0.5,
            "redacted": 0.6,
            "measured_frames": 3,
        },
        {"errors": ["veil: exit 1"], "frames": 99},
    ]
    pooled = bench_eval.pool(rows, "pooled", startup_s=2.0)
    assert (pooled["faces"], pooled["leaked"], pooled["leak_rate"], pooled["frames"]) == (10, 1, 0.1, 40)
    assert pooled["over_redaction"] == pytest.approx(0.4) and pooled["failed"] == 1
    assert pooled["veil_fps"] == 2.0 and pooled["plain_fps"] == 20.0 and pooled["ratio"] == 0.1
    assert pooled["veil_fps_excl_startup"] == 40 / (20.0 - 2 * 2.0)


def test_options_split_the_veil_args_and_sort_the_scales():
    args = bench_eval.parse_args(["--scales", "0.5,1,0.7", "--veil-args=--detect-every 1", "--sets", "confirm"])
    assert args.scales == [1.0, 0.7, 0.5] and args.veil_args == ["--detect-every", "1"] and args.sets == ["confirm"]


@pytest.mark.parametrize(
    "argv",
    [["--scales", "1.5"], ["--scales", "0"], ["--scales", "x"], ["--sets", "train"], ["--veil-args", "'unclosed"]],
)
def test_bad_eval_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_eval.parse_args(argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err
