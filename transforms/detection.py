"""Face detection behind a Beam ModelHandler: fast face and head cues on scanned frames, CenterFace where they are weak.

The design follows bench/frontier.md (recall against CPU time of every detector that ships its weights) and the
per-stage costs of bench/stages.py:
- BlazeFace (MediaPipe's back-camera model) on the letterboxed frame, 7.7-9.4 ms a frame on one core: its detections
  scoring at least ``face_threshold`` are faces;
- its weaker candidates (``candidate_threshold`` up to ``face_threshold``) are where a face may be that it cannot
  tell: CenterFace, the strongest detector here but ten times BlazeFace's cost on a whole frame, looks at a square
  around each of them cut at the frame's own resolution, and what it finds there is a face. On the tune clips this
  found every face at every scale (BlazeFace at 0.5 alone missed 22 % at half size), at a fifth of the cost of
  CenterFace on the tiles that changed, which it replaces;
- MediaPipe's pose detector finds people whose face no face detector sees (turned away, looking up or down); their
  head, placed from its keypoints, is redacted where no face was found in it;
- frames are scanned one in ``every``, and the pose detector, the costliest model per frame, runs on one scanned
  frame in ``head_every``: tracks cover the frames between and before and after, as every detection is known before any
  frame is redacted.
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
from transforms.logic.geometry import contains_centre, merge_overlapping, square_around, tiles, without_faces
from transforms.logic.scanning import DetectorConfig
from transforms.services import progress
from transforms.services.detectors import BlazeFaceBack, CenterFace, Found, PoseHeads
from transforms.services.media import decode
from transforms.stage import Stage, Step

CUE_SIDE = 768
"""Largest frame side BlazeFace and the pose detector see whole (they shrink it to 256 and 224 px, and were measured
on frames up to 768 px): larger frames are cut into tiles of this side, so faces and people reach them at the scale
measured."""
CUE_OVERLAP = 0.25
CHECK_UNSURE_BELOW = 0.75
"""BlazeFace faces scoring under this are checked by CenterFace too, and what it finds is merged with them: an
unsure BlazeFace box can sit off the face (the sample's desk clip: a 0.52 box left the side of a face in the clear,
and the leak audit caught it)."""
CHECK_LEAST = 64
"""Smallest side of the square CenterFace checks a candidate in, in the frame's pixels."""
CHECK_GROW = 1.0
"""A candidate's square reaches this share of its longer side beyond it on every side: room for a face the
candidate box only partly holds, and context for CenterFace."""
CHECK_INPUT = 128
"""Every square is shown to CenterFace at this side, enlarged or shrunk: one network input size, as OpenCV keeps one
network per size at 25 MB (128 px) to 76 MB (512 px) each (seven sizes held 185 MB more per worker at 1080p).
Enlarging helps small faces: CenterFace missed a 6x8 px face in a 64-px square at its own size and found it at 0.6
enlarged 2x (classroom.gif at half size; on whole frames CenterFace at 2x found 92 % of hard faces against 83 %,
shared/notes/detector-facts.md)."""


