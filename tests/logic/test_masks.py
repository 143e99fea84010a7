"""Redaction destroys a face's detail (by the leak measure), in every mode and plane layout."""

import cv2
import numpy as np
import pytest
from skimage import data

from schemas.codes import RedactionMode
from tests.leakmeasure import LEAK_THRESHOLD, retained_detail
from transforms.logic.geometry import pad_box
from transforms.logic.masks import MASK_VALUES, pixel_format, plane_views, redact

FACE = (174, 68, 104, 104)
"""The astronaut's face in skimage's bundled photo."""


def _yuv(rgb: np.ndarray, fmt: str) -> np.ndarray:
    import av

    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt).to_ndarray()


def _luma(planes: np.ndarray, width: int, height: int) -> np.ndarray:
    return plane_views(planes, width, height)[0][0]


@pytest.fixture(scope="module")
def astronaut():
    return np.ascontiguousarray(data.astronaut()[:, :, :3])


@pytest.mark.parametrize("mode", [RedactionMode.BLUR, RedactionMode.PIXELATE, RedactionMode.MASK])
@pytest.mark.parametrize("scale", [1.0, 0.29, 0.2, 0.15])
def test_redacted_face_keeps_no_fine_detail(astronaut, mode, scale):
    image = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale != 1 else astronaut
    image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
    height, width = image.shape[:2]
    box = tuple(v * scale for v in FACE)
    planes = _yuv(image, "yuv420p")
    out = redact(planes, width, height, (box,), mode)
    assert retained_detail(_luma(planes, width, height), _luma(out, width, height), box) < 0.05


@pytest.mark.parametrize("offset", range(6))
def test_pixelated_small_face_keeps_no_detail_wherever_the_blocks_fall(offset):
    camera = np.ascontiguousarray(np.stack([data.camera()] * 3, axis=-1))
    small = cv2.resize(camera, None, fx=0.29, fy=0.29, interpolation=cv2.INTER_AREA)[:148, :148]
    box = (200 * 0.29 + offset, 123 * 0.29 + offset, 76 * 0.29, 76 * 0.29)
    planes = _yuv(small, "yuv420p")
    out = redact(planes, 148, 148, (pad_box(box, 0.3, 0.4),), RedactionMode.PIXELATE)
    assert retained_detail(_luma(planes, 148, 148), _luma(out, 148, 148), box) < 0.1


def test_light_blur_counts_as_a_leak_so_the_measure_can_fail(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    light = cv2.GaussianBlur(gray, (5, 5), 0)
    assert retained_detail(gray, light, FACE) >= LEAK_THRESHOLD
    assert retained_detail(gray, gray, FACE) > 0.95


def test_redaction_leaves_pixels_outside_the_box_untouched(astronaut):
    height, width = astronaut.shape[:2]
    planes = _yuv(astronaut, "yuv420p")
    out = redact(planes, width, height, ((100, 100, 40, 40),), RedactionMode.BLUR)
    y_in, y_out = _luma(planes, width, height), _luma(out, width, height)
    outside = np.ones_like(y_in, dtype=bool)
    outside[100:140, 100:140] = False
    assert np.array_equal(y_in[outside], y_out[outside])
    assert not np.array_equal(y_in[100:140, 100:140], y_out[100:140, 100:140])


def test_redact_returns_a_copy_and_leaves_the_input_frame_alone(astronaut):
    height, width = astronaut.shape[:2]
    planes = _yuv(astronaut, "yuv420p")
    before = planes.copy()
    redact(planes, width, height, (FACE,), RedactionMode.PIXELATE)
    assert np.array_equal(planes, before)


def test_mask_fills_video_black_in_every_plane(astronaut):
    height, width = astronaut.shape[:2]
    out = redact(_yuv(astronaut, "yuv420p"), width, height, ((10, 20, 30, 40),), RedactionMode.MASK)
    (y, _), (u, _), (v, _) = plane_views(out, width, height)
    assert (y[20:60, 10:40] == MASK_VALUES[0]).all()
    assert (u[10:30, 5:20] == MASK_VALUES[1]).all() and (v[10:30, 5:20] == MASK_VALUES[2]).all()


def test_odd_sized_frames_use_full_chroma_and_are_redacted(astronaut):
    image = np.ascontiguousarray(astronaut[:271, :481])
    assert pixel_format(481, 271) == "yuv444p"
    planes = _yuv(image, "yuv444p")
    out = redact(planes, 481, 271, (FACE,), RedactionMode.BLUR)
    assert retained_detail(planes[0], out[0], FACE) < 0.05


def test_box_partly_outside_the_frame_is_clipped(astronaut):
    height, width = astronaut.shape[:2]
    out = redact(
        _yuv(astronaut, "yuv420p"), width, height, ((-20, -20, 60, 60), (500, 500, 50, 50)), RedactionMode.MASK
    )
    y = _luma(out, width, height)
    assert (y[:40, :40] == MASK_VALUES[0]).all()
    assert (y[500:, 500:] == MASK_VALUES[0]).all()


def test_drop_frame_has_no_region_redaction(astronaut):
    with pytest.raises(ValueError, match="drop-frame"):
        redact(_yuv(astronaut, "yuv420p"), 512, 512, (FACE,), RedactionMode.DROP_FRAME)
