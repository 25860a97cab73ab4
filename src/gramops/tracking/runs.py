"""Stage results as MLflow runs: one parent run per pipeline execution, a child per result.

Runs live in one experiment, ``gramops``: the parent carries ``gramops.pipeline`` (the hash
of all stage lock hashes), each child ``gramops.stage`` and ``gramops.lock_hash``. A stage
whose ``dvc.lock`` entry did not change keeps its earlier run, and every run is found again
by its tags before anything is written, so mirroring the same results twice logs nothing.

What a person reads and searches: a parent is named by the DVC experiment (``DVC_EXP_NAME``)
or the short git commit; a child spans the stage's own start and end when the stage runner
recorded them (tag ``gramops.times``: ``stage``, else ``mirror``: when it was logged); a
training history is a step metric per column; the gate's decision is the tag and metric
``gate_decision`` on the gate's run and on every pipeline run that includes it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gramops.core.fileio import canonical_bytes
from gramops.core.vocab import short
from gramops.tracking.connect import QUIET, REQUEST_LIMITS, Tracker, env_defaults, mlflow_errors
from gramops.tracking.pipeline import StageResult, pipeline_hash

# Every tracking module logs as the mirror: people filter and read its lines by that name.
log = logging.getLogger(__name__)

TAG_KIND = "gramops.kind"
TAG_STAGE = "gramops.stage"
TAG_LOCK = "gramops.lock_hash"
TAG_PIPELINE = "gramops.pipeline"
TAG_STAGE_RUNS = "gramops.stage_runs"
TAG_COMMIT = "gramops.git_commit"
TAG_EXP = "gramops.dvc_exp"
TAG_TIMES = "gramops.times"
# git's own abbreviation length, as `git log --oneline` shows a commit
GIT_SHORT = 7
# MLflow's per-request limits for log_batch: params, and params + metrics together.
_MAX_PARAMS, _MAX_ENTITIES = 100, 1000
_RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")


@dataclass(frozen=True)
class StageMirror:
    """What mirroring stage results did: every result's run, and which runs are new."""

    pipeline: str
    parent_run_id: str
    run_ids: dict[str, str]
    logged: tuple[str, ...]
    parent_created: bool


def mirror_stage_results(
    tracker: Tracker,
    results: Sequence[StageResult],
    root: Path,
    *,
    git_commit: str | None = None,
    dvc_exp: str | None = None,
) -> StageMirror:
    """Log each stage result not yet in MLflow as a child of this execution's parent run.

    A result already logged (same stage, same lock hash) is reused wherever it lives, so
    unchanged stages are logged once across all executions; the parent lists every
    result's run in its ``gramops.stage_runs`` tag. The lock hash tag is written last,
    after the run is complete, so a run cut short is never mistaken for a logged result.
    """
    pipeline = pipeline_hash(results)
    context = {TAG_COMMIT: git_commit, "mlflow.source.git.commit": git_commit, TAG_EXP: dvc_exp}
    context = {k: v for k, v in context.items() if v}
    verdicts = {k: v for r in results for k, v in r.tags.items()}
    scores = {k: r.metrics[k] for r in results for k in r.tags if k in r.metrics}
    with (
        mlflow_errors(tracker.uri, "mirroring stage results"),
        env_defaults({**QUIET, **REQUEST_LIMITS}),
    ):
        client = tracker.client
        # by kind too: its children carry the pipeline tag, and the first may start with it
        parent_id = find_run(tracker, {TAG_KIND: "pipeline", TAG_PIPELINE: pipeline})
        parent = client.get_run(parent_id) if parent_id is not None else None
        run_ids = _find_stage_runs(tracker, results, parent)
        parent_created = parent_id is None
        if parent_id is None:
            parent_id = client.create_run(
                tracker.experiment_id,
                start_time=_first_start(results, run_ids),
                run_name=pipeline_run_name(pipeline, git_commit, dvc_exp),
                tags={
                    **context,
                    **verdicts,
                    TAG_KIND: "pipeline",
                    TAG_PIPELINE: pipeline,
                    "mlflow.note.content": (
                        "One gramops pipeline execution "
                        f"(pipeline hash {pipeline}). Its child runs are the stage results "
                        "it produced; a stage whose dvc.lock entry was unchanged keeps its "
                        f"earlier run, listed in the {TAG_STAGE_RUNS} tag. It starts when the "
                        "first stage it ran started and ends when the mirror logged it."
                    ),
                },
            ).info.run_id
            log_values(client, parent_id, {}, scores)
        else:
            # a parent logged before verdicts were tagged gets them on its next mirror
            for key, value in verdicts.items():
                if parent.data.tags.get(key) != value:
                    client.set_tag(parent_id, key, value)
            missing = {k: v for k, v in scores.items() if parent.data.metrics.get(k) != v}
            if missing:
                log_values(client, parent_id, {}, missing)
        logged = []
        for result in results:
            if run_ids[result.name] is None:
                run_ids[result.name] = _log_stage_result(
                    tracker, result, root, parent_id, {**context, TAG_PIPELINE: pipeline}
                )
                logged.append(result.name)
        stage_runs = canonical_bytes(run_ids).decode("utf-8")
        if parent is None or parent.data.tags.get(TAG_STAGE_RUNS) != stage_runs:
            client.set_tag(parent_id, TAG_STAGE_RUNS, stage_runs)
        # Also finishes a parent left running by an interrupted mirror.
        if parent is None or parent.info.status != "FINISHED":
            client.set_terminated(parent_id)
    log.info(
        "MLflow %s: %d stage results, %d newly logged under run %s",
        tracker.uri,
        len(results),
        len(logged),
        parent_id,
    )
    return StageMirror(pipeline, parent_id, dict(run_ids), tuple(logged), parent_created)


