"""The real pipeline, cold, in a fresh clone: behaviour users expect from `dvc repro`."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import DVC, sh, stages_run
from gramops.provenance import dvc_dir_hash
from gramops.identity import canonical_sha

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
}


def _json(repo: Path, path: str) -> dict:
    return json.loads((repo / path).read_text())


def test_cold_repro_runs_every_stage_and_reproduces_the_committed_lock(pipeline_repo):
    repo = pipeline_repo["path"]
    assert set(stages_run(pipeline_repo["output"])) == ALL_STAGES
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
    assert set(stages_run(sh([DVC, "repro"], cwd=clone).stdout)) == {"finetune", "evaluate@lora"}

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
