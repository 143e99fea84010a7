"""Shared fixtures: the generated sample archive, a runner for the anonymize job, the shared footage, and the helpers
tests request by name (run_job, registry_args, record, killed_launcher_claim, groundtruth, footage)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import pytest

from pipelines import anonymize, sample, work_folders
from tests.footage_clips import FOOTAGE
from transforms.services import report, validation
from transforms.services.table_files import read_table


@pytest.fixture(scope="session", autouse=True)
def _pipeline_scratch(tmp_path_factory):
    """Beam's Pipeline() makes a temp folder that only run() removes: keep the graph-only tests' under pytest's
    base temp, which pytest prunes, not in /tmp, where they piled up by the hundred."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tempfile")))
        yield


def _run_job(input_uri: str, output: str, *args: str) -> dict[str, list[dict]]:
    """Run ``veil anonymize`` in-process; returns this run's rows of every table."""
    run_id = anonymize.run([input_uri, output, *args]).settings.run_id
    rows = {}
    for table in ("media", "face_tracks", "restricted", "quarantine", "runs"):
        found = read_table(output, table)
        rows[table] = [r for r in (found.to_pylist() if found is not None else []) if r["run_id"] == run_id]
    return rows


def _record(outputs: list, path: str) -> None:
    """Write a pipeline's gathered outputs, sorted, as JSON (a run's last step; the test reads the file)."""
    with open(path, "w") as handle:
        json.dump(sorted(outputs), handle)


def _killed_launcher_claim() -> dict:
    """The launcher.json of a launcher killed on this machine (its process gone)."""
    killed = subprocess.Popen(["sleep", "60"])
    claim = work_folders.launcher_claim(killed.pid)
    killed.kill()
    killed.wait()
    return claim


def _registry_args(sample_archive: dict) -> list[str]:
    """The options that hand the sample's manifest and registries to the job."""
    return [
        "--manifest",
        sample_archive["manifest"],
        "--cameras",
        sample_archive["cameras"],
        "--sessions",
        sample_archive["sessions"],
        "--consents",
        sample_archive["consents"],
    ]


def _groundtruth(directory: str, name: str) -> dict:
    with open(os.path.join(directory, f"{name}.groundtruth.json")) as handle:
        return json.load(handle)


def _footage(name: str) -> str | None:
    path = os.path.join(FOOTAGE, name)
    return path if os.path.exists(path) else None


@pytest.fixture(scope="session")
def run_job() -> Callable[..., dict[str, list[dict]]]:
    """``run_job(input_uri, output, *args)``: run ``veil anonymize`` in-process; returns this run's rows of every
    table (media, face_tracks, restricted, quarantine, runs)."""
    return _run_job


@pytest.fixture(scope="session")
def record() -> Callable[[list, str], None]:
    """``record(outputs, path)``: a pipeline's last step, writing its gathered outputs, sorted, as JSON. A function
    of a module, so a pipeline on worker processes (Dask, multi-process) can unpickle it."""
    return _record


@pytest.fixture(scope="session")
def killed_launcher_claim() -> Callable[[], dict]:
    """``killed_launcher_claim()``: the launcher.json of a launcher killed on this machine (its process gone)."""
    return _killed_launcher_claim


@pytest.fixture(scope="session")
def registry_args() -> Callable[[dict], list[str]]:
    """``registry_args(sample_archive)``: the options that hand the sample's manifest and registries to the job."""
    return _registry_args


@pytest.fixture(scope="session")
def groundtruth() -> Callable[[str, str], dict]:
    """``groundtruth(directory, name)``: the ground truth of the clip ``name`` in ``directory``."""
    return _groundtruth


@pytest.fixture(scope="session")
def footage() -> Callable[[str], str | None]:
    """``footage(name)``: the path of a clip of the shared footage, None when it is not there."""
    return _footage


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory) -> dict[str, str]:
    """The demo's generated archive (two clips and a frame folder) with manifest and ground truth."""
    target = str(tmp_path_factory.mktemp("sample"))
    return {**sample.generate(target), "dir": target}


@pytest.fixture(scope="session")
def sample_run(sample_archive, tmp_path_factory) -> dict:
    """One anonymize run over the sample archive with the sample site's registries, as `make demo` does it."""
    output = str(tmp_path_factory.mktemp("sample-out"))
    rows = _run_job(sample_archive["archive"], output, *_registry_args(sample_archive))
    return {"output": output, "rows": rows}


@pytest.fixture(scope="session")
def validated_run(sample_archive, sample_run, tmp_path_factory) -> dict:
    """A copy of the sample run's output root, validated and reported as `veil anonymize` does after the job."""
    output = str(tmp_path_factory.mktemp("validated") / "out")
    shutil.copytree(sample_run["output"], output)
    (run,) = sample_run["rows"]["runs"]
    opts, _ = anonymize.parse([sample_archive["archive"], output, *_registry_args(sample_archive)])
    outcomes = validation.validate(output, run["run_id"])
    built = report.build_report(output, run["run_id"], anonymize.load_registries(opts)[0], anonymize.measures(opts))
    report.write_report(output, run["run_id"], built)
    return {
        "output": output,
        "run_id": run["run_id"],
        "rows": sample_run["rows"],
        "outcomes": outcomes,
        "report": built,
    }
