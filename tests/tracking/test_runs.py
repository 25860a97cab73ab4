"""Stage results as MLflow runs: logged once, found again in a few searches, batched."""

import dataclasses
from pathlib import Path

import pytest

from gramops.tracking.connect import Tracker
from gramops.tracking.pipeline import StageResult
from gramops.tracking.runs import TAG_LOCK, TAG_STAGE, mirror_stage_results, pipeline_run_name


def _runs(tracker: Tracker) -> list:
    return tracker.client.search_runs([tracker.experiment_id], max_results=1000)


def test_runs_are_logged_once(tracker: Tracker, results: list, tmp_path: Path) -> None:
    first = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee")
    assert first.logged == ("train", "evaluate@fp32") and first.parent_created
    count = len(_runs(tracker))
    assert count == 3  # one parent, two children

    second = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee")
    assert second.logged == () and not second.parent_created
    assert second.run_ids == first.run_ids and second.parent_run_id == first.parent_run_id
    assert len(_runs(tracker)) == count


def test_child_run_holds_params_metrics_tags_and_artifacts(
    tracker: Tracker, results: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirrored = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee", dvc_exp="exp1")
    run = tracker.client.get_run(mirrored.run_ids["train"])
    assert run.data.params == {"train.lr": "0.001", "base.seed": "7"}
    assert run.data.metrics == {"best_epoch": 4.0}
    tags = run.data.tags
    assert tags[TAG_STAGE] == "train" and tags[TAG_LOCK] == "1" * 64
    assert tags["gramops.git_commit"] == "c0ffee" and tags["gramops.dvc_exp"] == "exp1"
    assert tags["mlflow.parentRunId"] == mirrored.parent_run_id
    assert run.info.status == "FINISHED"
    artifacts = [a.path for a in tracker.client.list_artifacts(run.info.run_id, "metrics")]
    assert artifacts == ["metrics/train.json"]
    # Artifacts land next to the store, never in the current directory (a DVC temp copy).
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "store")


