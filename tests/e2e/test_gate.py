"""The deploy gate end to end: a normal challenger is promoted, a regressed one refused."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import BIN, DVC, sh, stages_run

pytestmark = pytest.mark.e2e


def _gramops(repo: Path, *args: str, check: bool = True):
    return sh([str(BIN / "gramops"), *args], cwd=repo, check=check)


def _production(repo: Path) -> str:
    return json.loads((repo / "models/registry/aliases.json").read_text())["production"]


def _family_of(repo: Path, sha: str) -> str:
    return json.loads(_gramops(repo, "registry", "show", sha).stdout)["family"]


@pytest.fixture
def workspace(pipeline_repo, tmp_path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(pipeline_repo["path"], copy, symlinks=True)
    return copy


def test_normal_challenger_is_promoted_and_rollback_undoes_it(workspace):
    # start from the FP32 model in production, as a fresh registry would
    _gramops(workspace, "promote", "v0.1.0")
    assert _family_of(workspace, _production(workspace)) == "fp32"
    result = sh([DVC, "repro"], cwd=workspace)
    assert {"drift", "traffic", "gate"} <= set(stages_run(result.stdout))
    gate = json.loads((workspace / "metrics/gate.json").read_text())
    assert gate["decision"] == "promote", gate["reasons"]
    assert all(rule["verdict"] == "pass" for rule in gate["rules"])
    assert _family_of(workspace, _production(workspace)) == "int8"
    assert _gramops(workspace, "gate", "--check").returncode == 0
    history = json.loads(_gramops(workspace, "registry", "history", "--json").stdout)
    assert [row["moved_by"] for row in history][-1] == "stage:gate"
    # one command back
    out = _gramops(workspace, "rollback").stdout
    assert "production:" in out
    assert _family_of(workspace, _production(workspace)) == "fp32"


def test_regressed_challenger_is_blocked_and_production_stays(workspace):
    before = _production(workspace)
    sh([DVC, "exp", "run", "-S", "train.label_noise=0.6"], cwd=workspace)
    gate = json.loads((workspace / "metrics/gate.json").read_text())
    assert gate["decision"] == "block"
    failed = {rule["name"] for rule in gate["rules"] if rule["verdict"] == "fail"}
    assert failed and gate["reasons"]
    assert _production(workspace) == before
    check = _gramops(workspace, "gate", "--check", check=False)
    assert check.returncode == 1
    assert "block" in check.stdout
