"""Child processes the tests run: the venv's tools, `dvc repro` output, the team stack."""

import functools
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers.paths import BIN, ROOT


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


@functools.cache
def team_stack_module():
    """``scripts/team_stack.py`` (not a package) as a module: the stack and its S3 server."""
    path = ROOT / "scripts" / "team_stack.py"
    spec = importlib.util.spec_from_file_location("team_stack", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["team_stack"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module
