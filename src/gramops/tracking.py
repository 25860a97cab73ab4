"""The MLflow mirror: stage results as runs, registry entries as model versions.

This is the only module that imports mlflow, and only inside functions: the import costs
over a second, and nothing else in gramops should pay it. MLflow is a *mirror* for people
browsing results; identity stays with the canonical SHA, and every write here is found
again by its tags first, so mirroring the same results twice logs nothing new.

Runs live in one experiment, ``gramops``: one parent run per pipeline execution (tag
``gramops.pipeline``, the hash of all stage lock hashes) and one child run per stage result
(tags ``gramops.stage`` and ``gramops.lock_hash``). A stage whose ``dvc.lock`` entry did not
change keeps its earlier run. Registry entries become versions of ``gramops-<family>``
registered models, tagged ``canonical_sha`` and ``semver``, with the registry's aliases.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gramops.errors import GramopsError
from gramops.jsonio import canonical_bytes, dumps_pretty
from gramops.pipeline import StageResult, numeric_leaves, pipeline_hash
from gramops.workspace import workspace_root as find_workspace

log = logging.getLogger(__name__)

EXPERIMENT = "gramops"
MODEL_PREFIX = "gramops-"
DB_NAME = "mlflow.db"
# MLflow's HTTP defaults (7 retries with exponential backoff, 120 s per attempt) would keep
# a stage waiting on a server that accepts connections and never answers for over 20
# minutes per request. The connection check fails within seconds; every later request
# (uploading a 17 MB weights file included) gets 30 s and one retry, so a server that
# stalls mid-mirror fails the stage within about a minute. Users who set these variables
# themselves keep theirs, e.g. MLFLOW_HTTP_REQUEST_TIMEOUT=300 for a slow remote store.
CHECK_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
REQUEST_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# Against a server, MLflow prints two "View run ... at" lines to stdout per finished run.
QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
# MLflow's per-request limits for log_batch: params, and params + metrics together.
_MAX_PARAMS, _MAX_ENTITIES = 100, 1000
_RUN_ID = re.compile(r"[0-9A-Za-z]{1,64}")
# A concurrent mirror wrote the same row first (PostgreSQL, MySQL, SQLite wordings).
_CONFLICT = re.compile(r"UniqueViolation|duplicate (key|entry)|UNIQUE constraint failed")
_CONFLICT_ATTEMPTS = 3
_NETWORK_REASON = re.compile(
    r"\[Errno -?\d+\][^\"')]*|Read timed out\. \(read timeout=[^)]*\)|timed out"
)

TAG_KIND = "gramops.kind"
TAG_STAGE = "gramops.stage"
TAG_LOCK = "gramops.lock_hash"
TAG_PIPELINE = "gramops.pipeline"
TAG_STAGE_RUNS = "gramops.stage_runs"
TAG_COMMIT = "gramops.git_commit"
TAG_EXP = "gramops.dvc_exp"
TAG_SHA = "gramops.canonical_sha"
TAG_FAMILY = "gramops.family"


class TrackingError(GramopsError):
    """MLflow could not be reached or refused a write; the message names the tracking URI."""


def workspace_root(start: Path) -> Path:
    """The DVC workspace a path belongs to, seen through experiment temp copies: results
    of `dvc exp run --temp` and queued experiments must land in the workspace's store."""
    root = find_workspace(start)
    if root is None:
        raise TrackingError(
            f"{Path(start).resolve()} is not inside a DVC workspace, so there is no default "
            "MLflow store; set MLFLOW_TRACKING_URI"
        )
    return root


