"""The worker processes a run starts get Veil's malloc settings, on the local runner and on a local Dask cluster;
a run that fails or is stopped leaves no work folder, unless its job runs on without the launcher; a run removes
the work folders a killed launcher left."""

from __future__ import annotations

import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import launch, work_folders
from transforms.services import storage
from transforms.sinks import GatherAll


def _seen(_) -> list:
    return [os.getpid(), os.environ.get("MALLOC_ARENA_MAX")]


def environ_in_workers(args: list[str], path: str, record) -> list[list]:
    """[pid, MALLOC_ARENA_MAX] as seen by the process that handled each of 8 elements, in a run with ``args``."""
    options = PipelineOptions(args)
    launch.configure(options, args)
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | beam.Create(range(8)) | beam.Map(_seen) | GatherAll() | beam.Map(record, path)
    launch.run(pipeline)
    with open(path) as handle:
        return json.load(handle)


RUNNERS = [
    pytest.param(["--direct-workers", "2"], id="local"),
    pytest.param(["--runner", "dask", "--workers", "2"], id="dask"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args", RUNNERS)
def test_worker_processes_get_two_malloc_arenas_and_the_launcher_keeps_its_environment(
    args, tmp_path, monkeypatch, record
):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    seen = environ_in_workers(args, str(tmp_path / "seen.json"), record)
    assert len(seen) == 8
    assert all(pid != os.getpid() for pid, _ in seen)
    assert {value for _, value in seen} == {"2"}
    assert "MALLOC_ARENA_MAX" not in os.environ


@pytest.mark.slow
def test_a_malloc_arena_max_the_user_set_is_left_as_it_is(tmp_path, monkeypatch, record):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    seen = environ_in_workers(["--direct-workers", "2"], str(tmp_path / "seen.json"), record)
    assert {value for _, value in seen} == {"4"}
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


PORTABLE = ["--runner=PortableRunner", "--job_endpoint=localhost:8099"]
"""A Flink or Spark job, as Veil's README launches them: it runs on when its launcher stops."""


def _interrupted(_pipeline):
    raise KeyboardInterrupt


def _failed(_pipeline):
    raise RuntimeError("the job failed")


@pytest.mark.parametrize(
    "stop, args, removed",
    [
        pytest.param(_interrupted, ["--runner=FnApiRunner"], True, id="ctrl-c-local"),
        pytest.param(
            _interrupted, [f"--runner={launch.DASK_RUNNER}", "--dask_address=tcp://127.0.0.1:9"], True, id="ctrl-c-dask"
        ),
        pytest.param(_interrupted, PORTABLE, False, id="ctrl-c-portable"),
        pytest.param(_failed, PORTABLE, True, id="failed-portable"),
    ],
)
def test_a_stopped_run_removes_its_work_folder_unless_its_job_runs_on(stop, args, removed, tmp_path, monkeypatch):
    work = tmp_path / "out" / ".work" / "run-1"
    (work / "staging").mkdir(parents=True)
    (work / "staging" / "clip.mp4").write_bytes(b"raw footage")
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    monkeypatch.setattr(beam.Pipeline, "run", stop)
    with pytest.raises((KeyboardInterrupt, RuntimeError)):
        launch.run(pipeline, str(work))
    assert work.exists() is not removed


def test_the_run_error_is_raised_when_its_work_folder_cannot_be_removed(tmp_path, monkeypatch, caplog):
    def refuse(work):
        raise PermissionError(f"{work}: read-only")

    pipeline = beam.Pipeline(options=PipelineOptions(PORTABLE))
    monkeypatch.setattr(storage, "delete_work", refuse)
    monkeypatch.setattr(beam.Pipeline, "run", _failed)
    with pytest.raises(RuntimeError, match="the job failed"):
        launch.run(pipeline, str(tmp_path / "work"))
    assert "could not remove the work folder" in caplog.text and "read-only" in caplog.text


def test_a_run_first_removes_the_work_folders_whose_launcher_on_this_machine_is_gone(
    tmp_path, monkeypatch, capsys, killed_launcher_claim
):
    root = tmp_path / "out" / ".work"
    killed_claim = killed_launcher_claim()
    claims = {
        "killed": killed_claim,
        "before-a-reboot": {**work_folders.launcher_claim(os.getpid()), "boot": "an earlier boot"},
        "pid-reused": {**work_folders.launcher_claim(os.getpid()), "started": "1"},
        "running-here": work_folders.launcher_claim(os.getpid()),
        "on-another-machine": {**killed_claim, "host": "elsewhere"},
        "a-cloud-job": None,
    }
    for name, claim in claims.items():
        (root / name / "staging").mkdir(parents=True)
        (root / name / "staging" / "clip.mp4").write_bytes(b"raw footage")
        if claim is not None:
            (root / name / work_folders.LAUNCHER_FILE).write_text(json.dumps(claim))
    seen = {}

    def run(_pipeline):
        seen["left"] = sorted(p.name for p in root.iterdir())
        seen["claim"] = json.loads((root / "new" / work_folders.LAUNCHER_FILE).read_text())
        return beam.runners.runner.PipelineResult(beam.runners.runner.PipelineState.DONE)

    monkeypatch.setattr(beam.Pipeline, "run", run)
    launch.run(beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])), str(root / "new"))
    assert seen["left"] == ["a-cloud-job", "new", "on-another-machine", "running-here"]
    told = capsys.readouterr().err
    assert all(
        f"veil: removed {root / name}, the work folder (staged raw footage)" in told
        for name in ("killed", "before-a-reboot", "pid-reused")
    )
    assert seen["claim"] == work_folders.launcher_claim(os.getpid())
    assert not work_folders.launcher_gone(seen["claim"])
