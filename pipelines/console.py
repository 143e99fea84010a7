"""What a job shows at the terminal: Veil's own lines and a progress line; everything else goes to the run's log.

Beam's worker processes, Dask's, TensorFlow Lite and absl all write to the process's standard error, some from C++
(about 46 lines a run, none of them for the operator). While a job runs, file descriptor 2 of the launcher, which
every worker process inherits, points at a log file; Veil's own lines reach the terminal through ``sys.stderr``,
which keeps it. The log is published beside the run's report, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator

from tqdm import tqdm

from transforms.services import progress

PLAIN_EVERY = 30.0
"""Seconds between progress lines when the terminal is not one (cron, Airflow): a line each time, not a redraw."""
POLL = 1.0
"""Seconds between looks at the progress folder."""


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[str | None]:
    """Send everything written to standard error (by this process and the ones it starts) to a log file, and
    Veil's own lines (``sys.stderr``) to the terminal; yields the log file's local path (None with ``verbose``:
    then nothing is redirected)."""
    if verbose:
        yield None
        return
    handle, log = tempfile.mkstemp(prefix="veil-", suffix=".log")
    sys.stderr.flush()
    terminal = os.dup(2)
    previous = sys.stderr
    # Only a sys.stderr that writes to descriptor 2 needs rebinding to the terminal; another one (a test's capture,
    # an embedding program's stream) is not behind descriptor 2 and keeps receiving Veil's lines as it is.
    rebind = _writes_to_descriptor_2(previous)
    os.dup2(handle, 2)
    os.close(handle)
    if rebind:
        sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding="utf-8", errors="replace")
    # A thread's uncaught exception is printed to sys.stderr, now the terminal: Beam's threads' go to the log.
    hook = threading.excepthook
    threading.excepthook = lambda args: traceback.print_exception(
        args.exc_type, args.exc_value, args.exc_traceback, file=previous
    )
    try:
        yield log
    except KeyboardInterrupt as stop:
        # Beam's threads and workers die after this with tracebacks of their own: standard error stays on the log
        # until the process ends, and the caller's last line goes to the terminal given with the interruption.
        if rebind:
            sys.stderr.close()
        sys.stderr = previous
        stop.terminal, stop.log = terminal, log
        raise
    sys.stderr.flush()
    if rebind:
        sys.stderr.close()
    os.dup2(terminal, 2)
    os.close(terminal)
    sys.stderr = previous
    threading.excepthook = hook


def _writes_to_descriptor_2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def describe(totals: dict[str, int], seconds: float) -> str:
    """The plain progress line: inputs and frames done of those found so far, the rate, and the time left."""
    done = progress.frames_done(totals)
    rate = done / seconds if seconds > 0 else 0.0
    left = f", about {dt.timedelta(seconds=round((totals[progress.FRAMES] - done) / rate))} left" if rate > 0 else ""
    return (
        f"inputs {totals[progress.DONE]} of {totals[progress.FOUND]} found; frames: {totals[progress.DETECTED]} "
        f"detected, {totals[progress.ENCODED]} redacted of {totals[progress.FRAMES]} probed; {rate:.1f} frames/s{left}"
    )


class ProgressLine:
    """A run's progress while it runs, from the folder its stages note what they finished in: on a terminal, one
    line redrawn in place (tqdm); elsewhere a plain line every PLAIN_EVERY seconds."""

    def __init__(self, stream=None):
        self._stream = stream

    @contextlib.contextmanager
    def watching(self, folder: str | None) -> Iterator[None]:
        if folder is None:
            yield
            return
        stream = self._stream or sys.stderr
        stop = threading.Event()
        tally = progress.Tally(folder)
        started = time.monotonic()
        bar = tqdm(total=0, unit="frame", file=stream, dynamic_ncols=True, leave=False) if stream.isatty() else None

        def show() -> None:
            last_line = started
            while not stop.wait(POLL):
                totals = tally.totals()
                now = time.monotonic()
                if bar is not None:
                    bar.total = totals[progress.FRAMES]
                    bar.n = round(progress.frames_done(totals))
                    bar.set_description(f"inputs {totals[progress.DONE]}/{totals[progress.FOUND]}", refresh=False)
                    bar.refresh()
                elif now - last_line >= PLAIN_EVERY:
                    print(f"veil: {describe(totals, now - started)}", file=stream, flush=True)
                    last_line = now

        thread = threading.Thread(target=show, name="veil-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            if bar is not None:
                bar.close()
