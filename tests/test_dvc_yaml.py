"""dvc.yaml declares exactly the code each stage runs, so DVC re-runs what a change affects."""

import ast

import yaml

from helpers.imports import PACKAGE, ROOT, closure


def _code_deps(deps: list[str]) -> set[str]:
    return {d for d in deps if d.startswith(("src/", "stages/")) and not d.endswith("LICENSE")}


def _docstring_only(path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _covered(module: str, declared: set[str]) -> bool:
    return any(module == d or module.startswith(d + "/") for d in declared)


def test_every_stage_declares_exactly_the_code_it_imports():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages, "dvc.yaml has no stages"
    for name, stage in stages.items():
        spec = stage.get("do", stage)
        script = spec["cmd"].split()[1]
        assert script == f"stages/{name}.py", f"{name}: script should be named like the stage"
        declared = _code_deps(spec["deps"])
        assert script in declared, f"{name}: its script is not a dependency"
        runs = {p.relative_to(ROOT).as_posix() for p in closure(ROOT / script)}
        # A package face with nothing but a docstring runs no code, so it needs no edge.
        runs = {m for m in runs if not (m.endswith("__init__.py") and _docstring_only(ROOT / m))}
        missing = sorted(m for m in runs if not _covered(m, declared))
        assert not missing, f"stage {name}: runs {missing} but does not declare them"
        unused = sorted(d for d in declared - {script} if not any(_covered(m, {d}) for m in runs))
        assert not unused, f"stage {name}: declares {unused} but imports nothing from them"


def test_directory_deps_are_whole_subpackages():
    """A room is one dependency; a file inside a room is declared only where it pays."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for dep in _code_deps(stage.get("do", stage)["deps"]):
            path = ROOT / dep
            if path.is_dir():
                assert path.parent == PACKAGE and (path / "__init__.py").is_file(), (name, dep)


def test_the_package_face_holds_no_code():
    assert _docstring_only(PACKAGE / "__init__.py")
