"""The release workflow's steps (scripts/release.py, run by .github/workflows/release.yml),
run here in a temporary git repository: GitHub is not needed to test what its jobs do."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gramops.core.fileio import write_json
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle
from helpers.paths import ROOT
from helpers.processes import tool_env

SCRIPT = ROOT / "scripts" / "release.py"


def _run(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=repo,
        env={**tool_env(), "GRAMOPS_ACTOR": "", **(env or {})},
        capture_output=True,
        text=True,
    )


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path) -> dict:
    """A git repo with params.yaml and a tiny registry: int8 `old` in production, a newer
    int8 `new` registered, and a gate decision."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "release-manager@example.com")
    _git(repo, "config", "user.name", "Release Manager")
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    reg = Registry(repo / "models" / "registry", actor="setup")
    base = reg.register(tiny_bundle(tmp_path / "fp32"), family="fp32").sha
    old = reg.register(tiny_bundle(tmp_path / "a", "int8", parent=base, seed=2), family="int8")
    new = reg.register(tiny_bundle(tmp_path / "b", "int8", parent=base, seed=3), family="int8")
    reg.promote(old.sha, reason="first release", first_semver="v0.2.0")
    (repo / ".gitignore").write_text("/models/registry/objects/\n/models/registry/.lock\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "start")
    return {"path": repo, "reg": reg, "old": old.sha, "new": new.sha}


def _decide(repo: dict, decision: str) -> None:
    write_json(
        repo["path"] / "metrics" / "gate.json",
        {
            "decision": decision,
            "candidate": repo["new"],
            "production": repo["old"],
            "rules": [],
            "reasons": ["all 7 rules passed"] if decision == "promote" else ["slices: VBZ"],
            "registry": repo["reg"].state(),
        },
    )


def test_a_passing_gate_moves_staging_then_an_approved_reason_moves_production(repo, webhook):
    url, received, _ = webhook
    _decide(repo, "promote")
    staged = _run(repo["path"], "staging", "--commit")
    assert staged.returncode == 0, staged.stderr
    reg = repo["reg"]
    assert reg.aliases()["staging"] == repo["new"]
    assert reg.aliases()["production"] == repo["old"]  # no human yet: production stays
    subject = _git(repo["path"], "log", "-1", "--format=%s")
    assert subject.startswith(f"Release: staging -> int8 v0.2.1 ({repo['new'][:12]})"), subject
    assert received == []  # only production moves are announced

    released = _run(
        repo["path"],
        "production",
        "-m",
        "approved by the tutor team: same quality, cheaper",
        "--commit",
        env={"GRAMOPS_NOTIFY_URL": url},
    )
    assert released.returncode == 0, released.stderr
    assert reg.aliases()["production"] == repo["new"]
    record = reg.history()[-1]
    assert record["op"] == "promote" and record["semver"] == "v0.2.1"
    assert record["actor"] == "release-manager@example.com"  # git's user.email
    assert record["reason"] == "approved by the tutor team: same quality, cheaper"
    assert record["gate"]["decision"] == "promote" and len(record["gate"]["digest"]) == 64
    assert _git(repo["path"], "status", "--porcelain", "models/registry") == ""
    (message,) = received
    assert message["event"] == "promote" and message["sha"] == repo["new"]
    assert message["previous"] == repo["old"] and message["semvers"] == ["v0.2.1"]
    assert "production promoted to v0.2.1" in message["text"]
    assert "approved by the tutor team" in message["text"]
    assert reg.verify().ok


def test_a_blocked_gate_moves_nothing_and_production_is_refused(repo):
    _decide(repo, "block")
    staged = _run(repo["path"], "staging", "--commit")
    assert staged.returncode == 0
    assert "staging unchanged" in staged.stdout
    assert "staging" not in repo["reg"].aliases()
    before = (repo["path"] / "models/registry/index.jsonl").read_bytes()
    # nothing on staging, so there is nothing to release
    refused = _run(repo["path"], "production", "-m", "ship it")
    assert refused.returncode != 0
    assert (repo["path"] / "models/registry/index.jsonl").read_bytes() == before


def test_production_without_a_reason_is_bad_input(repo):
    _decide(repo, "promote")
    assert _run(repo["path"], "production", "-m", " ").returncode == 2


def test_a_rollback_is_announced_with_its_reason(repo, webhook):
    url, received, _ = webhook
    _decide(repo, "promote")
    assert _run(repo["path"], "staging").returncode == 0
    assert _run(repo["path"], "production", "-m", "release").returncode == 0
    rolled = subprocess.run(
        [str(Path(sys.executable).parent / "gramops"), "rollback", "-m", "complaints: VBZ"],
        cwd=repo["path"],
        env={**tool_env(), "GRAMOPS_NOTIFY_URL": url},
        capture_output=True,
        text=True,
    )
    assert rolled.returncode == 0, rolled.stderr
    assert repo["reg"].aliases()["production"] == repo["old"]
    assert [m["event"] for m in received] == ["rollback"]
    assert "rolled back" in received[0]["text"] and "complaints: VBZ" in received[0]["text"]
