"""What a job shows at the terminal: Veil's own lines and a progress line; the rest goes to the run's log."""

import io
import subprocess
import sys
import time

from pipelines import console
from transforms.services import progress


def _note_half_done(folder: str) -> None:
    for name in ("a", "b"):
        progress.note(folder, progress.FOUND, name)
    progress.note(folder, progress.DONE, "b")
    progress.note(folder, progress.FRAMES, "a", 300)
    progress.note(folder, progress.DETECTED, "a-0", 150)


def _watch_until(stream, folder: str, seen) -> str:
    with console.ProgressLine(stream).watching(folder):
        _note_half_done(folder)
        deadline = time.monotonic() + 20
        while not seen(stream.getvalue()) and time.monotonic() < deadline:
            time.sleep(0.02)
    return stream.getvalue()


def test_away_from_a_terminal_a_plain_line_says_inputs_frames_rate_and_time_left(tmp_path, monkeypatch):
    monkeypatch.setattr(console, "POLL", 0.01)
    monkeypatch.setattr(console, "PLAIN_EVERY", 0.05)
    text = _watch_until(io.StringIO(), str(tmp_path / "progress"), lambda t: "frames/s" in t)
    line = text.splitlines()[-1]
    assert line.startswith("veil: inputs 1 of 2 found; frames: 150 detected, 0 redacted of 300 probed; ")
    assert "frames/s, about " in line and " left" in line
    assert "\r" not in text, "a log file gets whole lines, no redraws"


def test_on_a_terminal_one_line_is_redrawn_in_place(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(console, "POLL", 0.01)
    # Detection is weighted two thirds of a frame's work: 150 of 300 frames detected is 100 frames' worth done.
    text = _watch_until(Terminal(), str(tmp_path / "progress"), lambda t: "100/300" in t)
    assert "\r" in text and "inputs 1/2" in text and "100/300" in text


def test_the_progress_of_a_run_is_summed_from_one_note_per_input_or_segment(tmp_path):
    folder = str(tmp_path / "progress")
    tally = progress.Tally(folder)
    assert tally.totals() == dict.fromkeys(progress.KINDS, 0), "no folder yet: nothing done"
    _note_half_done(folder)
    progress.note(folder, progress.DETECTED, "a-0", 150)  # a retried bundle rewrites its note, it does not add
    assert tally.totals() == {"found": 2, "done": 1, "frames": 300, "detected": 150, "encoded": 0}
    assert progress.frames_done(tally.totals()) == 100


QUIET = """
import os, subprocess, sys
from pipelines import console
with console.quiet({verbose}) as log:
    os.write(2, b"native library noise\\n")
    subprocess.run([sys.executable, "-c", "import sys; print('worker noise', file=sys.stderr)"], check=True)
    print("veil: the operator's line", file=sys.stderr)
print(open(log).read() if log else "no log", end="")
"""


def test_quiet_sends_every_process_stderr_to_the_log_and_keeps_veils_lines_on_the_terminal():
    done = subprocess.run(
        [sys.executable, "-c", QUIET.format(verbose=False)], capture_output=True, text=True, check=True
    )
    assert done.stderr == "veil: the operator's line\n"
    assert done.stdout == "native library noise\nworker noise\n"


def test_verbose_leaves_the_terminal_as_it_is():
    done = subprocess.run(
        [sys.executable, "-c", QUIET.format(verbose=True)], capture_output=True, text=True, check=True
    )
    assert done.stderr == "native library noise\nworker noise\nveil: the operator's line\n"
    assert done.stdout == "no log"