def default_tracking_uri(start: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the SQLite store at the workspace root.

    The file is ``mlflow.db`` because that is what ``mlflow ui`` opens by default when
    started in the workspace root.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{workspace_root(start) / DB_NAME}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlruns`` next to a SQLite file.

    MLflow's own default is ``./mlruns`` relative to the *current directory*, which inside
    an experiment temp copy is deleted after the run; a server decides for itself (None).
    """
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()


@contextlib.contextmanager
def _mlflow_errors(uri: str, doing: str) -> Iterator[None]:
    """Turn MLflow, database and network failures into one TrackingError naming the URI."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        raise TrackingError(
            f"MLflow at {uri}: {doing} failed ({_reason(exc)}). Start the tracking server or "
            "fix MLFLOW_TRACKING_URI (unset it to use the workspace's mlflow.db); the stages "
            "before the mirror are done, so the next `dvc repro` re-runs only the mirror"
        ) from exc


def _reason(exc: BaseException) -> str:
    """The useful part of a failure: urllib3's nested message buries it at the end."""
    text = " ".join(str(exc).split())
    found = _NETWORK_REASON.search(text)
    if found:
        return found.group(0).strip()
    return text[:300] or type(exc).__name__


@contextlib.contextmanager
def _env_defaults(defaults: Mapping[str, str]) -> Iterator[None]:
    """Set MLflow settings the user has not set, for one block only.

    MLflow reads these from the environment at each call, so scoping them here changes
    its behaviour for the mirror without leaking into anything else in the process.
    """
    added = [name for name in defaults if name not in os.environ]
    os.environ.update({name: defaults[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@dataclass(frozen=True)
class Tracker:
    """A checked connection: the client and the ``gramops`` experiment it writes to."""

    uri: str
    client: Any
    experiment_id: str


def connect(uri: str) -> Tracker:
    """Open MLflow at ``uri`` and make sure the ``gramops`` experiment exists.

    The first request doubles as the reachability check, so a dead or stalled server fails
    here, before anything is logged, within :data:`CHECK_LIMITS`' timeout.
    """
    # MLflow 3 reports usage at interpreter exit; a pipeline stage should not phone home
    # (nor wait on a closed network). Users who want it set MLFLOW_DISABLE_TELEMETRY=false.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with _mlflow_errors(uri, "connecting"), _env_defaults(CHECK_LIMITS):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            experiment_id = client.create_experiment(
                EXPERIMENT, artifact_location=artifact_location(uri)
            )
        elif experiment.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow at {uri}: experiment {EXPERIMENT!r} is deleted; restore it "
                f"(`mlflow experiments restore --experiment-id {experiment.experiment_id}`) "
                "or purge it (`mlflow gc`) so the mirror can create it again"
            )
        else:
            experiment_id = experiment.experiment_id
    return Tracker(uri=uri, client=client, experiment_id=experiment_id)


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
    with (
        _mlflow_errors(tracker.uri, "mirroring stage results"),
        _env_defaults({**QUIET, **REQUEST_LIMITS}),
    ):
        client = tracker.client
        parent_id = _find_run(tracker, {TAG_PIPELINE: pipeline})
        parent = client.get_run(parent_id) if parent_id is not None else None
        run_ids = _find_stage_runs(tracker, results, parent)
        parent_created = parent_id is None
        if parent_id is None:
            parent_id = client.create_run(
                tracker.experiment_id,
                run_name=f"pipeline {pipeline[:12]}",
                tags={
                    **context,
                    TAG_KIND: "pipeline",
                    TAG_PIPELINE: pipeline,
                    "mlflow.note.content": (
                        "One gramops pipeline execution. Its child runs are the stage results "
                        "it produced; a stage whose dvc.lock entry was unchanged keeps its "
                        f"earlier run, listed in the {TAG_STAGE_RUNS} tag."
                    ),
                },
            ).info.run_id
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
        r.name: found.get(r.name) or _find_run(tracker, {TAG_STAGE: r.name, TAG_LOCK: r.lock_hash})
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


def _find_run(tracker: Tracker, tags: Mapping[str, str]) -> str | None:
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
    run_id = client.create_run(
        tracker.experiment_id,
        run_name=result.name,
        tags={
            **context,
            "mlflow.parentRunId": parent_id,
            TAG_KIND: "stage",
            TAG_STAGE: result.name,
        },
    ).info.run_id
    _log_values(client, run_id, result.params, result.metrics)
    for path in result.artifacts:
        folder = PurePosixPath(path).parent.as_posix()
        client.log_artifact(run_id, str(root / path), None if folder == "." else folder)
    client.set_terminated(run_id)
    client.set_tag(run_id, TAG_LOCK, result.lock_hash)
    return run_id


def _log_values(
    client: Any, run_id: str, params: Mapping[str, str], metrics: Mapping[str, float]
) -> None:
    """Params and metrics in as few requests as MLflow's batch limits allow."""
    from mlflow.entities import Metric, Param

    stamp = int(time.time() * 1000)
    param_list = [Param(k, v) for k, v in sorted(params.items())]
    metric_list = [Metric(k, v, stamp, 0) for k, v in sorted(metrics.items())]
    # one request for a stage's usual few dozen values, params and metrics together
    while param_list or metric_list:
        params_part, param_list = param_list[:_MAX_PARAMS], param_list[_MAX_PARAMS:]
        room = _MAX_ENTITIES - len(params_part)
        metrics_part, metric_list = metric_list[:room], metric_list[room:]
        client.log_batch(run_id, params=params_part, metrics=metrics_part)


@dataclass(frozen=True)
class ModelMirror:
    """The registry as mirrored: a pointer per entry, new versions, aliases per model."""

    pointers: dict[str, dict[str, str]]
    created: tuple[str, ...]
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)


