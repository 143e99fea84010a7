"""Notebooks run top to bottom against a real output root, so they cannot rot."""
import os
import pathlib

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def test_notebooks_are_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name


def test_run_overview_shows_the_latest_run_of_an_output_root(sample_run, monkeypatch):
    monkeypatch.setenv("VEIL_OUTPUT", sample_run["output"])
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(NOTEBOOKS / "run_overview.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    shown = "\n".join(str(out.get("data", {}).get("text/plain", ""))
                      for cell in notebook.cells for out in cell.get("outputs", []))
    (run,) = sample_run["rows"]["runs"]
    assert run["run_id"] in shown
    assert "no_service_link" in shown
    assert "nothing quarantined" in shown
    assert "'faces found on redacted regions': 0" in shown
