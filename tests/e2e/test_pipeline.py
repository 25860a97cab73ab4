"""The real pipeline, cold, in a fresh clone: behaviour users expect from `dvc repro`."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from conftest import BIN, DVC, sh, stages_run
from gramops.identity import canonical_sha
from gramops.provenance import dvc_dir_hash

pytestmark = pytest.mark.e2e

ALL_STAGES = {
    "pull_corpus",
    "prepare",
    "train",
    "quantize",
    "finetune",
    "evaluate@fp32",
    "evaluate@int8",
    "evaluate@lora",
    "register",
    "lineage",
    "shift",
    "drift",
    "traffic",
    "cpqu",
    "gate",
    "status",
    "mirror",
}


def _json(repo: Path, path: str) -> dict:
    return json.loads((repo / path).read_text())


def test_cold_repro_runs_every_stage_and_reproduces_the_committed_lock(pipeline_repo):
    repo = pipeline_repo["path"]
    # the monitoring, cost, gate and lineage stages write git-tracked metrics and plots,
    # already right in a clone; every other stage has an output a fresh clone lacks
    # (DVC-cached data and models, the register and mirror summaries).
    tracked_only = {"drift", "traffic", "cpqu", "gate", "lineage", "status"}
    assert set(stages_run(pipeline_repo["output"])) == ALL_STAGES - tracked_only
    # Same code, data, params and seed: dvc.lock and the git-tracked metrics are unchanged.
    status = sh(["git", "status", "--porcelain"], cwd=repo).stdout
    assert status == "", f"a fresh clone's repro changed tracked files:\n{status}"


def test_second_repro_runs_nothing(pipeline_repo):
    result = sh([DVC, "repro"], cwd=pipeline_repo["path"])
    assert stages_run(result.stdout) == []


def test_quality_and_size_targets(pipeline_repo):
    repo = pipeline_repo["path"]
    corpus = _json(repo, "metrics/corpus.json")
    fp32, int8, lora = (_json(repo, f"metrics/eval/{m}.json") for m in ("fp32", "int8", "lora"))
    assert corpus["domains"]["verb"] >= 12_000
    assert corpus["located_share"] >= 0.97
    assert fp32["verb"]["strict_accuracy"] >= 0.84
    assert abs(int8["verb"]["pass_rate"] - fp32["verb"]["pass_rate"]) <= 0.005
    fp32_bytes = (repo / "models/fp32/model.safetensors").stat().st_size
    assert (repo / "models/int8/model.safetensors").stat().st_size <= 0.30 * fp32_bytes
    assert lora["tutor"]["strict_accuracy"] > fp32["tutor"]["strict_accuracy"]
    # one cost row per registry entry
    costs = _json(repo, "metrics/cpqu.json")["entries"]
    entries = list((repo / "models/registry/entries").glob("*.json"))
    assert len(costs) == len(entries)
    table = [
        line
        for line in (repo / "metrics/COSTS.md").read_text().splitlines()
        if line.startswith("| v")
    ]
    assert len(table) == len(entries)
    # the default shift intensity is 0: traffic is drawn like the reference
    drift = _json(repo, "metrics/drift.json")
    assert drift["status"] == "none" and drift["retrain"] is False


def test_lineage_links_are_recorded(pipeline_repo):
    repo = pipeline_repo["path"]
    fp32_sha = canonical_sha(repo / "models/fp32")
    for child in ("int8", "lora"):
        assert _json(repo, f"models/{child}/train_manifest.json")["parent_sha"] == fp32_sha
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    recorded = next(
        o["md5"] for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/processed"
    )
    manifest = _json(repo, "models/fp32/train_manifest.json")
    assert manifest["corpus"]["dvc_hash"] == recorded == dvc_dir_hash(repo / "data/processed")
    assert manifest["parent_sha"] is None


def _edit_yaml(path: Path, section: str, key: str, value) -> None:
    data = yaml.safe_load(path.read_text())
    data[section][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_changes_rerun_only_what_they_affect(pipeline_repo, tmp_path):
    clone = tmp_path / "clone"
    sh(["git", "clone", "--quiet", str(pipeline_repo["path"]), str(clone)], cwd=tmp_path)
    # Share the first run's cache so this clone starts from the same outputs.
    cache = pipeline_repo["path"] / ".dvc" / "cache"
    sh([DVC, "cache", "dir", "--local", str(cache)], cwd=clone)
    sh([DVC, "checkout", "--quiet"], cwd=clone)
    assert stages_run(sh([DVC, "repro"], cwd=clone).stdout) == []

    params = yaml.safe_load((clone / "params.yaml").read_text())
    _edit_yaml(clone / "params.yaml", "finetune", "rank", params["finetune"]["rank"] // 2)
    rerun = set(stages_run(sh([DVC, "repro"], cwd=clone).stdout))
    # the new adapter is a new registry entry, which the monitoring and cost stages see;
    # nothing upstream of finetune re-runs
    assert {"finetune", "evaluate@lora", "register", "cpqu", "mirror"} <= rerun
    assert not rerun & {
        "pull_corpus",
        "prepare",
        "train",
        "evaluate@fp32",
        "quantize",
        "evaluate@int8",
        "shift",
    }

    module = clone / "src/gramops/evaluate.py"
    module.write_text(module.read_text() + "\n# a comment changes the file hash\n")
    ran = set(stages_run(sh([DVC, "repro"], cwd=clone).stdout))
    # Reports are byte-identical, so nothing downstream of evaluation re-runs.
    assert ran == {"evaluate@fp32", "evaluate@int8", "evaluate@lora"}


def test_bad_params_fail_before_any_work(pipeline_repo, tmp_path):
    clone = tmp_path / "clone"
    sh(["git", "clone", "--quiet", str(pipeline_repo["path"]), str(clone)], cwd=tmp_path)
    _edit_yaml(clone / "params.yaml", "train", "hidden", -3)
    result = sh([DVC, "repro", "train"], cwd=clone, check=False)
    assert result.returncode != 0
    assert "train.hidden" in result.stdout + result.stderr
    assert not (clone / "data" / "raw" / "wordnet").exists()


def _gramops(repo: Path, *args: str, check: bool = True):
    return sh([str(BIN / "gramops"), *args], cwd=repo, check=check)


def test_fresh_clone_reregisters_same_shas_and_restores_objects(pipeline_repo):
    repo = pipeline_repo["path"]
    # git status is clean (first test), so index.jsonl, tags and entries are unchanged.
    verify = json.loads(_gramops(repo, "registry", "verify", "--json", check=False).stdout)
    assert verify["tampered"] == [] and verify["errors"] == []
    # Objects live outside git: only entries registered elsewhere may lack them here, never
    # the models this clone just rebuilt and re-registered.
    missing = {sha for sha, _path, _obj in verify["missing"]}
    for family in ("fp32", "int8", "lora"):
        sha = canonical_sha(repo / "models" / family)
        assert sha not in missing
        shown = json.loads(_gramops(repo, "registry", "show", sha).stdout)
        assert shown["family"] == family and shown["semvers"]


def test_lineage_of_every_model_ends_at_the_corpus_hash_that_dvc_restores(pipeline_repo, tmp_path):
    repo = pipeline_repo["path"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    corpus_hash = next(
        o["md5"] for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/processed"
    )
    for family in ("fp32", "int8", "lora"):
        sha = canonical_sha(repo / "models" / family)
        chain = json.loads(_gramops(repo, "lineage", sha, "--json").stdout)
        assert [link.get("family") for link in chain[:-1]][-1] == "fp32"
        assert chain[-1] == {"kind": "corpus", "dvc_hash": corpus_hash}
    # The hash is a DVC key: push it, then restore it in another clone, byte for byte.
    sh([DVC, "push", "--quiet", "prepare"], cwd=repo)
    other = tmp_path / "other"
    sh(["git", "clone", "--quiet", str(repo), str(other)], cwd=tmp_path)
    sh(
        [DVC, "remote", "modify", "--local", "local", "url", str(repo / "data/dvc-remote")],
        cwd=other,
    )
    sh([DVC, "pull", "--quiet", "prepare"], cwd=other)
    assert dvc_dir_hash(other / "data/processed") == corpus_hash
    for split in ("train", "dev", "test"):
        name = f"data/processed/{split}.jsonl"
        assert (other / name).read_bytes() == (repo / name).read_bytes()


def test_reproduce_rebuilds_a_registered_model_bit_for_bit(pipeline_repo):
    repo = pipeline_repo["path"]
    sha = canonical_sha(repo / "models" / "int8")
    result = _gramops(repo, "reproduce", sha[:12], "--json")
    report = json.loads(result.stdout)
    assert report["reproduced"] is True
    assert report["rebuilt_sha"] == report["sha"]
    assert report["corpus_matches"] is True


def _run_count(repo: Path) -> int:
    with sqlite3.connect(repo / "mlflow.db") as db:
        return db.execute("select count(*) from runs").fetchone()[0]


def test_mirror_with_mlflow_down_fails_clearly_and_recovers_once(pipeline_repo, tmp_path):
    repo = tmp_path / "ws"
    shutil.copytree(pipeline_repo["path"], repo, symlinks=True)
    runs = _run_count(repo)
    assert runs > 0
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    _edit_yaml(repo / "params.yaml", "drift", "bins", 8)
    down = sh([DVC, "repro"], cwd=repo, check=False, env={"MLFLOW_TRACKING_URI": dead})
    assert down.returncode != 0
    assert stages_run(down.stdout) == ["drift", "gate", "status", "mirror"]
    assert f"MLflow at {dead}" in down.stdout + down.stderr
    # drift's new result is kept; the next repro re-runs only the mirror, which logs the
    # changed stage result once
    result = sh([DVC, "repro"], cwd=repo)
    assert stages_run(result.stdout) == ["mirror"]
    after = _run_count(repo)
    assert after > runs
    sh([DVC, "repro", "--force", "--single-item", "mirror"], cwd=repo)
    assert _run_count(repo) == after
