"""What a failed stage leaves missing, and how to get it back.

``dvc repro`` deletes a stage's outputs before it runs the stage's command, so a stage that
fails (or is interrupted) leaves its declared results missing from the workspace: for the
``cache: false`` metrics that git tracks, the committed copy is then gone from the working
tree too. :func:`missing_report` reads the stage's declared outputs from ``dvc.yaml``,
names the ones now missing and how to restore each: ``git checkout -- PATH`` for an
uncached file git tracks, ``dvc checkout STAGE`` for a cached one, and ``dvc repro STAGE``
when no copy exists anywhere.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_OUTPUT_KINDS = ("outs", "metrics", "plots")
_VARIABLE = re.compile(r"\$\{\s*([a-z_.]+)\s*\}")


@dataclass(frozen=True)
class Output:
    path: str
    cached: bool


def _outputs(block: Mapping[str, Any], values: Mapping[str, Any]) -> list[Output]:
    found = []
    for kind in _OUTPUT_KINDS:
        for item in block.get(kind) or ():
            path, options = next(iter(item.items())) if isinstance(item, dict) else (item, None)
            cached = not (isinstance(options, dict) and options.get("cache") is False)
            resolved = _VARIABLE.sub(lambda m: str(values.get(m.group(1), m.group(0))), path)
            if "${" not in resolved:  # a variable we cannot resolve: not ours to report
                found.append(Output(resolved, cached))
    return found


def declared_outputs(
    dvc: Mapping[str, Any], script: str, args: Sequence[str]
) -> tuple[str, list[Output]] | None:
    """The stage that runs ``script`` (``stages/gate.py``) and its declared outputs; for a
    ``foreach`` stage the entry named by the script's first argument (``evaluate@lora``).
    None when no stage runs it."""
    for name, stage in (dvc.get("stages") or {}).items():
        block = stage.get("do") if isinstance(stage, dict) and "foreach" in stage else stage
        if not isinstance(block, dict) or script not in str(block.get("cmd", "")).split():
            continue
        if block is stage:
            return name, _outputs(block, {})
        items = stage["foreach"]
        key = args[0] if args else None
        if isinstance(items, dict) and key in items:
            item = items[key]
            values = {"key": key, "item": item}
            if isinstance(item, dict):
                values.update({f"item.{k}": v for k, v in item.items()})
            return f"{name}@{key}", _outputs(block, values)
        if isinstance(items, list) and key in items:
            return f"{name}@{key}", _outputs(block, {"item": key})
    return None


def git_tracked(paths: Sequence[str], cwd: Path) -> set[str]:
    """Which of ``paths`` (files or directories) git tracks in ``cwd``'s repository."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", *paths], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    files = listed.stdout.splitlines() if listed.returncode == 0 else []
    return {p for p in paths if p in files or any(f.startswith(p.rstrip("/") + "/") for f in files)}


def missing_report(script: str, args: Sequence[str], workspace: Path) -> str | None:
    """What a stage run from ``workspace`` left missing and how to restore it; None when all
    its declared outputs exist (it succeeded) or no ``dvc.yaml`` stage runs ``script``."""
    dvc_file = workspace / "dvc.yaml"
    if not dvc_file.is_file():
        return None
    try:
        dvc = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    declared = declared_outputs(dvc, script, args) if isinstance(dvc, dict) else None
    if declared is None:
        return None
    stage, outputs = declared
    missing = [o for o in outputs if not (workspace / o.path).exists()]
    if not missing:
        return None
    uncached = [o.path for o in missing if not o.cached]
    tracked = git_tracked(uncached, workspace) if uncached else set()
    lines = [
        f"stage {stage} did not finish, and DVC removes a stage's outputs before running it: "
        f"now missing: {', '.join(o.path for o in missing)}"
    ]
    committed = [p for p in uncached if p in tracked]
    if committed:
        lines.append(f"  restore the committed copies: git checkout -- {' '.join(committed)}")
    if any(o.cached for o in missing):
        lines.append(f"  restore the cached copies dvc.lock records: dvc checkout {stage}")
    unsaved = [p for p in uncached if p not in tracked]
    if unsaved:
        lines.append(f"  not cached nor in git, so only a re-run rebuilds: {', '.join(unsaved)}")
    lines.append(f"  or fix the cause and re-run the stage: dvc repro {stage}")
    return "\n".join(lines)
