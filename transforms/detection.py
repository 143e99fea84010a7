"""Face detection: MediaPipe behind a Beam ModelHandler, run on every frame of a segment."""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, Iterable, Optional, Sequence

import apache_beam as beam
import cv2
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils import shared

from schemas.codes import QuarantineReason
from schemas.elements import Box, Detection, Failure, Segment, SegmentDetections
from transforms.logic.geometry import merge_overlapping, tiles
from transforms.segments import MediaError, decode


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """How hard the detector looks: recall first, since a missed face is a leak.

    min_confidence: detector score threshold.
    tile_scale: the frame is enlarged by this factor and scanned in square tiles of ``tile_size``
        pixels, so faces of 10-40 px reach a size the model sees (0 turns tiling off).
    tile_every: tiles are scanned on every n-th frame (the whole frame is scanned on every frame);
        tracks carry small faces across the frames in between.
    """

    min_confidence: float = 0.35
    tile_scale: float = 2.0
    tile_size: int = 256
    tile_overlap: float = 0.25
    tile_every: int = 1
    merge_iou: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.min_confidence < 1:
            raise ValueError(f"min_confidence must be in (0, 1), got {self.min_confidence}")
        if self.tile_scale < 0 or self.tile_size < 64 or self.tile_every < 1:
            raise ValueError("tile_scale must be >= 0, tile_size >= 64, tile_every >= 1")


class FaceDetector:
    """MediaPipe's full-range face detector on the frame and on enlarged tiles of it, safe across threads."""

    def __init__(self, config: DetectorConfig):
        import mediapipe as mp

        self._config = config
        self._lock = threading.Lock()
        # The full-range model finds small and distant faces best, on whole frames and on tiles alike.
        self._model = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=config.min_confidence)

    def detect(self, rgb: np.ndarray, with_tiles: bool) -> list[tuple[Box, float]]:
        """Faces in an RGB frame, boxes in that frame's pixels."""
        with self._lock:
            found = _run(self._model, rgb, 0, 0, 1.0)
            scale = self._config.tile_scale
            if with_tiles and scale > 0:
                height, width = rgb.shape[:2]
                big_w, big_h = round(width * scale), round(height * scale)
                big = cv2.resize(rgb, (big_w, big_h), interpolation=cv2.INTER_LINEAR) if scale != 1 else rgb
                for x, y, w, h in tiles(big_w, big_h, self._config.tile_size, self._config.tile_overlap):
                    found += _run(self._model, np.ascontiguousarray(big[y:y + h, x:x + w]), x, y, scale)
        return merge_overlapping(found, self._config.merge_iou)

    def close(self) -> None:
        self._model.close()


def _run(model, rgb: np.ndarray, off_x: int, off_y: int, scale: float) -> list[tuple[Box, float]]:
    result = model.process(rgb)
    if not result.detections:
        return []
    height, width = rgb.shape[:2]
    found = []
    for det in result.detections:
        rel = det.location_data.relative_bounding_box
        box = ((rel.xmin * width + off_x) / scale, (rel.ymin * height + off_y) / scale,
               rel.width * width / scale, rel.height * height / scale)
        found.append((box, float(det.score[0])))
    return found


class FaceModelHandler(ModelHandler[tuple[np.ndarray, bool], PredictionResult, FaceDetector]):
    """ModelHandler for MediaPipe face detection: input (RGB frame, scan tiles?), inference = [(box, score)]."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self._config = config

    def load_model(self) -> FaceDetector:
        return FaceDetector(self._config)

    def run_inference(self, batch: Sequence[tuple[np.ndarray, bool]], model: FaceDetector,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        # The frame is not echoed back in the result: results stay small and frames never leave the worker.
        return [PredictionResult(frame.shape, model.detect(frame, with_tiles)) for frame, with_tiles in batch]

    def get_num_bytes(self, batch: Sequence[tuple[np.ndarray, bool]]) -> int:
        return sum(frame.nbytes for frame, _ in batch)

    def share_model_across_processes(self) -> bool:
        return False


class _DetectSegmentFn(beam.DoFn):
    def __init__(self, handler: FaceModelHandler, config: DetectorConfig, shared_handle: shared.Shared):
        self._handler = handler
        self._config = config
        self._shared = shared_handle
        self._model: Optional[FaceDetector] = None
        self._frames = beam.metrics.Metrics.counter("veil", "frames_scanned")
        self._faces = beam.metrics.Metrics.counter("veil", "faces_detected")
        self._decode_ms = beam.metrics.Metrics.distribution("veil", "detect_segment_ms")

    def setup(self) -> None:
        self._model = self._shared.acquire(self._handler.load_model, tag=repr(self._config))

    def process(self, segment: Segment):
        found: list[Detection] = []
        try:
            for index, frame in decode(segment):
                rgb = frame.to_ndarray(format="rgb24")
                scan_tiles = (index - segment.start_frame) % self._config.tile_every == 0
                (result,) = self._handler.run_inference([(rgb, scan_tiles)], self._model)
                found.extend(Detection(index, box, score) for box, score in result.inference)
                self._frames.inc()
        except MediaError as err:
            yield SegmentDetections(segment, (), Failure(err.reason, str(err)))
            return
        except Exception as err:  # noqa: BLE001 - fail closed: a detector error quarantines the input, never skips faces
            yield SegmentDetections(segment, (), Failure(QuarantineReason.PROCESSING_ERROR,
                                                         f"face detection failed: {type(err).__name__}: {err}"))
            return
        self._faces.inc(len(found))
        yield SegmentDetections(segment, tuple(found))


class DetectFaces(beam.PTransform):
    """Decode each segment once and detect faces in every frame; the model is loaded once per worker.

    Emits one SegmentDetections per segment; a segment that cannot be decoded or scanned carries a
    Failure instead, so its whole input is quarantined downstream (fail closed).
    """

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self._config = config

    def expand(self, segments):
        handler = FaceModelHandler(self._config)
        return segments | "Detect In Segment" >> beam.ParDo(_DetectSegmentFn(handler, self._config, shared.Shared()))
