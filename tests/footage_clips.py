"""The annotated real clips, found where their ground truth is: the one list tests and `make eval` both use.

A clip counts when its video and its `<clip>.groundtruth.json` both exist:
- the clips of shared/footage (read-only), ground truth beside each one;
- the clips of shared/footage/extra, ground truth in tests/groundtruth/extra (that folder is read-only to the project).

Each folder belongs to one set of the fixed split of issue 17: detection settings are chosen on the `tune` clips
and confirmed on the `confirm` ones, which were never used to choose them. The folder is $VEIL_FOOTAGE when set
(as in tests/conftest.py), else ../shared/footage beside the repository. Standard library only: bench/eval.py
imports this without pytest or Beam.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FOOTAGE = Path(os.environ.get("VEIL_FOOTAGE", REPO.parent / "shared" / "footage"))
TUNE, CONFIRM = "tune", "confirm"
SETS = (TUNE, CONFIRM)
FOLDERS = (
    # (subfolder of the footage holding the videos, folder of their ground truth or None: beside them, set)
    ("", None, TUNE),
    ("extra", REPO / "tests" / "groundtruth" / "extra", CONFIRM),
)
"""Where clips and their ground truth are, and the set each folder's clips belong to: the split, declared once."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """An annotated clip: its video, its ground truth and its set."""

    name: str
    folder: str
    video: Path
    groundtruth: Path
    set: str

    @property
    def id(self) -> str:
        """The name with its subfolder of the footage (`extra/people-detection.gif`): unique across folders."""
        return f"{self.folder}/{self.name}" if self.folder else self.name


def discover(footage: Path = FOOTAGE) -> list[Clip]:
    """Every clip whose video and ground truth both exist, tune before confirm, by name within a set."""
    found = []
    for sub, truth_dir, which in FOLDERS:
        videos = footage / sub
        for truth in sorted((truth_dir or videos).glob("*.groundtruth.json")):
            name = truth.name.removesuffix(".groundtruth.json")
            if (videos / name).is_file():
                found.append(Clip(name, sub, videos / name, truth, which))
    return found