def model_name(family: str) -> str:
    """The registered model a family's entries become versions of."""
    return f"{MODEL_PREFIX}{family}"


def mirror_model_registry(
    tracker: Tracker,
    entries: Sequence[Mapping[str, Any]],
    semvers: Mapping[str, Sequence[str]],
    aliases: Mapping[str, str],
    materialize: Callable[[str, Path], Path | None],
) -> ModelMirror:
    """Make MLflow's model registry show the gramops registry.

    ``entries`` must come in registration order: versions are numbered in creation order,
    so a fresh store numbers them exactly as before and the pointers written back into the
    (git-tracked) entries do not change. A missing version gets a run holding the bundle
    files (``materialize(sha, dest)``, which verifies hashes, or returns None when the
    objects are not in this store) as its source. Tags, version
    descriptions and aliases are then brought in line with the registry; an alias set by
    hand in MLflow on a gramops model is removed, because the registry is the authority.
    ``semvers`` maps a SHA to its semvers, lowest first.
    """
    from mlflow.exceptions import MlflowException

    with (
        _mlflow_errors(tracker.uri, "mirroring the model registry"),
        _env_defaults({**QUIET, **REQUEST_LIMITS}),
    ):
        attempt = 1
        while True:
            try:
                return _mirror_models(tracker, entries, semvers, aliases, materialize)
            except MlflowException as exc:
                if attempt == _CONFLICT_ATTEMPTS or not _is_write_conflict(exc):
                    raise
                # every write is found again first, so a second pass only writes what is left
                log.info("MLflow %s: a concurrent mirror wrote first; syncing again", tracker.uri)
                time.sleep(0.5 * attempt)
                attempt += 1


def _is_write_conflict(exc: Exception) -> bool:
    """A write that lost a race with another mirror (two queued experiments at once).

    MLflow's server checks then inserts, so a concurrent writer of the same model version
    tag or alias surfaces as the database's unique-key violation; a tag or alias the other
    mirror removed first is "does not exist". A fresh pass re-reads and converges.
    """
    codes = ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST")
    return getattr(exc, "error_code", "") in codes or bool(_CONFLICT.search(str(exc)))


