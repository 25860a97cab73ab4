"""Rebuild a registered model from scratch and check that it is bit-for-bit the same.

The registry entry's file is first committed together with the code, params and
`dvc.lock` that produced it, so that commit is the model's recipe: check it out in a
temporary git worktree (with an empty DVC cache, so nothing is restored instead of
rebuilt), run `dvc repro` up to the model's evaluation, and compare canonical SHAs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_json
from gramops.core.vocab import short
from gramops.models.identity import canonical_sha
from gramops.registry.store import Registry

log = logging.getLogger(__name__)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise GramopsError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def registration_commit(repo: Path, entry_path: Path) -> str:
    """The first commit that contains the entry's metadata file."""
    relative = entry_path.resolve().relative_to(Path(_git(repo, "rev-parse", "--show-toplevel")))
    commits = _git(repo, "log", "--format=%H", "--diff-filter=A", "--", relative.as_posix())
    if not commits:
        raise GramopsError(
            f"{relative} is not in any commit of {repo}: commit the registry together with "
            "dvc.lock and the code that produced it, then reproduce"
        )
    return commits.splitlines()[-1]


KERNELS_MODULE = "src/gramops/core/kernels.py"


def pins_kernels(repo: Path, commit: str) -> bool:
    """Whether ``commit``'s stages pin the CPU kernels (ADR 0005): before that, a model
    rebuilds bit for bit only on a CPU like the one that built it."""
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}:{KERNELS_MODULE}"], cwd=repo, capture_output=True
    )
    return result.returncode == 0


def why_different(result: dict[str, Any]) -> str | None:
    """A likely reason a rebuild differs, for the reader of ``gramops reproduce``."""
    if result["reproduced"] or result.get("kernels_pinned", True):
        return None
    return (
        f"commit {short(result['commit'])} predates the pinned CPU kernels (ADR 0005): its "
        "stages used whatever OpenBLAS kernels the CPU offered, so it rebuilds bit for bit "
        "only on a CPU like the one that built it"
    )


def reproduce(
    registry: Registry, ref: str, repo: Path, keep: bool = False, restore: bool = False
) -> dict[str, Any]:
    """Rebuild ``ref`` at its registration commit; with ``restore``, put the rebuilt bytes
    (and its parent's) into this registry's object store when they hash to the entries:
    how a fresh clone gets the bytes of a model the current code no longer builds."""
    sha = registry.resolve(ref)
    entry = registry.entry(sha)
    family = entry["family"]
    commit = registration_commit(repo, registry.root / "entries" / f"{sha}.json")
    workdir = Path(tempfile.mkdtemp(prefix="gramops-reproduce-"))
    tree = workdir / "tree"
    _git(repo, "worktree", "add", "--detach", str(tree), commit)
    try:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            # the recipe's own library code, not the installed (current) one
            "PYTHONPATH": str(tree / "src"),
            # the rebuild must not touch this registry: its stages register into the tree's
            "GRAMOPS_REGISTRY": str(tree / "models" / "registry"),
            "GRAMOPS_REGISTRY_OBJECTS": str(workdir / "objects"),
        }
        log.info("rebuilding %s %s at commit %s in %s", family, short(sha), short(commit), tree)
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dvc"), "repro", f"evaluate@{family}"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise GramopsError(
                f"dvc repro failed while rebuilding {short(sha)} at {short(commit)}:\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        bundle = tree / "models" / family
        rebuilt = canonical_sha(bundle)
        corpus = read_json(bundle / "train_manifest.json")["corpus"]["dvc_hash"]
        restored = _restore(registry, tree, sha, entry) if restore and rebuilt == sha else []
        return {
            "sha": sha,
            "family": family,
            "commit": commit,
            "rebuilt_sha": rebuilt,
            "reproduced": rebuilt == sha,
            "restored": restored,
            "corpus_dvc_hash": corpus,
            "corpus_matches": corpus == entry.get("corpus_dvc_hash"),
            "kernels_pinned": pins_kernels(repo, commit),
            "worktree": str(tree) if keep else None,
        }
    finally:
        if not keep:
            _git(repo, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(workdir, ignore_errors=True)


def _restore(registry: Registry, tree: Path, sha: str, entry: dict[str, Any]) -> list[str]:
    """Register the rebuilt bundle and its parent again: known SHAs, so only their missing
    objects are copied in, each verified against the entry's recorded keys."""
    wanted = [(entry["family"], sha)]
    if entry.get("parent_sha"):
        wanted.append(("fp32", entry["parent_sha"]))
    restored = []
    for family, expected in reversed(wanted):  # parent first
        bundle = tree / "models" / family
        if canonical_sha(bundle) != expected:
            raise GramopsError(
                f"the rebuilt {family} bundle is {short(canonical_sha(bundle))}, not the "
                f"registered {short(expected)}: not restoring it"
            )
        result = registry.register(bundle, family=family)
        log.info("restored %d objects of %s %s", result.restored_objects, family, short(expected))
        restored.append(expected)
    return restored
