"""dvc.yaml declares exactly the code each stage runs, so DVC re-runs what a change affects."""

import ast
from pathlib import Path

import yaml

from conftest import ROOT

PACKAGE = ROOT / "src" / "gramops"


def _imports(path: Path) -> set[Path]:
    """gramops modules imported by a file (the package __init__ always, as Python does)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gramops"):
            parts = node.module.split(".")[1:]
            found.add(PACKAGE / "__init__.py")
            if parts:
                found.add(PACKAGE.joinpath(*parts).with_suffix(".py"))
            else:
                found.update(
                    PACKAGE / f"{alias.name}.py"
                    for alias in node.names
                    if (PACKAGE / f"{alias.name}.py").exists()
                )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gramops."):
                    found.add(PACKAGE / "__init__.py")
                    found.add(PACKAGE.joinpath(*alias.name.split(".")[1:]).with_suffix(".py"))
    return found


def _closure(script: Path) -> set[str]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        current = todo.pop()
        for module in _imports(current) - seen:
            seen.add(module)
            todo.append(module)
    return {p.relative_to(ROOT).as_posix() for p in seen | {script}}


def test_every_stage_declares_exactly_the_code_it_imports():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages, "dvc.yaml has no stages"
    for name, stage in stages.items():
        spec = stage.get("do", stage)
        script = spec["cmd"].split()[1]
        assert script == f"stages/{name}.py", f"{name}: script should be named like the stage"
        declared = {d for d in spec["deps"] if d.endswith(".py")}
        assert declared == _closure(ROOT / script), f"stage {name}: deps differ from imports"