def _find_stage_runs(
    tracker: Tracker, results: Sequence[StageResult], parent: Any | None
) -> dict[str, str | None]:
    """Each result's logged run (None when not logged yet), in a few searches, not one each.

    A parent lists its stage runs in a tag: this execution's parent when it was mirrored
    before (the usual no-op), else the newest parent. Its runs are checked in one search by
    run id (still active, same stage and lock hash); only results not found among them (a
    changed stage, or one last logged by an older execution) get a search by tags.
    """
    client = tracker.client
    if parent is None:
        newest = client.search_runs(
            [tracker.experiment_id],
            filter_string=f"tags.`{TAG_KIND}` = 'pipeline'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        parent = newest[0] if newest else None
    listed = _listed_stage_runs(parent)
    found: dict[str, str] = {}
    if listed:
        ids = ", ".join(f"'{run_id}'" for run_id in sorted(set(listed.values())))
        runs = client.search_runs(
            [tracker.experiment_id],
            filter_string=f"attributes.run_id IN ({ids})",
            max_results=len(listed),
        )
        tags_of = {run.info.run_id: run.data.tags for run in runs}
        for r in results:
            tags = tags_of.get(listed.get(r.name, ""), {})
            if tags.get(TAG_STAGE) == r.name and tags.get(TAG_LOCK) == r.lock_hash:
                found[r.name] = listed[r.name]
    return {
        r.name: found.get(r.name) or find_run(tracker, {TAG_STAGE: r.name, TAG_LOCK: r.lock_hash})
        for r in results
    }


def _listed_stage_runs(parent: Any | None) -> dict[str, str]:
    """A parent's ``gramops.stage_runs`` tag as stage -> run id; {} when absent or edited
    into something else (the ids go into a search filter, so only plain ids pass)."""
    text = parent.data.tags.get(TAG_STAGE_RUNS) if parent is not None else None
    try:
        listed = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(listed, dict):
        return {}
    return {
        name: run_id
        for name, run_id in listed.items()
        if isinstance(run_id, str) and _RUN_ID.fullmatch(run_id)
    }


def pipeline_run_name(pipeline: str, git_commit: str | None, dvc_exp: str | None) -> str:
    """What a person knows an execution by: its DVC experiment, else its commit."""
    if dvc_exp:
        return dvc_exp
    if git_commit:
        return git_commit[:GIT_SHORT]
    return f"pipeline {short(pipeline)}"


def _first_start(results: Sequence[StageResult], run_ids: Mapping[str, str | None]) -> int | None:
    """When the first stage this execution ran started (None: now, MLflow's default)."""
    starts = [r.start_ms for r in results if run_ids[r.name] is None and r.start_ms is not None]
    return min(starts) if starts else None


def find_run(tracker: Tracker, tags: Mapping[str, str]) -> str | None:
    """The oldest active run carrying all these tags (values are hashes and stage names)."""
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=query,
        max_results=1,
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def _log_stage_result(
    tracker: Tracker,
    result: StageResult,
    root: Path,
    parent_id: str,
    context: Mapping[str, str],
) -> str:
    client = tracker.client
    timed = result.start_ms is not None and result.end_ms is not None
    run_id = client.create_run(
        tracker.experiment_id,
        start_time=result.start_ms if timed else None,
        run_name=result.name,
        tags={
            **context,
            **result.tags,
            "mlflow.parentRunId": parent_id,
            TAG_KIND: "stage",
            TAG_STAGE: result.name,
            TAG_TIMES: "stage" if timed else "mirror",
        },
    ).info.run_id
    log_values(client, run_id, result.params, result.metrics, result.series, result.end_ms)
    for path in result.artifacts:
        folder = PurePosixPath(path).parent.as_posix()
        client.log_artifact(run_id, str(root / path), None if folder == "." else folder)
    client.set_terminated(run_id, end_time=result.end_ms if timed else None)
    client.set_tag(run_id, TAG_LOCK, result.lock_hash)
    return run_id


def log_values(
    client: Any,
    run_id: str,
    params: Mapping[str, str],
    metrics: Mapping[str, float],
    series: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    stamp: int | None = None,
) -> None:
    """Params, metrics and step series in as few requests as MLflow's batch limits allow."""
    from mlflow.entities import Metric, Param

    stamp = stamp or int(time.time() * 1000)
    param_list = [Param(k, v) for k, v in sorted(params.items())]
    metric_list = [Metric(k, v, stamp, 0) for k, v in sorted(metrics.items())]
    metric_list += [
        Metric(k, v, stamp, step)
        for k, points in sorted((series or {}).items())
        for step, v in points
    ]
    # one request for a stage's usual few dozen values, params and metrics together
    while param_list or metric_list:
        params_part, param_list = param_list[:_MAX_PARAMS], param_list[_MAX_PARAMS:]
        room = _MAX_ENTITIES - len(params_part)
        metrics_part, metric_list = metric_list[:room], metric_list[room:]
        client.log_batch(run_id, params=params_part, metrics=metrics_part)
