"""Notebooks run top to bottom against a real output root, so they cannot rot."""

import os
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from transforms.services.table_files import read_table

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"


def _execute(name: str, output: str, monkeypatch) -> tuple[str, int]:
    """Run a notebook against an output root; returns the text it showed (results and prints) and its figures, once
    every cell that plots has shown its figure."""
    monkeypatch.setenv("VEIL_OUTPUT", output)
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    blank = [
        cell.source.splitlines()[0]
        for cell in notebook.cells
        if cell.cell_type == "code"
        and "plt.show()" in cell.source.splitlines()  # a plot cell (an indented one plots only when there is data)
        and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    ]
    assert blank == [], f"{name}: plot cells that drew nothing"
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    shown = "\n".join(str(out.get("data", {}).get("text/plain", "") or out.get("text", "")) for out in outputs)
    return shown, sum("image/png" in out.get("data", {}) for out in outputs)


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name


@pytest.mark.slow
def test_run_overview_shows_the_latest_run_of_an_output_root(sample_run, monkeypatch):
    shown, figures = _execute("run_overview.ipynb", sample_run["output"], monkeypatch)
    assert figures == 1  # face-frames redacted per camera
    (run,) = sample_run["rows"]["runs"]
    assert run["run_id"] in shown
    assert "no_service_link" in shown
    assert "nothing quarantined" in shown
    assert "'faces found on redacted regions': 0" in shown


@pytest.mark.slow
def test_validation_report_shows_the_latest_validation_and_plots_the_runs_figures(validated_run, monkeypatch):
    shown, figures = _execute("validation_report.ipynb", validated_run["output"], monkeypatch)
    assert f"'run': '{validated_run['run_id']}'" in shown
    assert f"'expectations': {len(validated_run['outcomes'])}" in shown and "'passed': True" in shown
    assert "every expectation held" in shown and "no failing rows recorded" in shown
    cameras = {r["camera_id"] for r in validated_run["rows"]["media"]}
    assert all(camera in shown for camera in cameras)
    assert all(t["reason_code"] in shown for t in validated_run["rows"]["face_tracks"])
    assert "nothing quarantined" in shown
    catalog = read_table(validated_run["output"], "catalog").to_pandas().drop_duplicates("artifact_id")
    assert f"{len(catalog)} artifacts pending, 0 deleted on record" in shown
    first_due = catalog.groupby("kind").retention_until.min().dt.strftime("%Y-%m-%d").to_dict()
    assert str(first_due) in shown, first_due
    assert figures == 3  # face tracks per camera per hour, actions by reason code, retention due dates
