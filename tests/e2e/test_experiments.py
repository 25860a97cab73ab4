"""Shift variants as DVC experiments: only the stages downstream of `shift` re-run."""

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from helpers.paths import BIN, DVC
from helpers.processes import sh, stages_run

pytestmark = pytest.mark.e2e

# everything downstream of shift whose inputs a new week of traffic changes; never prepare,
# train, quantize, finetune or register, nor cost (counted on the reference split) or
# lineage (the registry), whose inputs a shift cannot change.
DOWNSTREAM = {"shift", "drift", "traffic", "cpqu", "gate", "status", "mirror"}


@pytest.fixture
def workspace(pipeline_repo, tmp_path) -> Path:
    """A copy of the reproduced clone (with its DVC cache), so experiments stay apart."""
    copy = tmp_path / "ws"
    shutil.copytree(pipeline_repo["path"], copy, symlinks=True)
    return copy


def _exp_names(repo: Path) -> set[str]:
    shown = json.loads(sh([DVC, "exp", "show", "--json"], cwd=repo).stdout)
    return {exp["name"] for rev in shown for exp in (rev.get("experiments") or [])}


def _registry_verifies(repo: Path) -> None:
    report = json.loads(sh([str(BIN / "gramops"), "registry", "verify", "--json"], cwd=repo).stdout)
    assert report["ok"] is True, report
    assert report["missing"] == report["tampered"] == report["errors"] == []


def _registry_untouched(repo: Path) -> None:
    """No stage of an experiment wrote to the registry (the mirror included)."""
    changed = sh(["git", "status", "--porcelain", "models/registry"], cwd=repo).stdout
    assert changed == "", changed


def test_shift_variant_reruns_only_downstream_stages(workspace):
    before = json.loads((workspace / "metrics/gate.json").read_text())
    result = sh([DVC, "exp", "run", "-S", "shift.intensity=0.8"], cwd=workspace)
    assert set(stages_run(result.stdout)) == DOWNSTREAM
    # the counted costs are as committed: cpqu combined them with the new week, no re-count
    assert sh(["git", "diff", "HEAD", "--", "metrics/cost.json"], cwd=workspace).stdout == ""
    drift = json.loads((workspace / "metrics/drift.json").read_text())
    assert drift["status"] == "major" and drift["retrain"] is True
    # the gate re-decided on the new week against the same registry state; nothing moved
    gate = json.loads((workspace / "metrics/gate.json").read_text())
    assert gate["registry"] == before["registry"]
    assert (gate["decision"], gate["candidate"]) == (before["decision"], before["candidate"])
    _registry_untouched(workspace)
    _registry_verifies(workspace)
    assert json.loads(sh([DVC, "status", "--json"], cwd=workspace).stdout or "{}") == {}
    # mirrored into the workspace's MLflow store, tagged with the experiment's name
    with sqlite3.connect(workspace / "mlflow.db") as db:
        names = {v for (v,) in db.execute("select value from tags where key='gramops.dvc_exp'")}
    assert names & _exp_names(workspace)


def _drift_runs(repo: Path) -> int:
    with sqlite3.connect(repo / "mlflow.db") as db:
        query = "select count(*) from tags where key='gramops.stage' and value='drift'"
        return db.execute(query).fetchone()[0]


def test_queued_grid_runs_and_lists_drift_per_variant(workspace):
    drift_runs = _drift_runs(workspace)
    sh(
        [
            DVC,
            "exp",
            "run",
            "--queue",
            "-S",
            "shift.kind=tense,lemma",
            "-S",
            "shift.intensity=0.2,0.6",
        ],
        cwd=workspace,
    )
    # two workers at once: both mirror into the workspace's mlflow.db and read its registry
    sh([DVC, "queue", "start", "-j", "2"], cwd=workspace)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = sh([DVC, "queue", "status"], cwd=workspace).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert "Failed" not in status, status
    shown = json.loads(sh([DVC, "exp", "show", "--json"], cwd=workspace).stdout)
    variants = {}
    for rev in shown:
        for exp in rev.get("experiments") or []:
            data = exp["revs"][0]["data"]
            params = data["params"]["params.yaml"]["data"]["shift"]
            # the headline leads `dvc exp show`; the detail file is in the experiment's commit
            assert data["metrics"]["metrics/summary.json"]["data"]["traffic"].startswith(
                params["kind"]
            )
            shown_drift = sh(["git", "show", f"{data['rev']}:metrics/drift.json"], cwd=workspace)
            variants[(params["kind"], params["intensity"])] = json.loads(shown_drift.stdout)
    assert set(variants) == {("tense", 0.2), ("tense", 0.6), ("lemma", 0.2), ("lemma", 0.6)}
    # a stronger tense shift moves the tag histogram further
    assert (
        variants[("tense", 0.6)]["features"]["tag"]["kl"]
        > variants[("tense", 0.2)]["features"]["tag"]["kl"]
    )
    names = sorted(_exp_names(workspace))
    assert len(names) == 4
    with sqlite3.connect(workspace / "mlflow.db") as db:
        mirrored = {v for (v,) in db.execute("select value from tags where key='gramops.dvc_exp'")}
    assert set(names) <= mirrored
    # one new drift result per variant, none logged twice
    assert _drift_runs(workspace) == drift_runs + 4
    # no variant registered, tagged or moved anything, in the workspace or its own commit
    _registry_untouched(workspace)
    _registry_verifies(workspace)
    commits = sh(["git", "for-each-ref", "--format=%(objectname)", "refs/exps"], cwd=workspace)
    assert len(commits.stdout.split()) == 4
    for commit in commits.stdout.split():
        files = sh(["git", "diff", "--name-only", "HEAD", commit], cwd=workspace).stdout
        assert "models/registry/" not in files, f"{commit} changed the registry:\n{files}"
    out = workspace / "diff"
    sh([DVC, "plots", "diff", names[0], names[1], "-o", str(out)], cwd=workspace)
    assert "cdn.jsdelivr" not in (out / "index.html").read_text()
