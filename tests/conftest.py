"""Shared fixtures: the venv's tools and one real pipeline run in a fresh clone.

The pipeline fixture clones the committed repository into a temporary directory and
runs `dvc repro` there once per session; end-to-end and data tests share that run.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The venv's executables, whatever PATH the test runner was started with.
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")


def tool_env() -> dict[str, str]:
    """Environment for child processes: venv first on PATH (stages call `python`)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def sh(
    args: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env={**tool_env(), **(env or {})}, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}) in {cwd}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def stages_run(output: str) -> list[str]:
    """The stages `dvc repro` executed, from its output."""
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> dict:
    """A fresh clone of the committed repo after a cold `dvc repro`."""
    clone = tmp_path_factory.mktemp("e2e") / "gramops"
    sh(["git", "clone", "--quiet", str(ROOT), str(clone)], cwd=ROOT)
    # what `make install` adds beside the venv: the offline `dvc plots` page template
    template = ROOT / ".dvc" / "plots" / "offline.html"
    if template.exists():
        shutil.copy2(template, clone / ".dvc" / "plots" / "offline.html")
    result = sh([DVC, "repro"], cwd=clone)
    return {"path": clone, "output": result.stdout + result.stderr}


@pytest.fixture(scope="session")
def processed_dir(pipeline_repo) -> Path:
    return pipeline_repo["path"] / "data" / "processed"


def pytest_collection_modifyitems(items) -> None:
    """Tests that need the real pipeline run are end-to-end tests, wherever they live."""
    for item in items:
        if {"pipeline_repo", "processed_dir"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
