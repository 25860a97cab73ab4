"""`gramops reproduce` says when a differing rebuild comes from a commit before the pinned
CPU kernels (ADR 0005): v0.2.6, built on an AVX-512 CPU, rebuilds as another SHA elsewhere."""

import subprocess
from pathlib import Path

from gramops.registry.reproduce import KERNELS_MODULE, pins_kernels, why_different


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_commit_pins_the_kernels_once_it_holds_the_kernels_module(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.invalid")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "README").write_text("x\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "before")
    before = _git(tmp_path, "rev-parse", "HEAD")
    module = tmp_path / KERNELS_MODULE
    module.parent.mkdir(parents=True)
    module.write_text('"""pin"""\n')
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "after")
    after = _git(tmp_path, "rev-parse", "HEAD")
    assert pins_kernels(tmp_path, before) is False
    assert pins_kernels(tmp_path, after) is True


def test_only_a_differing_rebuild_of_an_unpinned_commit_gets_the_kernels_reason() -> None:
    base = {"commit": "de1170b920aade253d45ace42e0a2163f5e07b70", "reproduced": False}
    reason = why_different({**base, "kernels_pinned": False})
    assert reason and "de1170b920aa predates the pinned CPU kernels (ADR 0005)" in reason
    assert why_different({**base, "kernels_pinned": True}) is None
    assert why_different({**base, "reproduced": True, "kernels_pinned": False}) is None