def cue_rects(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Where BlazeFace and the pose detector look in a frame of this size: the whole frame, or tiles of CUE_SIDE."""
    if max(width, height) <= CUE_SIDE:
        return [(0, 0, width, height)]
    return tiles(width, height, CUE_SIDE, CUE_OVERLAP)


def check_rects(candidates: Found, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The squares CenterFace checks BlazeFace's weak candidates in, strongest first; a candidate whose centre lies
    in a square already chosen gets none of its own."""
    rects: list[tuple[int, int, int, int]] = []
    for box, _ in sorted(candidates, key=lambda c: -c[1]):
        if not any(contains_centre(rect, box) for rect in rects):
            rects.append(square_around(box, CHECK_GROW, CHECK_LEAST, width, height))
    return rects


Scan = tuple[np.ndarray, Found, bool]
"""Detector input: an RGB frame, the faces found on the scanned frame before it (CenterFace checks again where
one of them is not found now: a face does not vanish between two scans, its score drops), and whether to look for
heads too."""
Cues = tuple[Found, Found, int]
"""Detector output: faces (BlazeFace's, and CenterFace's in the squares of BlazeFace's weak candidates) and the pose
detector's heads, in the frame's pixels, and how many squares CenterFace checked."""


class FaceDetector:
    """The three models of a worker, safe across its threads: BlazeFace, the pose detector's heads, CenterFace."""

    def __init__(self, config: DetectorConfig):
        self._config = config
        self._lock = threading.Lock()
        self._faces = BlazeFaceBack(config.threads)
        self._heads = PoseHeads(config.threads)
        self._centerface = CenterFace(config.threads) if config.centerface_threshold else None

    def detect(self, rgb: np.ndarray, before: Found = (), with_heads: bool = True) -> Cues:
        """Faces and heads (none unless ``with_heads``) in the frame, in its pixels, and the number of squares
        CenterFace checked: around BlazeFace's weak candidates and unsure faces, and the faces ``before`` that are not
        found again."""
        config = self._config
        height, width = rgb.shape[:2]
        faces: Found = []
        weak: Found = []
        heads: Found = []
        with self._lock:
            for x, y, w, h in cue_rects(width, height):
                crop = rgb[y : y + h, x : x + w]
                found = shifted(self._faces.detect(crop, config.candidate_threshold), x, y)
                faces += [f for f in found if f[1] >= config.face_threshold]
                weak += [f for f in found if f[1] < config.face_threshold]
                if with_heads:
                    heads += shifted(self._heads.detect(crop, config.head_threshold), x, y)
            if self._centerface is None:
                return faces, heads, 0
            unseen = [c for c in [*weak, *before] if not any(contains_centre(f, c[0]) for f, _ in faces)]
            rects = check_rects(unseen + [f for f in faces if f[1] < CHECK_UNSURE_BELOW], width, height)
            for x, y, w, h in rects:
                crop, scale = check_crop(rgb, (x, y, w, h))
                faces += shifted(self._centerface.detect(crop, config.centerface_threshold), x, y, scale)
        return faces, heads, len(rects)


def check_crop(rgb: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[np.ndarray, float]:
    """What CenterFace is shown of a square it checks (its longer side CHECK_INPUT), and the scale it was shown at."""
    x, y, w, h = rect
    scale = CHECK_INPUT / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    crop = rgb[y : y + h, x : x + w]
    return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA), scale


def shifted(found: Found, x: int, y: int, scale: float = 1.0) -> Found:
    """Boxes found in a crop at (x, y) of the frame, shown at ``scale``, in the frame's pixels."""
    return [((bx / scale + x, by / scale + y, bw / scale, bh / scale), score) for (bx, by, bw, bh), score in found]


class FaceModelHandler(ModelHandler[Scan, PredictionResult, FaceDetector]):
    """ModelHandler for Veil's face detection: a Scan in, its Cues as the inference."""

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self._config = config

    def load_model(self) -> FaceDetector:
        return FaceDetector(self._config)

    def run_inference(
        self, batch: Sequence[Scan], model: FaceDetector, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        # The frame is not echoed back in the result: results stay small and frames never leave the worker.
        return [PredictionResult(scan[0].shape, model.detect(*scan)) for scan in batch]

    def get_num_bytes(self, batch: Sequence[Scan]) -> int:
        return sum(scan[0].nbytes for scan in batch)

    def share_model_across_processes(self) -> bool:
        return False


@dataclasses.dataclass
class ScanCounts:
    """What scanning a segment did, for the job's counters."""

    frames: int = 0
    scanned: int = 0
    checked: int = 0


def scan(
    frames: Iterable[tuple[int, np.ndarray | None]], infer, config: DetectorConfig, counts: ScanCounts
) -> Iterator[Detection]:
    """The faces in a run of frames (index, RGB frame; None for a frame ``config`` does not scan).

    ``infer`` runs the detector on a Scan and returns its Cues; a head with no face found in it is a face.
    """
    before: Found = []
    for index, rgb in frames:
        counts.frames += 1
        if not config.scanned(index):
            continue
        found, heads, checked = infer((rgb, before, config.heads_scanned(index)))
        before = found
        faces = merge_overlapping(found + without_faces(heads, found), config.merge_iou)
        counts.scanned += 1
        counts.checked += checked
        yield from (Detection(index, box, score) for box, score in faces)


class _DetectSegmentFn(beam.DoFn):
    """Detect faces in the scanned frames of one segment, with the worker's shared models."""

    def __init__(
        self, handler: FaceModelHandler, config: DetectorConfig, shared_handle: shared.Shared, progress: str | None
    ):
        self._progress = progress
        self._handler = handler
        self._config = config
        self._shared = shared_handle
        self._model: FaceDetector | None = None
        self._frames = beam.metrics.Metrics.counter("veil", "frames_scanned")
        self._faces = beam.metrics.Metrics.counter("veil", "faces_detected")
        self._checked = beam.metrics.Metrics.counter("veil", "centerface_checks")

    def setup(self) -> None:
        self._model = self._shared.acquire(self._handler.load_model, tag=repr(self._config))

    def _infer(self, item: Scan) -> Cues:
        (result,) = self._handler.run_inference([item], self._model)
        return result.inference

    def process(self, segment: Segment):
        config, counts = self._config, ScanCounts()
        # Only scanned frames are converted to RGB; the others are decoded (the codec needs them) and passed over.
        frames = (
            (index, frame.to_ndarray(format="rgb24") if config.scanned(index) else None)
            for index, frame in decode(segment)
        )
        try:
            found = tuple(scan(frames, self._infer, config, counts))
        except InputRefused as err:
            yield SegmentDetections(segment, (), Failure(err.reason, str(err)))
            return
        except Exception as err:  # noqa: BLE001 - fail closed: a detector error quarantines the input, never skips faces
            yield SegmentDetections(
                segment,
                (),
                Failure(QuarantineReason.PROCESSING_ERROR, f"face detection failed: {type(err).__name__}: {err}"),
            )
            return
        self._frames.inc(counts.scanned)
        self._checked.inc(counts.checked)
        self._faces.inc(len(found))
        frames = segment.end_frame - segment.start_frame
        progress.note(self._progress, progress.DETECTED, f"{segment.media.media_id}-{segment.index}", frames)
        yield SegmentDetections(segment, found)


class DetectFaces(Stage):
    """Decode each segment once and detect faces in its scanned frames; the models are loaded once per worker.

    Reads ``segments`` (spread over workers), writes ``detections``: one SegmentDetections per segment; a segment
    that cannot be decoded or scanned carries a Failure instead, so its whole input is quarantined downstream (fail
    closed).
    """

    def __init__(self, config: DetectorConfig, handler: ModelHandler | None = None, progress: str | None = None):
        fn = _DetectSegmentFn(handler or FaceModelHandler(config), config, shared.Shared(), progress)
        super().__init__(Step("Detect In Segment", fn, ("segments",), "detections", guarded=False, spread=True))
