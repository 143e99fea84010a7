"""`make bench`'s own options: which runners run the long clip, and where a partial run writes its results."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parents[2] / "bench" / "bench.py")
bench = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("bench", bench)  # its dataclasses look their module up there
_SPEC.loader.exec_module(bench)


def test_runners_choose_which_runners_run_the_long_clip():
    args, veil_args = bench.parse_args(["--runners", "dask", "--results", "results-dask", "--", "--crf", "30"])
    assert args.runners == ["dask"] and args.results == "results-dask" and veil_args == ["--crf", "30"]
    labels = [case.label for case in bench.cases({"long": None}, args.workers, args.runners)]
    assert labels == ["plain ffmpeg", "veil --runner dask --workers 1", "veil --runner dask --workers 2"]


def test_the_defaults_run_both_runners_into_results():
    args, _ = bench.parse_args([])
    assert args.runners == ["direct", "dask"] and args.results == "results"


@pytest.mark.parametrize("argv", [["--runners", "spark"], ["--runners", ""], ["--results", "out/x"], ["--results", ""]])
def test_bad_bench_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_a_process_that_exits_within_the_grace_is_no_leftover_and_one_that_stays_is():
    quick = subprocess.Popen(["sleep", "0.5"])
    stays = subprocess.Popen(["sleep", "30"])
    try:
        assert set(bench.lingering(os.getpid(), grace=3.0)) == {stays.pid}
    finally:
        stays.kill()
        stays.wait()
    assert quick.pid not in bench.descendants(os.getpid())