def _mirror_models(
    tracker: Tracker,
    entries: Sequence[Mapping[str, Any]],
    semvers: Mapping[str, Sequence[str]],
    aliases: Mapping[str, str],
    materialize: Callable[[str, Path], Path | None],
) -> ModelMirror:
    """One pass of :func:`mirror_model_registry`: read what MLflow has, write differences."""
    pointers: dict[str, dict[str, str]] = {}
    created: list[str] = []
    models: dict[str, _MlflowModel] = {}
    client = tracker.client
    for entry in entries:
        sha, family = entry["sha"], entry["family"]
        name = model_name(family)
        if name not in models:
            models[name] = _mlflow_model(client, name, family)
        versions = models[name].versions
        if sha not in versions:
            run_id = _find_run(tracker, {TAG_KIND: "bundle", TAG_SHA: sha})
            if run_id is None:
                run_id = _log_bundle(tracker, entry, materialize)
            tags, description = _version_metadata(entry, list(semvers.get(sha, ())))
            # OSS registries create versions READY at once; waiting only logs noise.
            versions[sha] = client.create_model_version(
                name,
                source=f"runs:/{run_id}/bundle",
                run_id=run_id,
                tags={k: v for k, v in tags.items() if v},
                description=description,
                await_creation_for=0,
            )
            created.append(sha)
        else:
            _sync_version(client, versions[sha], entry, list(semvers.get(sha, ())))
        pointers[sha] = {"registered_model": name, "version": str(versions[sha].version)}
    mirrored = _sync_aliases(client, tracker.uri, aliases, pointers, models)
    log.info(
        "MLflow %s: %d registry entries, %d new model versions",
        tracker.uri,
        len(pointers),
        len(created),
    )
    return ModelMirror(pointers=pointers, created=tuple(created), aliases=mirrored)


@dataclass
class _MlflowModel:
    """A registered model as found: its aliases and its versions by canonical SHA."""

    aliases: dict[str, str]
    versions: dict[str, Any]


def _mlflow_model(client: Any, name: str, family: str) -> _MlflowModel:
    """Read (or create) a family's registered model with all its versions, in two requests."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(
            name,
            tags={TAG_FAMILY: family},
            description=(
                f"gramops {family} models, mirrored from models/registry by the `mirror` stage. "
                "A version's identity is its canonical_sha tag; semvers and aliases follow the "
                "gramops registry: change them with `gramops registry`, not here."
            ),
        )
        return _MlflowModel(aliases={}, versions={})
    versions: dict[str, Any] = {}
    # Oldest first, so a duplicate left by two concurrent mirrors resolves to the first.
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        sha = mv.tags.get("canonical_sha")
        if sha and sha not in versions:
            versions[sha] = mv
    return _MlflowModel(aliases=aliases, versions=versions)


def _log_bundle(
    tracker: Tracker, entry: Mapping[str, Any], materialize: Callable[[str, Path], Path | None]
) -> str:
    """A run holding an entry's bundle files: the source of its model version."""
    client = tracker.client
    sha, family = entry["sha"], entry["family"]
    run_id = client.create_run(
        tracker.experiment_id,
        run_name=f"bundle {family} {sha[:12]}",
        tags={TAG_KIND: "bundle", TAG_FAMILY: family},
    ).info.run_id
    params = {
        key: str(entry[key]) if entry.get(key) is not None else "null"
        for key in ("family", "parent_sha", "corpus_dvc_hash", "size_bytes", "parameters")
        if key in entry
    }
    _log_values(client, run_id, params, numeric_leaves(entry.get("metrics") or {}))
    with tempfile.TemporaryDirectory(prefix="gramops-bundle-") as tmp:
        bundle = materialize(sha, Path(tmp) / sha[:12])
        if bundle is None:
            # Registered on another machine (objects are not in git): the version still
            # records identity and metadata; `gramops reproduce` rebuilds the bytes.
            log.warning(
                "objects of %s %s are not in this object store; its MLflow version "
                "holds the entry metadata only",
                family,
                sha[:12],
            )
            bundle = Path(tmp) / "metadata"
            bundle.mkdir()
            (bundle / "entry.json").write_text(dumps_pretty(dict(entry)), encoding="utf-8")
            client.set_tag(run_id, "gramops.bundle_bytes", "missing")
        client.log_artifacts(run_id, str(bundle), "bundle")
    client.set_terminated(run_id)
    client.set_tag(run_id, TAG_SHA, sha)
    return run_id


