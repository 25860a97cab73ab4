"""Releases you can trust, on the real pipeline: the pipeline decides, people act.

Each test starts from a copy of the fresh clone that `make repro` produced and runs the
commands a user runs. Regression tests for issue 11's cases 1-7 (cases 8-11 are unit
tests: tests/monitoring/test_gate.py, tests/monitoring/test_cost.py,
tests/monitoring/test_traffic.py, tests/registry/test_edges.py).
"""

import json
import shutil
from pathlib import Path

import pytest

from helpers.paths import BIN, DVC
from helpers.processes import sh, stages_run

pytestmark = pytest.mark.e2e

REGRESSED = "train.label_noise=0.6"  # a deliberately worse model: the gate must refuse it


@pytest.fixture
def workspace(pipeline_repo, tmp_path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(pipeline_repo["path"], copy, symlinks=True)
    return copy


def gramops(repo: Path, *args: str, check: bool = True):
    return sh([str(BIN / "gramops"), *args], cwd=repo, check=check)


def _json(repo: Path, path: str) -> dict:
    return json.loads((repo / path).read_text(encoding="utf-8"))


def _production(repo: Path) -> str:
    return _json(repo, "models/registry/aliases.json")["production"]


def _check(repo: Path) -> tuple[int, str]:
    result = gramops(repo, "gate", "--check", check=False)
    return result.returncode, result.stdout


def _consistent(repo: Path) -> dict:
    """`registry verify --mlflow` is ok: the registry is whole, MLflow equals it, and every
    metrics file names entries that exist. Returns the verify report."""
    report = json.loads(gramops(repo, "registry", "verify", "--mlflow", "--json").stdout)
    assert report["ok"], report
    assert report["mlflow"] == [], report["mlflow"]
    assert report["missing"] == report["tampered"] == report["errors"] == []
    listed = {e["sha"] for e in json.loads(gramops(repo, "registry", "list", "--json").stdout)}
    for family, sha in _json(repo, "metrics/registry.json")["shas"].items():
        assert sha[:12] in listed, f"metrics/registry.json names {family} {sha}: not registered"
    return report


def _repro(repo: Path, *args: str) -> str:
    result = sh([DVC, "repro", *args], cwd=repo)
    return result.stdout + result.stderr


def _exp(repo: Path, *params: str) -> str:
    args = [arg for p in params for arg in ("-S", p)]
    result = sh([DVC, "exp", "run", *args], cwd=repo)
    return result.stdout + result.stderr


def _settled(repo: Path) -> None:
    status = sh([DVC, "status"], cwd=repo).stdout
    assert "up to date" in status, status


def _restore(repo: Path) -> None:
    """Back to the commit: tracked files, and the entries an experiment left untracked."""
    sh(["git", "reset", "-q", "--hard"], cwd=repo)
    sh(["git", "clean", "-fdq", "models/registry/entries"], cwd=repo)
    sh([DVC, "checkout", "-q"], cwd=repo)


def test_the_release_sequence_keeps_registry_gate_and_mlflow_in_line(workspace):
    ws = workspace
    start = _production(ws)
    tags = _json(ws, "models/registry/tags.json")
    _consistent(ws)
    assert _check(ws)[0] == 0

    # a regressed experiment: blocked, production untouched, no semver consumed (case 7)
    _exp(ws, REGRESSED)
    gate = _json(ws, "metrics/gate.json")
    assert gate["decision"] == "block" and gate["candidate"] != start
    assert _production(ws) == start
    assert _json(ws, "models/registry/tags.json") == tags
    code, text = _check(ws)
    assert code == 1 and "fails the gate" in text
    _consistent(ws)

    # the experiment's commit carries every registry file it changed (case 3)
    name = sh([DVC, "exp", "ls", "--name-only"], cwd=ws).stdout.split()[-1]
    sh([DVC, "exp", "apply", name], cwd=ws)
    _consistent(ws)
    assert "Running stage" not in _repro(ws)  # applied results are current
    assert _check(ws)[0] == 1
    # as a branch: a checkout of it holds a whole registry (its bytes are not there: the
    # object store is not in git, so its new entries are "not in this store", not missing)
    sh([DVC, "exp", "branch", name, "regressed"], cwd=ws)
    sh(["git", "worktree", "add", "-q", str(ws.parent / "branch"), "regressed"], cwd=ws)
    report = json.loads(gramops(ws.parent / "branch", "registry", "verify", "--json").stdout)
    assert report["ok"] and report["errors"] == [] and report["missing"] == []
    assert gate["candidate"] in report["absent"]
    sh([DVC, "exp", "remove", name], cwd=ws)
    _consistent(ws)

    # the same experiment again, from a reset workspace: register runs for real, never
    # replayed from the run-cache into a state naming entries the registry lacks (case 2)
    _restore(ws)
    out = _exp(ws, REGRESSED)
    assert "Running stage 'register'" in out
    assert "Stage 'register' is cached" not in out
    _consistent(ws)
    code, text = _check(ws)
    assert code == 1 and "fails the gate" in text

    # a good candidate via params, then a signed promotion
    _restore(ws)
    _consistent(ws)
    (ws / "params.yaml").write_text(
        (ws / "params.yaml").read_text().replace("  patience: 4\n", "  patience: 5\n", 1)
    )
    _repro(ws)
    gate = _json(ws, "metrics/gate.json")
    assert gate["decision"] == "promote", gate["reasons"]
    candidate = gate["candidate"]
    refused = gramops(ws, "promote", candidate, check=False)
    assert refused.returncode == 2 and "needs a reason" in refused.stderr
    out = gramops(ws, "promote", candidate[:12], "-m", "same quality, new training params").stdout
    assert "production:" in out and "v0.2." in out
    assert _production(ws) == candidate
    record = gramops(ws, "registry", "history", "--json").stdout
    assert json.loads(record)[-1]["reason"] == "same quality, new training params"
    code, text = _check(ws)
    assert code == 1 and "stale" in text  # the decision judged the old production
    _consistent(ws)

    # ONE repro re-evaluates drift and traffic for the new production and settles; it
    # never moves production back (case 4)
    ran = stages_run(_repro(ws))
    assert {"drift", "traffic", "gate"} <= set(ran)
    _settled(ws)
    assert _production(ws) == candidate
    assert _json(ws, "metrics/gate.json")["decision"] == "hold"
    assert _check(ws)[0] == 0
    _consistent(ws)

    # rollback: one command with a reason; the next repro re-judges and settles
    out = gramops(ws, "rollback", "-m", "learners report odd VBZ answers").stdout
    assert f"-> {start[:12]}" in out
    _repro(ws)
    _settled(ws)
    assert _production(ws) == start
    gate = _json(ws, "metrics/gate.json")
    assert gate["registry"]["production"] == start  # the gate judged what the registry says
    assert gate["candidate"] == candidate and gate["decision"] == "block"
    assert [r["name"] for r in gate["rules"] if r["verdict"] == "fail"] == ["not_rolled_back"]
    code, text = _check(ws)
    assert code == 1 and "not_rolled_back" in text
    listed = json.loads(gramops(ws, "registry", "list", "--json").stdout)
    assert [e["sha"] for e in listed if "production" in e["aliases"]] == [start[:12]]
    _consistent(ws)


def test_case1_a_moved_production_is_judged_afresh_never_replayed(workspace):
    ws = workspace
    before = _production(ws)
    fp32 = _json(ws, "metrics/registry.json")["shas"]["fp32"]
    refused = gramops(ws, "promote", fp32, "-m", "try fp32", check=False)
    assert refused.returncode == 1 and "refusing to promote" in refused.stderr
    gramops(ws, "promote", fp32, "--force", "-m", "incident: int8 kernel bug")
    out = _repro(ws)
    assert "Stage 'gate' is cached" not in out and "Running stage 'gate'" in out
    gate = _json(ws, "metrics/gate.json")
    assert "moved" not in gate
    assert gate["production"] == gate["registry"]["production"] == fp32 == _production(ws)
    code, text = _check(ws)
    assert code == 1 and "forced past the gate" in text
    # the gate recommends int8 again, but only a person moves production back
    assert gate["decision"] == "promote" and gate["candidate"] == before
    assert _production(ws) == fp32
    _settled(ws)


def test_case5_hand_moves_of_production_fail_the_deploy_gate(workspace):
    ws = workspace
    lora = _json(ws, "metrics/registry.json")["shas"]["lora"]
    refused = gramops(ws, "registry", "alias", "production", lora, check=False)
    assert refused.returncode == 2 and "moves only by a promotion" in refused.stderr
    aliases = ws / "models/registry/aliases.json"
    aliases.write_text(json.dumps({"production": lora}))
    code, text = _check(ws)
    assert code == 1 and "edited by hand" in text
    # the gate's decision, whatever it was, no longer describes this production
    assert "stale" in text


def test_case6_registry_files_restored_with_git_resync_mlflow(workspace):
    ws = workspace
    fp32 = _json(ws, "metrics/registry.json")["shas"]["fp32"]
    gramops(ws, "promote", fp32, "--force", "-m", "drill")
    _consistent(ws)  # promote synced MLflow at once
    _repro(ws)
    _consistent(ws)
    # the registry files restored with git: MLflow still shows the drill's production,
    # `verify --mlflow` says so, and the mirror's declared inputs make the next repro fix it
    sh(["git", "checkout", "--", "models/registry"], cwd=ws)
    report = json.loads(gramops(ws, "registry", "verify", "--mlflow", "--json", check=False).stdout)
    assert any("production" in line for line in report["mlflow"]), report["mlflow"]
    assert "mirror" in stages_run(_repro(ws))
    _consistent(ws)
    _settled(ws)
