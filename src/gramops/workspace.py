"""Where the DVC workspace is, also from inside an experiment's temporary copy.

`dvc exp run --temp` and queued experiments execute in
``<workspace>/.dvc/tmp/exps/<tmpdir>/``, a copy holding the git-tracked files and the
stage outputs, but not gitignored state such as the MLflow database or the registry's
object store. Stores that must be shared with the workspace resolve through here.
"""

from __future__ import annotations

from pathlib import Path

EXPS_TMP = (".dvc", "tmp", "exps")


def experiment_copy(path: Path) -> tuple[Path, Path] | None:
    """(workspace root, copy root) when ``path`` lies in an experiment's temporary copy."""
    parts = Path(path).resolve().parts
    n = len(EXPS_TMP)
    for i in range(len(parts) - n):
        if parts[i : i + n] == EXPS_TMP:
            return Path(*parts[:i]), Path(*parts[: i + n + 1])
    return None


def workspace_root(start: Path) -> Path | None:
    """The workspace a path belongs to (walking out of experiment copies), or None."""
    copy = experiment_copy(start)
    if copy is not None:
        return copy[0]
    path = Path(start).resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return None


def in_workspace(path: Path) -> Path:
    """``path`` itself, or its counterpart in the workspace when inside an experiment copy."""
    resolved = Path(path).resolve()
    copy = experiment_copy(resolved)
    if copy is None:
        return resolved
    workspace, copy_root = copy
    return workspace / resolved.relative_to(copy_root)