def test_changed_stage_logs_exactly_one_new_child(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    first = mirror_stage_results(tracker, results, tmp_path)
    children_before = [r for r in _runs(tracker) if r.data.tags.get("gramops.kind") == "stage"]
    changed = [results[0], dataclasses.replace(results[1], lock_hash="3" * 64)]

    second = mirror_stage_results(tracker, changed, tmp_path)
    assert second.logged == ("evaluate@fp32",)
    children_after = [r for r in _runs(tracker) if r.data.tags.get("gramops.kind") == "stage"]
    assert len(children_after) == len(children_before) + 1
    assert second.parent_run_id != first.parent_run_id
    assert second.run_ids["train"] == first.run_ids["train"]
    new_child = tracker.client.get_run(second.run_ids["evaluate@fp32"])
    assert new_child.data.tags["mlflow.parentRunId"] == second.parent_run_id
    assert mirror_stage_results(tracker, changed, tmp_path).logged == ()


def test_interrupted_run_is_not_mistaken_for_a_logged_result(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    # A run cut short before its lock hash tag was written does not count as logged.
    tracker.client.create_run(tracker.experiment_id, tags={TAG_STAGE: "train"})
    assert mirror_stage_results(tracker, results, tmp_path).logged == ("train", "evaluate@fp32")


class _CountingClient:
    """An MlflowClient that counts its searches and batches: each is a request to wait on."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.searches = 0
        self.batches = 0

    def search_runs(self, *args: object, **kwargs: object) -> object:
        self.searches += 1
        return self._client.search_runs(*args, **kwargs)

    def log_batch(self, *args: object, **kwargs: object) -> object:
        self.batches += 1
        return self._client.log_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def _many(results: list[StageResult], count: int) -> list[StageResult]:
    return [
        dataclasses.replace(results[i % 2], name=f"stage{i}", lock_hash=f"{i:064x}")
        for i in range(count)
    ]


def test_remirror_searches_a_few_times_not_once_per_result(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    many = _many(results, 12)
    first = mirror_stage_results(tracker, many, tmp_path)
    counting = dataclasses.replace(tracker, client=_CountingClient(tracker.client))

    again = mirror_stage_results(counting, many, tmp_path)
    assert again.logged == () and again.run_ids == first.run_ids
    assert counting.client.searches <= 2  # this execution's parent, then its runs by id

    counting.client.searches = 0
    changed = [*many[:-1], dataclasses.replace(many[-1], lock_hash="f" * 64)]
    third = mirror_stage_results(counting, changed, tmp_path)
    assert third.logged == ("stage11",)
    assert {k: v for k, v in third.run_ids.items() if k != "stage11"} == {
        k: v for k, v in first.run_ids.items() if k != "stage11"
    }
    # no parent for the new execution, the newest parent, its runs by id, the changed stage
    assert counting.client.searches <= 4


def test_values_go_in_one_batch_per_run_within_mlflow_limits(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    counting = dataclasses.replace(tracker, client=_CountingClient(tracker.client))
    mirror_stage_results(counting, results, tmp_path)
    assert counting.client.batches == 2  # one per stage result: params and metrics together

    params = {f"p{i:03d}": str(i) for i in range(250)}
    metrics = {f"m{i:04d}": float(i) for i in range(1500)}
    big = [dataclasses.replace(results[0], name="big", params=params, metrics=metrics)]
    counting.client.batches = 0
    mirrored = mirror_stage_results(counting, big, tmp_path)
    # at most 100 params and 1,000 values per request: 100+900, 100+600, 50
    assert counting.client.batches == 3
    run = tracker.client.get_run(mirrored.run_ids["big"])
    assert run.data.params == params and run.data.metrics == metrics


def test_deleted_or_unlisted_runs_are_found_or_logged_again(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    first = mirror_stage_results(tracker, results, tmp_path)
    # a parent whose list was edited by hand: every result is still found by its tags
    tracker.client.set_tag(first.parent_run_id, "gramops.stage_runs", "not json")
    again = mirror_stage_results(tracker, results, tmp_path)
    assert again.logged == () and again.run_ids == first.run_ids
    # a listed run deleted in the MLflow UI is no longer a logged result
    tracker.client.delete_run(first.run_ids["train"])
    third = mirror_stage_results(tracker, results, tmp_path)
    assert third.logged == ("train",) and third.run_ids["train"] != first.run_ids["train"]


# -- model registry ----------------------------------------------------------------------------


def test_runs_logged_under_the_stores_tag_names_are_found(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    """Existing stores tag runs ``gramops.stage`` and ``gramops.pipeline``: a result logged
    there is reused, not logged again (renaming a tag would re-log every stage once)."""
    old = tracker.client.create_run(
        tracker.experiment_id, tags={"gramops.kind": "stage", "gramops.stage": "train"}
    ).info.run_id
    tracker.client.set_terminated(old)
    tracker.client.set_tag(old, "gramops.lock_hash", "1" * 64)
    mirrored = mirror_stage_results(tracker, results, tmp_path)
    assert mirrored.logged == ("evaluate@fp32",) and mirrored.run_ids["train"] == old
    parent = tracker.client.get_run(mirrored.parent_run_id)
    assert parent.data.tags["gramops.pipeline"] == mirrored.pipeline


# -- what a person sees and searches -----------------------------------------------------------


def _gate(decision: str, score: float, lock: str = "4") -> StageResult:
    return StageResult(
        name="gate",
        lock_hash=lock * 64,
        params={"gate.margin": "0.02"},
        metrics={"gate_decision": score},
        artifacts=(),
        tags={"gate_decision": decision},
    )


def test_pipeline_run_is_named_by_the_experiment_or_the_commit(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    commit = "c07c8ce8a0a5a6b1d6c0e1f2a3b4c5d6e7f80910"
    by_exp = mirror_stage_results(
        tracker, results, tmp_path, git_commit=commit, dvc_exp="lucid-lair"
    )
    assert tracker.client.get_run(by_exp.parent_run_id).info.run_name == "lucid-lair"
    changed = [results[0], dataclasses.replace(results[1], lock_hash="5" * 64)]
    by_commit = mirror_stage_results(tracker, changed, tmp_path, git_commit=commit)
    assert tracker.client.get_run(by_commit.parent_run_id).info.run_name == "c07c8ce"
    assert pipeline_run_name("ab" * 32, None, None) == "pipeline ababababab" + "ab"


def test_stage_runs_span_the_stages_own_times(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    timed = [
        dataclasses.replace(results[0], start_ms=1_700_000_000_000, end_ms=1_700_000_004_250),
        dataclasses.replace(results[1], start_ms=1_700_000_005_000, end_ms=1_700_000_005_900),
    ]
    untimed = dataclasses.replace(results[1], name="evaluate@int8", lock_hash="6" * 64)
    mirrored = mirror_stage_results(tracker, [*timed, untimed], tmp_path)
    train = tracker.client.get_run(mirrored.run_ids["train"])
    assert (train.info.start_time, train.info.end_time) == (1_700_000_000_000, 1_700_000_004_250)
    assert train.data.tags["gramops.times"] == "stage"
    # the parent starts with the first stage it ran
    parent = tracker.client.get_run(mirrored.parent_run_id)
    assert parent.info.start_time == 1_700_000_000_000
    # no record: the mirror's own time, and the run says so
    other = tracker.client.get_run(mirrored.run_ids["evaluate@int8"])
    assert other.data.tags["gramops.times"] == "mirror"
    assert other.info.start_time > 1_700_000_005_900


def test_a_parent_starting_with_its_children_is_found_again(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    # a parent starts when its first stage did: searched by start time alone, a child tied
    # with it (its children carry the pipeline tag too) would be taken for the parent
    at = {"start_ms": 1_700_000_000_000, "end_ms": 1_700_000_001_000}
    same = [dataclasses.replace(r, **at) for r in _many(results, 12)]
    first = mirror_stage_results(tracker, same, tmp_path)
    again = mirror_stage_results(tracker, same, tmp_path)
    assert again.logged == () and again.parent_run_id == first.parent_run_id
    for run_id in first.run_ids.values():
        assert "gramops.stage_runs" not in tracker.client.get_run(run_id).data.tags


def test_training_history_is_logged_as_step_metrics(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    curve = {"dev_accuracy": ((1, 0.5), (2, 0.75), (3, 0.8)), "train_loss": ((1, 0.9), (2, 0.4))}
    train = dataclasses.replace(results[0], series=curve, end_ms=1_700_000_004_250)
    mirrored = mirror_stage_results(tracker, [train, results[1]], tmp_path)
    run_id = mirrored.run_ids["train"]
    history = tracker.client.get_metric_history(run_id, "dev_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.5), (2, 0.75), (3, 0.8)]
    assert {m.timestamp for m in history} == {1_700_000_004_250}
    run = tracker.client.get_run(run_id)
    assert run.data.metrics["train_loss"] == 0.4  # the latest step's value
    assert run.data.metrics["best_epoch"] == 4.0


def test_search_by_gate_decision_finds_the_gate_and_pipeline_runs(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    import mlflow

    blocked = mirror_stage_results(tracker, [*results, _gate("block", -1.0)], tmp_path)
    promoted = mirror_stage_results(tracker, [*results, _gate("promote", 1.0, "7")], tmp_path)
    # the fluent API a person uses reads the store from MLFLOW_TRACKING_URI, as the fixture sets
    assert mlflow.get_tracking_uri() == tracker.uri
    found = mlflow.search_runs(
        experiment_names=["gramops"], filter_string="tags.gate_decision = 'block'"
    )
    assert set(found["run_id"]) == {blocked.parent_run_id, blocked.run_ids["gate"]}
    pipelines = mlflow.search_runs(
        experiment_names=["gramops"],
        filter_string="metrics.gate_decision < 0 and tags.`gramops.kind` = 'pipeline'",
    )
    assert list(pipelines["run_id"]) == [blocked.parent_run_id]
    passed = mlflow.search_runs(
        experiment_names=["gramops"], filter_string="tags.gate_decision = 'promote'"
    )
    assert promoted.parent_run_id in set(passed["run_id"])
    # the train and evaluate runs both executions share are not tagged with either verdict
    assert blocked.run_ids["train"] not in set(found["run_id"])


def test_a_parent_without_the_verdict_gets_it_on_the_next_mirror(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    gated = [*results, _gate("block", -1.0)]
    first = mirror_stage_results(tracker, gated, tmp_path)
    # a store written before verdicts were tagged
    tracker.client.delete_tag(first.parent_run_id, "gate_decision")
    again = mirror_stage_results(tracker, gated, tmp_path)
    assert again.logged == () and again.parent_run_id == first.parent_run_id
    parent = tracker.client.get_run(first.parent_run_id)
    assert parent.data.tags["gate_decision"] == "block"
    assert parent.data.metrics["gate_decision"] == -1.0
