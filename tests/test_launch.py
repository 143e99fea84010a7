"""The worker processes a run starts get Veil's malloc settings, on the local runner and on a local Dask cluster."""
from __future__ import annotations

import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import launch
from tests.conftest import record
from transforms.sinks import GatherAll


def _seen(_) -> list:
    return [os.getpid(), os.environ.get("MALLOC_ARENA_MAX")]


def environ_in_workers(args: list[str], path: str) -> list[list]:
    """[pid, MALLOC_ARENA_MAX] as seen by the process that handled each of 8 elements, in a run with ``args``."""
    options = PipelineOptions(args)
    launch.configure(options, args)
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | beam.Create(range(8)) | beam.Map(_seen) | GatherAll() | beam.Map(record, path)
    launch.run(pipeline)
    with open(path) as handle:
        return json.load(handle)


RUNNERS = [pytest.param(["--direct-workers", "2"], id="local"),
           pytest.param(["--runner", "dask", "--workers", "2"], id="dask")]


@pytest.mark.parametrize("args", RUNNERS)
def test_worker_processes_get_two_malloc_arenas_and_the_launcher_keeps_its_environment(args, tmp_path, monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    seen = environ_in_workers(args, str(tmp_path / "seen.json"))
    assert len(seen) == 8
    assert all(pid != os.getpid() for pid, _ in seen)
    assert {value for _, value in seen} == {"2"}
    assert "MALLOC_ARENA_MAX" not in os.environ


def test_a_malloc_arena_max_the_user_set_is_left_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    seen = environ_in_workers(["--direct-workers", "2"], str(tmp_path / "seen.json"))
    assert {value for _, value in seen} == {"4"}
    assert os.environ["MALLOC_ARENA_MAX"] == "4"
