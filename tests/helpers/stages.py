"""Run one stage script in a scratch workspace, as `dvc repro` would run it."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from helpers.paths import BIN, FIXTURES, ROOT


def stage_workspace(tmp_path: Path, params: dict[str, Any]) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(
        FIXTURES / "wordnet",
        work / "data" / "raw" / "wordnet",
        ignore=shutil.ignore_patterns("malformed"),
    )
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return work


def run_stage(stage: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "python"), str(ROOT / "stages" / f"{stage}.py")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def project_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
