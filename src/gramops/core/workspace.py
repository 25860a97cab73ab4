"""Where the DVC workspace is, also from inside an experiment's temporary copy.

`dvc exp run --temp` and queued experiments execute in
``<workspace>/.dvc/tmp/exps/<tmpdir>/``, a copy holding the git-tracked files and the
stage outputs, but not gitignored state such as the MLflow database or the registry's
object store. Stores that must be shared with the workspace resolve through here.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

EXPS_TMP = (".dvc", "tmp", "exps")
log = logging.getLogger(__name__)


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


def git_add(paths: Sequence[Path], cwd: Path | None = None) -> bool:
    """Stage new files with git; whether it worked.

    `dvc exp run` commits only files git already tracks (and DVC outputs): a file the
    pipeline creates in a store it does not own, such as a new registry entry, would be
    left out of the experiment's commit while the audit line naming it went in, and
    `dvc exp apply` would then restore a registry that names an entry it lacks. Staging
    the new file makes the experiment carry every registry file it changed.
    """
    if not paths:
        return True
    try:
        subprocess.run(
            ["git", "add", "--", *(str(p) for p in paths)],
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        log.warning("could not stage %s with git (%s)", ", ".join(map(str, paths)), detail.strip())
        return False
    return True
