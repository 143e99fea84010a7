"""How often and how hard Veil looks for faces: which frames are scanned, and the detectors' thresholds."""

from __future__ import annotations

import dataclasses

from schemas.options import config_default


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """How often and how hard Veil looks for faces: recall first, since a missed face is a leak.

    every: one frame in ``every`` is scanned (index 0, every, 2 every, ... of the input); tracks cover the others.
    face_threshold: BlazeFace detections scoring at least this count as faces (0.5 chosen on the tune clips: at
        0.3 its false faces were a third of the area redacted needlessly).
    candidate_threshold: BlazeFace detections scoring at least this (and under ``face_threshold``) are checked by
        CenterFace (0.2 chosen on the tune clips, bench/candidates.md: at 0.1 2.5 times as many squares and no face
        more found; at 0.3 seven faces at half size missed).
    head_threshold: people the pose detector finds scoring at least this have their head redacted as a face.
    head_every: the pose detector runs on one scanned frame in ``head_every`` (2 chosen on the tune clips: it costs
        more than BlazeFace per frame, and a person is a larger, slower target than a face).
    centerface_threshold: CenterFace detections in a candidate's square scoring at least this count as faces
        (0 turns CenterFace off: candidates are then dropped, and faces BlazeFace scores low leak).
    threads: threads each model may use in a worker (the machine's cores shared among its worker processes).
    """

    every: int = config_default("detector", "every")
    face_threshold: float = config_default("detector", "face_threshold")
    candidate_threshold: float = config_default("detector", "candidate_threshold")
    head_threshold: float = config_default("detector", "head_threshold")
    head_every: int = config_default("detector", "head_every")
    centerface_threshold: float = config_default("detector", "centerface_threshold")
    merge_iou: float = 0.3
    threads: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1 (scan one frame in every), got {self.every}")
        if self.head_every < 1:
            raise ValueError(
                f"head_every must be >= 1 (look for heads on one scanned frame in head_every), got {self.head_every}"
            )
        for name in ("face_threshold", "head_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not 0 < self.candidate_threshold <= self.face_threshold:
            raise ValueError(f"candidate_threshold must be in (0, face_threshold], got {self.candidate_threshold}")
        if not 0 <= self.centerface_threshold < 1:
            raise ValueError(f"centerface_threshold must be in [0, 1) (0: off), got {self.centerface_threshold}")
        if self.threads < 1:
            raise ValueError("threads must be >= 1")

    def scanned(self, index: int) -> bool:
        """Whether frame ``index`` of an input is scanned: the same frames whatever the segments."""
        return index % self.every == 0

    @property
    def head_stride(self) -> int:
        """Frames from one look for heads to the next."""
        return self.every * self.head_every

    def heads_scanned(self, index: int) -> bool:
        """Whether the pose detector looks for heads on frame ``index`` of an input (a scanned frame)."""
        return index % self.head_stride == 0
