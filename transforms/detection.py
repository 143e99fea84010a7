"""Face detection behind a Beam ModelHandler: fast face and head cues on scanned frames, CenterFace where they changed.

The design follows bench/frontier.md (recall against CPU time of every detector that ships its weights):
- BlazeFace (MediaPipe's back-camera model) on the letterboxed frame found every annotated face, small ones too, at
  about 6 ms a frame, a tenth of CenterFace's cost;
- MediaPipe's pose detector finds people whose face no face detector sees (turned away, looking up or down); their
  head, placed from its keypoints, is redacted where no face was found in it;
- CenterFace at the frame's own size is the second opinion, for faces BlazeFace misses on footage not measured yet,
  but costs most: it runs on tiles whose picture changed since their last scan (a static camera's still parts cannot
  hold a face that was not there);
- frames are scanned one in ``every``: tracks cover the frames between and before and after, as every detection
  is known before any frame is redacted.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import cv2
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils import shared

from schemas.codes import QuarantineReason
from schemas.elements import Detection, Failure, InputRefused, Segment, SegmentDetections
from transforms.detectors import BlazeFaceBack, CenterFace, Found, PoseHeads
from transforms.logic.geometry import merge_overlapping, tiles, without_faces
from transforms.logic.tiling import ChangeGate, GateConfig, cell_means
from transforms.segments import decode

CUE_SIDE = 768
"""Largest frame side BlazeFace and the pose detector see whole (they shrink it to 256 and 224 px, and were measured
on frames up to 768 px): larger frames are cut into tiles of this side, so faces and people reach them at the scale
measured."""
CUE_OVERLAP = 0.25


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """How often and how hard Veil looks for faces: recall first, since a missed face is a leak.

    every: one frame in ``every`` is scanned (index 0, every, 2 every, ... of the input); tracks cover the others.
    face_threshold: BlazeFace detections scoring at least this count as faces (0.5 chosen on the tune clips: at
        0.3 its false faces were a third of the area redacted needlessly, and CenterFace and the tracks covered
        every face it scores between 0.3 and 0.5; confirmed on the confirm clips by `make eval`).
    head_threshold: people the pose detector finds scoring at least this have their head redacted as a face.
    centerface_threshold: CenterFace detections scoring at least this count as faces (0 turns CenterFace off).
    tile_size, tile_overlap: CenterFace's tiles, in the frame's own pixels.
    gate: which CenterFace tiles are rescanned on a scanned frame (those that changed, see transforms.logic.tiling).
    threads: threads each model may use in a worker (the machine's cores shared among its worker processes).
    """

    every: int = 2
    face_threshold: float = 0.5
    head_threshold: float = 0.3
    centerface_threshold: float = 0.2
    tile_size: int = 256
    tile_overlap: float = 0.25
    gate: GateConfig = GateConfig()
    merge_iou: float = 0.3
    threads: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1 (scan one frame in every), got {self.every}")
        for name in ("face_threshold", "head_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not 0 <= self.centerface_threshold < 1:
            raise ValueError(f"centerface_threshold must be in [0, 1) (0: off), got {self.centerface_threshold}")
        if self.tile_size < 64 or not 0 <= self.tile_overlap < 1 or self.threads < 1:
            raise ValueError("tile_size must be >= 64, tile_overlap in [0, 1) and threads >= 1")

    def scanned(self, index: int) -> bool:
        """Whether frame ``index`` of an input is scanned: the same frames whatever the segments."""
        return index % self.every == 0

    def rects(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """CenterFace's tiles of a frame of this size, in its pixels (none when CenterFace is off)."""
        if not self.centerface_threshold:
            return []
        return tiles(width, height, self.tile_size, self.tile_overlap)


def cue_rects(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where BlazeFace and the pose detector look in a frame of this size: the whole frame, or tiles of CUE_SIDE."""
    if max(width, height) <= CUE_SIDE:
        return [(0, 0, width, height)]
    return tiles(width, height, CUE_SIDE, CUE_OVERLAP)


Scan = tuple[np.ndarray, Sequence[tuple[int, int, int, int]]]
"""Detector input: an RGB frame, and the CenterFace tiles of it to scan."""
Cues = tuple[Found, Found, list[Found]]
"""Detector output: BlazeFace's faces and the pose detector's heads in the frame, and CenterFace's faces per scanned
tile, all in the frame's pixels."""


class FaceDetector:
    """The three models of a worker, safe across its threads: BlazeFace, the pose detector's heads, CenterFace."""

    def __init__(self, config: DetectorConfig):
        self._config = config
        self._lock = threading.Lock()
        self._faces = BlazeFaceBack(config.threads)
        self._heads = PoseHeads(config.threads)
        self._centerface = CenterFace(config.threads) if config.centerface_threshold else None

    def detect(self, rgb: np.ndarray, rects: Sequence[tuple[int, int, int, int]]) -> Cues:
        """Faces and heads in the frame, and CenterFace's faces in each given tile, in the frame's pixels."""
        height, width = rgb.shape[:2]
        faces: Found = []
        heads: Found = []
        with self._lock:
            for x, y, w, h in cue_rects(width, height):
                crop = rgb[y:y + h, x:x + w]
                faces += _shifted(self._faces.detect(crop, self._config.face_threshold), x, y)
                heads += _shifted(self._heads.detect(crop, self._config.head_threshold), x, y)
            per_tile = [_shifted(self._centerface.detect(rgb[y:y + h, x:x + w], self._config.centerface_threshold),
                                 x, y) for x, y, w, h in rects] if self._centerface else []
        return faces, heads, per_tile


def _shifted(found: Found, x: int, y: int) -> Found:
    return [((bx + x, by + y, bw, bh), score) for (bx, by, bw, bh), score in found]


class FaceModelHandler(ModelHandler[Scan, PredictionResult, FaceDetector]):
    """ModelHandler for Veil's face detection: a Scan in, its Cues as the inference."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self._config = config

    def load_model(self) -> FaceDetector:
        return FaceDetector(self._config)

    def run_inference(self, batch: Sequence[Scan], model: FaceDetector,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        # The frame is not echoed back in the result: results stay small and frames never leave the worker.
        return [PredictionResult(frame.shape, model.detect(frame, rects)) for frame, rects in batch]

    def get_num_bytes(self, batch: Sequence[Scan]) -> int:
        return sum(frame.nbytes for frame, _ in batch)

    def share_model_across_processes(self) -> bool:
        return False


@dataclasses.dataclass
class ScanCounts:
    """What scanning a segment did, for the job's counters."""

    frames: int = 0
    scanned: int = 0
    tiles: int = 0


def scan(frames: Iterable[tuple[int, np.ndarray]], infer, config: DetectorConfig, width: int, height: int,
         counts: ScanCounts) -> Iterator[Detection]:
    """The faces in a run of RGB frames (index, frame), scanning the frames ``config`` picks.

    ``infer`` runs the detector on a Scan and returns its Cues. CenterFace's tiles are gated per run of frames:
    a tile is rescanned once its picture changed, otherwise what its last scan found is carried.
    """
    rects = config.rects(width, height)
    gate = ChangeGate(rects, config.gate)
    for index, rgb in frames:
        counts.frames += 1
        if not config.scanned(index):
            continue
        due: list[int] = []
        if rects:
            cells = cell_means(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
            due = gate.due(cells)
        found, heads, per_tile = infer((rgb, [rects[i] for i in due]))
        for i, tile_found in zip(due, per_tile):
            gate.record(i, tile_found, cells)
        found += [d for t in per_tile for d in t] + gate.carried(set(due))
        faces = merge_overlapping(found + without_faces(heads, found), config.merge_iou)
        counts.scanned += 1
        counts.tiles += len(due)
        yield from (Detection(index, box, score) for box, score in faces)


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

    def _infer(self, item: Scan) -> Cues:
        (result,) = self._handler.run_inference([item], self._model)
        return result.inference

    def process(self, segment: Segment):
        config, counts = self._config, ScanCounts()
        # Only scanned frames are converted to RGB; the others are decoded (the codec needs them) and passed over.
        frames = ((index, frame.to_ndarray(format="rgb24") if config.scanned(index) else None)
                  for index, frame in decode(segment))
        try:
            found = tuple(scan(frames, self._infer, config, segment.stream.width, segment.stream.height, counts))
        except InputRefused as err:
            yield SegmentDetections(segment, (), Failure(err.reason, str(err)))
            return
        except Exception as err:  # noqa: BLE001 - fail closed: a detector error quarantines the input, never skips faces
            yield SegmentDetections(segment, (), Failure(QuarantineReason.PROCESSING_ERROR,
                                                         f"face detection failed: {type(err).__name__}: {err}"))
            return
        self._frames.inc(counts.scanned)
        self._tiles.inc(counts.tiles)
        self._faces.inc(len(found))
        yield SegmentDetections(segment, found)


class DetectFaces(beam.PTransform):
    """Decode each segment once and detect faces in its scanned frames; the models are loaded once per worker.

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
