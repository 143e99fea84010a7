"""The leak audit: Haar cascades look again where faces were redacted (a run it fails is in
tests/pipelines/test_leak_audit.py)."""

import av
import numpy as np
import pytest
from skimage import data

from schemas.codes import RedactionMode
from transforms.logic.audit import AuditConfig, HaarAuditor, over_regions, sampled
from transforms.logic.geometry import pad_box
from transforms.logic.masks import redact

FACE = (174, 68, 104, 104)


@pytest.fixture(scope="module")
def astronaut_yuv():
    rgb = np.ascontiguousarray(data.astronaut()[:, :, :3])
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


def test_the_auditor_finds_a_face_left_in_the_clear_on_its_region(astronaut_yuv):
    region = (pad_box(FACE, 0.3, 0.4),)
    assert over_regions(HaarAuditor(AuditConfig()).find_around(astronaut_yuv[:512], region), region)


@pytest.mark.parametrize("mode", [RedactionMode.BLUR, RedactionMode.PIXELATE, RedactionMode.MASK])
def test_the_auditor_finds_nothing_on_a_redacted_face(astronaut_yuv, mode):
    region = (pad_box(FACE, 0.3, 0.4),)
    out = redact(astronaut_yuv, 512, 512, region, mode)
    assert over_regions(HaarAuditor(AuditConfig()).find_around(out[:512], region), region) == []


def test_a_detection_elsewhere_is_not_over_a_region():
    assert over_regions([(0.0, 0.0, 10.0, 10.0)], ((100.0, 100.0, 20.0, 20.0),)) == []


def test_sampling_is_stable_and_close_to_the_rate():
    picks = [sampled("m", f, 0.1) for f in range(5000)]
    assert picks == [sampled("m", f, 0.1) for f in range(5000)]
    assert 400 < sum(picks) < 600
    assert all(sampled("m", f, 1.0) for f in range(100)) and not any(sampled("m", f, 0.0) for f in range(100))
