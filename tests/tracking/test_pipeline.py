"""Collecting stage results from a tiny synthetic dvc.yaml / dvc.lock / metrics workspace."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from gramops.core.stage import STAGE_TIMES, record_stage_time
from gramops.tracking.pipeline import (
    ARTIFACT_MAX_BYTES,
    PipelineError,
    collect_stage_results,
    declared_outputs,
    lock_hash,
    lock_params,
    numeric_leaves,
    pipeline_hash,
)

DVC_YAML = {
    "stages": {
        "prepare": {
            "cmd": "python stages/prepare.py",
            "outs": ["data/processed"],
            "metrics": [{"metrics/corpus.json": {"cache": False}}],
        },
        "train": {
            "cmd": "python stages/train.py",
            "outs": ["models/fp32/model.safetensors", "models/fp32/config.json"],
            "metrics": [{"metrics/train.json": {"cache": False}}, "metrics/train_extra.yaml"],
            "plots": [{"plots/history.csv": {"x": "epoch"}}],
        },
        "evaluate": {
            "foreach": {"fp32": {"weights": "model.safetensors"}, "int8": {"weights": "w.st"}},
            "do": {
                "cmd": "python stages/evaluate.py ${key}",
                "metrics": ["metrics/eval/${key}.json"],
                "plots": ["plots/confusion/${ key }.csv"],
            },
        },
        "mirror": {"cmd": "python stages/mirror.py", "metrics": ["metrics/mirror.json"]},
        "never_run": {"cmd": "true", "metrics": ["metrics/never.json"]},
    }
}


def _out(path: str, md5: str = "0" * 32, size: int = 10) -> dict:
    return {"path": path, "hash": "md5", "md5": md5, "size": size}


LOCK = {
    "schema": "2.0",
    "stages": {
        "prepare": {
            "cmd": "python stages/prepare.py",
            "params": {"params.yaml": {"prepare": {"split": {"train": 0.8}, "tutor": True}}},
            "outs": [_out("data/processed", "1" * 32 + ".dir", 5), _out("metrics/corpus.json")],
        },
        "train": {
            "cmd": "python stages/train.py",
            "params": {
                "params.yaml": {"base.seed": 7, "train": {"lr": 0.001, "note": None}},
                "extra.yaml": {"layers": [1, 2]},
            },
            "outs": [
                _out("models/fp32/model.safetensors", size=ARTIFACT_MAX_BYTES + 1),
                _out("models/fp32/config.json"),
                _out("metrics/train.json"),
                _out("plots/history.csv"),
            ],
        },
        "evaluate@fp32": {"cmd": "python stages/evaluate.py fp32", "outs": []},
        "evaluate@int8": {"cmd": "python stages/evaluate.py int8", "outs": []},
        "mirror": {"cmd": "python stages/mirror.py"},
    },
}

FILES = {
    "metrics/corpus.json": {"records": 10, "share": 0.5, "ok": True, "name": "x", "per": {"a": 1}},
    "metrics/train.json": {"best_epoch": 4, "history": [1, 2], "acc": float("nan")},
    "metrics/eval/fp32.json": {"verb": {"pass_rate": 0.9}},
    "metrics/eval/int8.json": {"verb": {"pass_rate": 0.8}},
    "metrics/mirror.json": {"stage_results": 4},
}

HISTORY = "epoch,train_loss,dev_accuracy\n1,0.9,0.5\n2,0.4,0.75\n3,0.2,\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False), encoding="utf-8")
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK), encoding="utf-8")
    for rel, content in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content), encoding="utf-8")
    (tmp_path / "metrics/train_extra.yaml").write_text("loss: 0.25\nphase: done\n", "utf-8")
    for rel in ("plots/confusion/fp32.csv", "plots/confusion/int8.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "plots/history.csv").write_text(HISTORY, encoding="utf-8")
    (tmp_path / "models/fp32").mkdir(parents=True)
    (tmp_path / "models/fp32/config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "models/fp32/model.safetensors").write_bytes(b"w")
    return tmp_path


def test_collects_locked_stages_in_dvc_yaml_order_without_mirror(workspace: Path) -> None:
    names = [r.name for r in collect_stage_results(workspace)]
    assert names == ["prepare", "train", "evaluate@fp32", "evaluate@int8"]


def test_metrics_are_numeric_flattened_leaves(workspace: Path) -> None:
    results = {r.name: r for r in collect_stage_results(workspace)}
    # One metrics file: bare keys; booleans, strings, lists and NaN are not metrics.
    assert results["prepare"].metrics == {"records": 10.0, "share": 0.5, "per.a": 1.0}
    assert results["evaluate@int8"].metrics == {"verb.pass_rate": 0.8}
    # Several metrics files: keys carry the file path so they cannot collide.
    assert results["train"].metrics == {
        "metrics/train.best_epoch": 4.0,
        "metrics/train_extra.loss": 0.25,
    }


def test_params_come_from_the_lock_as_strings(workspace: Path) -> None:
    results = {r.name: r for r in collect_stage_results(workspace)}
    assert results["prepare"].params == {"prepare.split.train": "0.8", "prepare.tutor": "true"}
    assert results["train"].params == {
        "base.seed": "7",
        "train.lr": "0.001",
        "train.note": "null",
        "extra.yaml:layers": "[1, 2]",
    }
    assert results["evaluate@fp32"].params == {}


def test_artifacts_are_metrics_plots_and_small_file_outs(workspace: Path) -> None:
    results = {r.name: r for r in collect_stage_results(workspace)}
    # data/processed (a directory) and the weights (over the size limit) are left out.
    assert results["prepare"].artifacts == ("metrics/corpus.json",)
    assert results["train"].artifacts == (
        "metrics/train.json",
        "metrics/train_extra.yaml",
        "models/fp32/config.json",
        "plots/history.csv",
    )
    assert results["evaluate@fp32"].artifacts == (
        "metrics/eval/fp32.json",
        "plots/confusion/fp32.csv",
    )


def test_lock_hash_tracks_the_lock_entry(workspace: Path) -> None:
    before = {r.name: r.lock_hash for r in collect_stage_results(workspace)}
    assert before["train"] == lock_hash(LOCK["stages"]["train"])
    lock = json.loads(json.dumps(LOCK))
    lock["stages"]["train"]["params"]["params.yaml"]["train"]["lr"] = 0.01
    (workspace / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")
    after = {r.name: r.lock_hash for r in collect_stage_results(workspace)}
    assert {n for n in before if before[n] != after[n]} == {"train"}


def test_pipeline_hash_changes_with_any_stage(workspace: Path) -> None:
    results = collect_stage_results(workspace)
    changed = [*results[:-1], dataclasses.replace(results[-1], lock_hash="x")]
    assert pipeline_hash(results) == pipeline_hash(list(results))
    assert pipeline_hash(results) != pipeline_hash(changed)


def test_missing_metrics_file_names_it(workspace: Path) -> None:
    (workspace / "metrics/eval/int8.json").unlink()
    with pytest.raises(PipelineError, match=r"metrics/eval/int8\.json"):
        collect_stage_results(workspace)


def test_unresolvable_template_is_refused() -> None:
    spec = {"stages": {"s": {"foreach": ["a"], "do": {"metrics": ["m/${vars.x}.json"]}}}}
    with pytest.raises(PipelineError, match=r"\$\{vars\.x\}"):
        declared_outputs(spec)


def test_foreach_list_instances_are_named_by_value() -> None:
    spec = {"stages": {"s": {"foreach": ["a", "b"], "do": {"plots": ["p/${item}.csv"]}}}}
    assert declared_outputs(spec) == {
        "s@a": {"metrics": [], "plots": ["p/a.csv"], "history": []},
        "s@b": {"metrics": [], "plots": ["p/b.csv"], "history": []},
    }


# -- what makes runs searchable: histories, verdicts, stage times --------------------------------


def test_training_history_becomes_step_series(workspace: Path) -> None:
    results = {r.name: r for r in collect_stage_results(workspace)}
    # x: epoch is the step; an empty cell (no dev score that epoch) is no point
    assert results["train"].series == {
        "train_loss": ((1, 0.9), (2, 0.4), (3, 0.2)),
        "dev_accuracy": ((1, 0.5), (2, 0.75)),
    }
    assert "plots/history.csv" in results["train"].artifacts  # the CSV stays an artifact
    assert results["evaluate@fp32"].series == {}  # its plot's x is not the epoch


def test_history_column_named_like_a_metric_is_refused(workspace: Path) -> None:
    # train has two metrics files, so its metrics carry the file's path
    text = "epoch,metrics/train.best_epoch\n1,2\n"
    (workspace / "plots/history.csv").write_text(text, encoding="utf-8")
    with pytest.raises(PipelineError, match=r"history\.csv: columns metrics/train\.best_epoch"):
        collect_stage_results(workspace)


def test_history_that_is_not_numeric_names_the_file(workspace: Path) -> None:
    (workspace / "plots/history.csv").write_text("epoch,loss\none,2\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"history\.csv: a training history needs"):
        collect_stage_results(workspace)


@pytest.mark.parametrize(("decision", "score"), [("block", -1.0), ("hold", 0.0), ("promote", 1.0)])
def test_a_decision_is_a_tag_and_an_ordered_metric(
    workspace: Path, decision: str, score: float
) -> None:
    gate = {"decision": decision, "rules": [{"value": 0.5}]}
    (workspace / "metrics/eval/int8.json").write_text(json.dumps(gate), encoding="utf-8")
    results = {r.name: r for r in collect_stage_results(workspace)}
    # a foreach instance is tagged by its stage's name
    assert results["evaluate@int8"].tags == {"evaluate_decision": decision}
    assert results["evaluate@int8"].metrics == {"evaluate_decision": score}
    assert results["evaluate@fp32"].tags == {}


def test_an_unknown_decision_is_tagged_without_a_score(workspace: Path) -> None:
    (workspace / "metrics/eval/int8.json").write_text('{"decision": "maybe"}', encoding="utf-8")
    result = {r.name: r for r in collect_stage_results(workspace)}["evaluate@int8"]
    assert result.tags == {"evaluate_decision": "maybe"} and result.metrics == {}


def test_stage_times_come_from_the_runners_records(workspace: Path) -> None:
    times = workspace / STAGE_TIMES
    record_stage_time("train", 100.0, 101.5, times)
    record_stage_time("evaluate@fp32", 102.0, 103.0, times)
    record_stage_time("train", 200.0, 203.25, times)  # a later run of the same stage wins
    results = {r.name: r for r in collect_stage_results(workspace)}
    assert (results["train"].start_ms, results["train"].end_ms) == (200_000, 203_250)
    assert (results["evaluate@fp32"].start_ms, results["evaluate@fp32"].end_ms) == (
        102_000,
        103_000,
    )
    # no record (ran before records were kept, or the mirror cleared it): no time is made up
    assert (results["prepare"].start_ms, results["prepare"].end_ms) == (None, None)


def test_outputs_marked_as_metrics_are_mirrored_as_metrics() -> None:
    """Detail metrics files are plain outputs marked `type: metrics` (only the headline is
    declared as `metrics`); the mirror logs their numbers all the same."""
    spec = {
        "stages": {
            "drift": {
                "outs": [
                    {"metrics/drift.json": {"cache": False, "type": "metrics"}},
                    {"plots/drift_weekly.csv": {"cache": False}},
                    "data/x",
                ],
                "plots": ["plots/drift.png"],
            },
            "summary": {"metrics": [{"metrics/summary.json": {"cache": False}}]},
        }
    }
    assert declared_outputs(spec) == {
        "drift": {"metrics": ["metrics/drift.json"], "plots": ["plots/drift.png"], "history": []},
        "summary": {"metrics": ["metrics/summary.json"], "plots": [], "history": []},
    }


def test_helpers_directly() -> None:
    assert numeric_leaves({"a": {"b": 2, "c": False}}, "m.") == {"m.a.b": 2.0}
    assert lock_params({}) == {}


def test_yaml_is_read_with_libyaml_safely(workspace: Path) -> None:
    # dvc.lock is tens of kB: the pure-Python loader took a tenth of the mirror stage
    from gramops.tracking import pipeline

    assert yaml.__with_libyaml__  # the pinned PyYAML wheel has libyaml: CSafeLoader exists
    lock_text = (workspace / "dvc.lock").read_text(encoding="utf-8")
    assert pipeline._read_yaml(workspace / "dvc.lock") == yaml.safe_load(lock_text)
