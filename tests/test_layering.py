"""The code keeps its layers: the Beam-free logic stays Beam-free, stages live in transforms/, services define none
and import no stage or job, jobs define no DoFn, and only the layout module spells the output root's folders."""

import ast
import pathlib

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


def test_every_stage_module_has_a_beam_test_that_runs_its_stages_in_a_test_pipeline():
    missing = []
    for path in sorted((ROOT / "transforms").glob("*.py")):
        if path.name == "__init__.py":
            continue
        test = ROOT / "tests" / "transforms" / f"test_{path.name}"
        imported = _imports(test) if test.exists() else set()
        if not {"apache_beam.testing.test_pipeline", "apache_beam.testing.util", f"transforms.{path.stem}"} <= imported:
            missing.append(path.name)
    assert missing == [], "each needs a tests/transforms/test_<module>.py running it in a TestPipeline with assert_that"
