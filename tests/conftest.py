"""Shared fixtures: the generated sample archive, a runner for the anonymize job, the shared footage."""
from __future__ import annotations

import json
import os

import pytest

from pipelines import anonymize, sample
from transforms.sinks import read_table

FOOTAGE = os.environ.get("VEIL_FOOTAGE", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "footage"))


def run_job(input_uri: str, output: str, *args: str) -> dict[str, list[dict]]:
    """Run ``veil anonymize`` in-process; returns this run's rows of every table."""
    run_id = anonymize.run([input_uri, output, *args])
    rows = {}
    for table in ("media", "face_tracks", "quarantine", "runs"):
        found = read_table(output, table)
        rows[table] = [r for r in (found.to_pylist() if found is not None else []) if r["run_id"] == run_id]
    return rows


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory) -> dict[str, str]:
    """The demo's generated archive (two clips and a frame folder) with manifest and ground truth."""
    target = str(tmp_path_factory.mktemp("sample"))
    return {**sample.generate(target), "dir": target}


@pytest.fixture(scope="session")
def sample_run(sample_archive, tmp_path_factory) -> dict:
    """One anonymize run over the sample archive, shared by the end-to-end tests."""
    output = str(tmp_path_factory.mktemp("sample-out"))
    rows = run_job(sample_archive["archive"], output, "--manifest", sample_archive["manifest"])
    return {"output": output, "rows": rows}


def groundtruth(directory: str, name: str) -> dict:
    with open(os.path.join(directory, f"{name}.groundtruth.json")) as handle:
        return json.load(handle)


def footage(name: str) -> str | None:
    path = os.path.join(FOOTAGE, name)
    return path if os.path.exists(path) else None
