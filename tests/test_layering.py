"""The Beam-free logic stays Beam-free, and every table has its schema in one place."""

import ast
import pathlib

import pytest

from schemas import tables
from transforms.services.table_files import write_table

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_logic_never_imports_beam_or_the_beam_stages():
    offenders = {}
    for path in (ROOT / "transforms" / "logic").glob("*.py"):
        bad = {
            n
            for n in _imports(path)
            if n.startswith("apache_beam") or (n.startswith("transforms.") and not n.startswith("transforms.logic"))
        }
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def _defines_a_stage(path: pathlib.Path) -> bool:
    """Whether a module defines a DoFn or PTransform (a class whose base is beam.X or a Beam class by name)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = getattr(base, "attr", getattr(base, "id", ""))
                if name in {"DoFn", "PTransform", "PollFn"} or getattr(base, "slice", None) is not None:
                    return True
    return False


def test_transforms_holds_stages_and_services_hold_none():
    stages = [p for p in (ROOT / "transforms").glob("*.py") if p.name != "__init__.py"]
    assert [p.name for p in stages if not _defines_a_stage(p)] == []
    services = [p for p in (ROOT / "transforms" / "services").glob("*.py") if p.name != "__init__.py"]
    assert [p.name for p in services if _defines_a_stage(p)] == []


def test_services_import_no_stage_and_no_job():
    offenders = {}
    for path in (ROOT / "transforms" / "services").glob("*.py"):
        bad = {
            n
            for n in _imports(path)
            if n.startswith("pipelines")
            or (n.startswith("transforms.") and not n.startswith(("transforms.logic", "transforms.services")))
        }
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_pipelines_define_no_dofns():
    for path in (ROOT / "pipelines").glob("*.py"):
        classes = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)]
        assert not [c.name for c in classes if any(getattr(b, "attr", "") == "DoFn" for b in c.bases)], path.name


def test_every_table_has_a_schema_with_a_run_id():
    assert set(tables.TABLES) == {
        "media",
        "face_tracks",
        "restricted",
        "catalog",
        "quarantine",
        "runs",
        "leak_audit",
        "retention_plan",
        "validation_failures",
        "stream_windows",
    }
    assert set(tables.VALIDATED) <= set(tables.TABLES)
    for name, schema in tables.TABLES.items():
        assert "run_id" in schema.names, name


def test_a_row_that_does_not_fit_its_schema_is_refused_before_anything_is_written(tmp_path):
    row = {
        "run_id": "r",
        "input_uri": "/x",
        "media_id": None,
        "camera_id": None,
        "reason_code": "empty_file",
        "message": "m",
    }
    target = str(tmp_path / "q.parquet")
    assert write_table([row], tables.QUARANTINE, target) == 1
    with pytest.raises(ValueError, match="missing \\['message'\\], unknown \\['msg'\\]"):
        write_table([{**{k: v for k, v in row.items() if k != "message"}, "msg": "m"}], tables.QUARANTINE, target)
    with pytest.raises(ValueError, match="required column"):
        write_table([{**row, "reason_code": None}], tables.QUARANTINE, target)


LAYOUT_FOLDERS = {"tables", "reports", "quarantine", "keys", "ledger", ".work", "anonymized", "restricted", "gx"}


def test_only_the_layout_module_spells_a_folder_of_the_output_root():
    offenders = []
    for path in [*(ROOT / "pipelines").glob("*.py"), *(ROOT / "transforms").rglob("*.py")]:
        if path.name == "layout.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "join":
                named = {a.value for a in node.args if isinstance(a, ast.Constant)} & LAYOUT_FOLDERS
                if named:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(named)}")
    assert offenders == []