def _version_metadata(entry: Mapping[str, Any], semvers: list[str]) -> tuple[dict[str, str], str]:
    """The tags and description a version shows: its identity and its current semvers.

    An empty tag value means "no such tag" (a semver can be retagged away from a SHA).
    ``semvers`` is only set when a SHA has several, so a single semver is not shown twice.
    """
    semver = semvers[-1] if semvers else ""
    tags = {
        "canonical_sha": entry["sha"],
        "semver": semver,
        "semvers": ",".join(semvers) if len(semvers) > 1 else "",
    }
    description = (
        f"gramops {entry['family']} {semver or '(no semver)'}, canonical SHA {entry['sha']}"
    )
    return tags, description


def _sync_version(client: Any, mv: Any, entry: Mapping[str, Any], semvers: list[str]) -> None:
    """Bring an existing version's tags and description in line, writing only differences."""
    name, version = mv.name, str(mv.version)
    tags, description = _version_metadata(entry, semvers)
    for key, value in tags.items():
        if not value and key in mv.tags:
            client.delete_model_version_tag(name, version, key)
        elif value and mv.tags.get(key) != value:
            client.set_model_version_tag(name, version, key, value)
    if mv.description != description:
        client.update_model_version(name, version, description=description)


def _sync_aliases(
    client: Any,
    uri: str,
    aliases: Mapping[str, str],
    pointers: Mapping[str, Mapping[str, str]],
    models: Mapping[str, _MlflowModel],
) -> dict[str, dict[str, str]]:
    """Each model's aliases = the registry aliases pointing at one of its versions."""
    from mlflow.exceptions import MlflowException

    wanted: dict[str, dict[str, str]] = {name: {} for name in models}
    for alias, sha in sorted(aliases.items()):
        if sha not in pointers:
            log.warning("alias %s points at %s, which is not a registry entry; skipped", alias, sha)
            continue
        wanted[pointers[sha]["registered_model"]][alias] = pointers[sha]["version"]
    for name, want in wanted.items():
        have = models[name].aliases
        for alias in sorted(set(have) - set(want)):
            client.delete_registered_model_alias(name, alias)
        for alias, version in sorted(want.items()):
            if have.get(alias) == version:
                continue
            try:
                client.set_registered_model_alias(name, alias, version)
            except MlflowException as exc:
                if _is_write_conflict(exc):
                    raise
                raise TrackingError(
                    f"MLflow at {uri}: cannot mirror registry alias {alias!r} onto {name} "
                    f"version {version}: {exc}"
                ) from exc
    return wanted


def mirror_summary(results: Sequence[StageResult], models: ModelMirror) -> dict[str, Any]:
    """The mirror stage's DVC output: deterministic, so a fresh clone reproduces it byte for byte.

    No run ids, times or paths, and no stage lock hashes either: those come from dvc.lock,
    which DVC cannot take as a dependency, so a summary holding them would go stale in the
    workspace and differ in a fresh clone. Counts and the model pointers are what remains;
    a fresh store recreates them identically.
    """
    registered: dict[str, dict[str, Any]] = {}
    for sha, pointer in models.pointers.items():
        model = registered.setdefault(pointer["registered_model"], {"versions": {}, "aliases": {}})
        model["versions"][pointer["version"]] = sha
    for name, want in models.aliases.items():
        registered.setdefault(name, {"versions": {}, "aliases": {}})["aliases"] = dict(want)
    return {
        "stage_results": len(results),
        "model_versions": len(models.pointers),
        "registered_models": registered,
    }
