"""Each candidate detector on real and flat frames; the anchors of MediaPipe's SSD models against their output rows."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from transforms.logic.geometry import centre, iou, pad_head
from transforms.logic.tracking import TrackerConfig
from transforms.services import detectors

WALKING = "face-demographics-walking-and-pause.gif"


@pytest.mark.parametrize("cls", [detectors.BlazeFaceBack, detectors.PoseHeads])
def test_anchors_match_the_models_output_rows(cls):
    det = cls(threads=1)
    rows = det._interpreter.get_output_details()[0]["shape"][1]
    assert len(det._centres) == rows


def test_head_box_is_centred_above_the_detector_box_and_sized_by_the_upper_body():
    corners = np.array([[100.0, 100.0, 140.0, 140.0]])
    points = np.array([[[0.0, 0.0], [0.0, 0.0], [120.0, 160.0], [120.0, 60.0]]])
    np.testing.assert_allclose(detectors.head_boxes(corners, points, 0.1, 0.3), [[90.0, 80.0, 150.0, 140.0]])


def _walking_frames(footage, indices):
    path = footage(WALKING)
    if path is None:
        pytest.skip("shared footage not present")
    with open(f"{path}.groundtruth.json") as handle:
        truth = json.load(handle)
    frames = {}
    with av.open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in indices:
                frames[index] = frame.to_ndarray(format="rgb24")
    return [(frames[i], [f["box"] for f in truth["frames"][str(i)]]) for i in indices]


def _finds(box, face) -> bool:
    def holds(outer, inner):
        cx, cy = centre(inner)
        return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]

    return iou(box, face) >= 0.3 or holds(box, face) or holds(face, box)


def _contains(outer, inner) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and outer[0] + outer[2] >= inner[0] + inner[2]
        and outer[1] + outer[3] >= inner[1] + inner[3]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, threshold", [("centerface", 0.3), ("retinaface", 0.3), ("yunet", 0.3), ("blazeface", 0.3)]
)
def test_face_detector_finds_every_frontal_face_and_nothing_on_grey(name, threshold, footage):
    ((rgb, faces),) = _walking_frames(footage, [0])
    det = detectors.DETECTORS[name](threads=1)
    found = [box for box, _ in det.detect(rgb, threshold)]
    assert all(any(_finds(box, face) for box in found) for face in faces)
    assert len(found) == len(faces)
    assert det.detect(np.full_like(rgb, 128), threshold) == []


@pytest.mark.slow
def test_pose_head_boxes_padded_as_faces_are_contain_the_faces_they_find_and_nothing_on_grey(footage):
    det = detectors.PoseHeads(threads=1)
    pad = TrackerConfig()
    contained = 0
    for rgb, faces in _walking_frames(footage, [0, 10, 20, 30]):
        heads = [pad_head(box, pad.pad_x, pad.pad_y) for box, _ in det.detect(rgb, 0.3)]
        for face in faces:
            matched = [h for h in heads if _finds(h, face)]
            assert all(_contains(h, face) for h in matched)
            contained += bool(matched)
        assert det.detect(np.full_like(rgb, 128), 0.1) == []
    assert contained >= 8  # of 12 faces: at 0.3 the pose detector misses some people, the face detectors do not


def test_missing_package_names_the_pip_command():
    with pytest.raises(ValueError, match="pip install nothing-here"):
        detectors.package_file("no_such_package_here", "model.bin", "pip install nothing-here")
