"""params.yaml is written the way `dvc exp run -S` rewrites it, so an experiment's diff of it
shows only the values the experiment set (DVC re-dumps the whole file with ruamel)."""

import difflib
import shutil
from pathlib import Path

import pytest
import yaml

from helpers.paths import ROOT


def _set_params(tmp_path: Path, *overrides: str) -> tuple[list[str], list[str]]:
    """params.yaml before and after DVC's own `-S` code applied these overrides to a copy."""
    from dvc.utils.hydra import apply_overrides  # exactly what `dvc exp run -S` calls

    copy = tmp_path / "params.yaml"
    shutil.copyfile(ROOT / "params.yaml", copy)
    apply_overrides(copy, list(overrides))
    before = (ROOT / "params.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    return before, copy.read_text(encoding="utf-8").splitlines(keepends=True)


def _changes(before: list[str], after: list[str]) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before, after, n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_dvc_rewrites_params_yaml_unchanged(tmp_path: Path) -> None:
    before, after = _set_params(tmp_path, "shift.intensity=0.0")  # the value it already has
    assert _changes(before, after) == []


@pytest.mark.parametrize(
    ("override", "removed", "added"),
    [
        ("shift.intensity=0.5", "  intensity: 0.0\n", "  intensity: 0.5\n"),
        ("release.notify_url=http://ci/hook", "  notify_url:\n", "  notify_url: http://ci/hook\n"),
        ("serve.canary.alias=canary", "    alias:\n", "    alias: canary\n"),
    ],
)
def test_an_experiments_diff_is_its_one_line(
    tmp_path: Path, override: str, removed: str, added: str
) -> None:
    before, after = _set_params(tmp_path, override)
    assert _changes(before, after) == [f"-{removed}", f"+{added}"]


def test_the_style_changes_no_value(tmp_path: Path) -> None:
    # DVC compares params by value: a restyled file leaves `dvc status` clean
    before, after = _set_params(tmp_path, "shift.intensity=0.0")
    assert yaml.safe_load("".join(after)) == yaml.safe_load("".join(before))
    params = yaml.safe_load("".join(before))
    assert params["release"]["notify_url"] is None and params["pull_corpus"]["url"] is None
    assert params["traffic"]["canary_steps"] == [0.01, 0.05, 0.25, 0.5, 1.0]
