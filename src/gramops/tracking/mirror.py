"""The MLflow mirror: stage results as runs, registry entries as model versions.

This is the only module that imports mlflow, and only inside functions: the import costs
over a second, and nothing else in gramops should pay it. MLflow is a *mirror* for people
browsing results; identity stays with the canonical SHA, and every write here is found
again by its tags first, so mirroring the same results twice logs nothing new.

Runs live in one experiment, ``gramops``: one parent run per pipeline execution (tag
``gramops.tracking.pipeline``, the hash of all stage lock hashes) and one child run per stage result
(tags ``gramops.core.stage`` and ``gramops.lock_hash``). A stage whose ``dvc.lock`` entry did not
change keeps its earlier run. Registry entries become versions of ``gramops-<family>``
registered models, tagged ``canonical_sha`` and ``semver``, with the registry's aliases.

The registry is the authority and MLflow follows it exactly: after a mirror, aliases and
semver tags on every ``gramops-*`` model are the registry's, whoever changed them in
MLflow; :func:`verify_mlflow` lists the differences without changing anything.
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
from typing import TYPE_CHECKING, Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import canonical_bytes, dumps_pretty
from gramops.core.vocab import short
from gramops.core.workspace import workspace_root as find_workspace
from gramops.registry.auditlog import registration_order
from gramops.registry.refs import parse_semver
from gramops.tracking.pipeline import StageResult, numeric_leaves, pipeline_hash

if TYPE_CHECKING:
    from gramops.registry.store import Registry

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
TAG_STAGE = "gramops.core.stage"
TAG_LOCK = "gramops.lock_hash"
TAG_PIPELINE = "gramops.tracking.pipeline"
TAG_STAGE_RUNS = "gramops.stage_runs"
TAG_COMMIT = "gramops.git_commit"
TAG_EXP = "gramops.dvc_exp"
TAG_SHA = "gramops.canonical_sha"
TAG_FAMILY = "gramops.family"
# on a registered model: the aliases the mirror set there last (JSON), to tell hand edits apart
TAG_ALIASES = "gramops.aliases"


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


_MIRROR_RETRY = (
    "the stages before the mirror are done, so the next `dvc repro` re-runs only the mirror"
)
_VERIFY_RETRY = "then verify again"


@contextlib.contextmanager
def _mlflow_errors(uri: str, doing: str, retry: str = _MIRROR_RETRY) -> Iterator[None]:
    """Turn MLflow, database and network failures into one TrackingError naming the URI."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        raise TrackingError(
            f"MLflow at {uri}: {doing} failed ({_reason(exc)}). Start the tracking server or "
            f"fix MLFLOW_TRACKING_URI (unset it to use the workspace's mlflow.db); {retry}"
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
                run_name=f"pipeline {short(pipeline)}",
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


@dataclass(frozen=True)
class RegistryView:
    """What MLflow must show of a registry: its entries, semver bindings and aliases."""

    shas: frozenset[str]
    tags: Mapping[str, str]
    aliases: Mapping[str, str]

    def semvers_of(self, sha: str) -> list[str]:
        return sorted((v for v, s in self.tags.items() if s == sha), key=parse_semver)


def registry_view(registry: Registry) -> RegistryView:
    """The bindings of ``registry`` (entry file names, tags.json, aliases.json): cheap reads."""
    return RegistryView(frozenset(registry.shas()), registry.tags(), registry.aliases())


def model_name(family: str) -> str:
    """The registered model a family's entries become versions of."""
    return f"{MODEL_PREFIX}{family}"


def mirror_registry(tracker: Tracker, registry: Registry) -> ModelMirror:
    """Mirror ``registry`` as it is now: what the mirror stage runs after the pipeline.

    Reads only; the MLflow pointers are returned (the stage writes them to its own
    output), never written back into the registry.
    """
    entries = registry.entries()
    order = [sha for sha in registration_order(registry.history()) if sha in entries]
    # an entry the log does not list (restored from another clone) goes last, stably
    order += sorted(set(entries) - set(order))
    view = registry_view(registry)
    return mirror_model_registry(
        tracker,
        [entries[sha] for sha in order],
        semvers={sha: view.semvers_of(sha) for sha in order},
        aliases=view.aliases,
        materialize=lambda sha, dest: (
            registry.materialize(sha, dest) if registry.objects_present(sha) else None
        ),
    )


def mirror_model_registry(
    tracker: Tracker,
    entries: Sequence[Mapping[str, Any]],
    semvers: Mapping[str, Sequence[str]],
    aliases: Mapping[str, str],
    materialize: Callable[[str, Path], Path | None],
) -> ModelMirror:
    """Make MLflow's model registry show the gramops registry, exactly.

    ``entries`` must come in registration order: versions are numbered in creation order,
    so a fresh store numbers them exactly as before. A missing version gets a run holding
    the bundle files (``materialize(sha, dest)``, which verifies hashes, or returns None
    when the objects are not in this store) as its source. ``semvers`` maps a SHA to its
    semvers, lowest first; ``aliases`` maps an alias to a SHA.

    Afterwards every ``gramops-*`` model agrees with the registry: each entry's version
    carries its semvers (none until one is bound) and the registry's aliases; every other
    version (an entry of a discarded experiment sharing the store, a duplicate) carries
    neither; an alias set by hand is removed or moved with a warning naming it.
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
    client = tracker.client
    models = _read_models(client)
    for entry in entries:
        sha, family = entry["sha"], entry["family"]
        name = model_name(family)
        if name not in models:
            models[name] = _create_model(client, name, family)
        model = models[name]
        wanted = list(semvers.get(sha, ()))
        if sha not in model.by_sha:
            run_id = _find_run(tracker, {TAG_KIND: "bundle", TAG_SHA: sha})
            if run_id is None:
                run_id = _log_bundle(tracker, entry, materialize)
            tags, description = _version_metadata(family, sha, wanted)
            # OSS registries create versions READY at once; waiting only logs noise.
            mv = client.create_model_version(
                name,
                source=f"runs:/{run_id}/bundle",
                run_id=run_id,
                tags={k: v for k, v in tags.items() if v},
                description=description,
                await_creation_for=0,
            )
            model.versions.append(mv)
            model.by_sha[sha] = mv
            created.append(sha)
        else:
            _sync_version(client, model.by_sha[sha], family, wanted)
        pointers[sha] = {"registered_model": name, "version": str(model.by_sha[sha].version)}
    _unbind_others(client, models, pointers)
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
    """A registered model as found: aliases, tags, versions (oldest first) and by SHA."""

    name: str
    aliases: dict[str, str]
    tags: dict[str, str]
    versions: list[Any] = field(default_factory=list)
    by_sha: dict[str, Any] = field(default_factory=dict)


def _read_models(client: Any) -> dict[str, _MlflowModel]:
    """Every ``gramops-*`` model with its aliases, tags and versions, in two requests.

    All of them, not only the registry's families: a hand-made alias or a discarded
    experiment's version may sit on any of them.
    """
    pattern = f"name LIKE '{MODEL_PREFIX}%'"
    models: dict[str, _MlflowModel] = {}
    token = None
    while True:
        page = client.search_registered_models(pattern, page_token=token)
        for rm in page:
            if rm.name.startswith(MODEL_PREFIX):
                aliases = {a: str(v) for a, v in rm.aliases.items()}
                models[rm.name] = _MlflowModel(rm.name, aliases, dict(rm.tags))
        token = page.token
        if not token:
            break
    # Oldest first, so a duplicate left by two concurrent mirrors resolves to the first.
    for mv in sorted(client.search_model_versions(pattern), key=lambda v: int(v.version)):
        model = models.get(mv.name)
        if model is None:
            continue
        model.versions.append(mv)
        sha = mv.tags.get("canonical_sha")
        if sha and sha not in model.by_sha:
            model.by_sha[sha] = mv
    return models


def _create_model(client: Any, name: str, family: str) -> _MlflowModel:
    client.create_registered_model(
        name,
        tags={TAG_FAMILY: family},
        description=(
            f"gramops {family} models, mirrored from models/registry by the `mirror` stage. "
            "A version's identity is its canonical_sha tag; semvers and aliases follow the "
            "gramops registry: change them with `gramops`, not here (the mirror undoes it)."
        ),
    )
    return _MlflowModel(name, aliases={}, tags={TAG_FAMILY: family})


def _log_bundle(
    tracker: Tracker, entry: Mapping[str, Any], materialize: Callable[[str, Path], Path | None]
) -> str:
    """A run holding an entry's bundle files: the source of its model version."""
    client = tracker.client
    sha, family = entry["sha"], entry["family"]
    run_id = client.create_run(
        tracker.experiment_id,
        run_name=f"bundle {family} {short(sha)}",
        tags={TAG_KIND: "bundle", TAG_FAMILY: family},
    ).info.run_id
    params = {
        key: str(entry[key]) if entry.get(key) is not None else "null"
        for key in ("family", "parent_sha", "corpus_dvc_hash", "size_bytes", "parameters")
        if key in entry
    }
    _log_values(client, run_id, params, numeric_leaves(entry.get("metrics") or {}))
    with tempfile.TemporaryDirectory(prefix="gramops-bundle-") as tmp:
        bundle = materialize(sha, Path(tmp) / short(sha))
        if bundle is None:
            # Registered on another machine (objects are not in git): the version still
            # records identity and metadata; `gramops reproduce` rebuilds the bytes.
            log.warning(
                "objects of %s %s are not in this object store; its MLflow version "
                "holds the entry metadata only",
                family,
                short(sha),
            )
            bundle = Path(tmp) / "metadata"
            bundle.mkdir()
            (bundle / "entry.json").write_text(dumps_pretty(dict(entry)), encoding="utf-8")
            client.set_tag(run_id, "gramops.bundle_bytes", "missing")
        client.log_artifacts(run_id, str(bundle), "bundle")
    client.set_terminated(run_id)
    client.set_tag(run_id, TAG_SHA, sha)
    return run_id


def _version_metadata(family: str, sha: str, semvers: list[str]) -> tuple[dict[str, str], str]:
    """The tags and description a version shows: its identity and its current semvers.

    An empty tag value means "no such tag" (an entry has none until a semver is bound).
    ``semvers`` is only set when a SHA has several, so a single semver is not shown twice.
    """
    semver = semvers[-1] if semvers else ""
    tags = {
        "canonical_sha": sha,
        "semver": semver,
        "semvers": ",".join(semvers) if len(semvers) > 1 else "",
    }
    return tags, f"gramops {family} {semver or '(no semver)'}, canonical SHA {sha}"


def _sync_version(client: Any, mv: Any, family: str, semvers: list[str]) -> list[str]:
    """Bring a version's tags and description in line, writing only differences.

    Returns the semver tag values it removed.
    """
    name, version = mv.name, str(mv.version)
    tags, description = _version_metadata(family, mv.tags["canonical_sha"], semvers)
    removed = []
    for key, value in tags.items():
        if not value and key in mv.tags:
            client.delete_model_version_tag(name, version, key)
            removed.append(mv.tags[key])
        elif value and mv.tags.get(key) != value:
            client.set_model_version_tag(name, version, key, value)
    if mv.description != description:
        client.update_model_version(name, version, description=description)
    return removed


def _unbind_others(
    client: Any, models: Mapping[str, _MlflowModel], pointers: Mapping[str, Mapping[str, str]]
) -> None:
    """No semver on a version that is not a registry entry's: a discarded experiment's
    entry mirrored earlier, a duplicate of an entry, a version made by hand."""
    for name, model in sorted(models.items()):
        for mv in model.versions:
            sha = mv.tags.get("canonical_sha", "")
            pointer = pointers.get(sha)
            if pointer == {"registered_model": name, "version": str(mv.version)}:
                continue
            if not (mv.tags.keys() & {"semver", "semvers"}):
                continue
            if sha:
                removed = _sync_version(client, mv, name.removeprefix(MODEL_PREFIX), [])
            else:
                removed = [mv.tags[k] for k in ("semver", "semvers") if k in mv.tags]
                for key in ("semver", "semvers"):
                    if key in mv.tags:
                        client.delete_model_version_tag(name, str(mv.version), key)
            log.warning(
                "MLflow %s version %s (sha %s) carried semver %s, which the registry does not "
                "bind to it; removed",
                name,
                mv.version,
                short(sha) or "unknown",
                ",".join(sorted(set(removed))),
            )


def _sync_aliases(
    client: Any,
    uri: str,
    aliases: Mapping[str, str],
    pointers: Mapping[str, Mapping[str, str]],
    models: Mapping[str, _MlflowModel],
) -> dict[str, dict[str, str]]:
    """Each model's aliases = the registry aliases pointing at one of its versions.

    A model's ``gramops.aliases`` tag records what the mirror itself set last, so a change
    it undoes is told apart: following a registry move is routine (info), overriding an
    alias someone set in MLflow is a warning that names it.
    """
    from mlflow.exceptions import MlflowException

    wanted: dict[str, dict[str, str]] = {name: {} for name in models}
    for alias, sha in sorted(aliases.items()):
        if sha not in pointers:
            log.warning("alias %s points at %s, which is not a registry entry; skipped", alias, sha)
            continue
        wanted[pointers[sha]["registered_model"]][alias] = pointers[sha]["version"]
    for name, want in sorted(wanted.items()):
        have = models[name].aliases
        mirrored = _mirrored_aliases(models[name].tags)
        for alias, version in sorted(have.items()):
            if want.get(alias) == version:
                continue
            if alias not in want:
                client.delete_registered_model_alias(name, alias)
            outcome = f"moved to version {want[alias]}" if alias in want else "removed"
            if mirrored.get(alias) == version:
                log.info(
                    "MLflow %s@%s: version %s %s, as in the registry", name, alias, version, outcome
                )
            else:
                log.warning(
                    "MLflow alias %s@%s on version %s was not set by the gramops registry; "
                    "%s (move aliases with `gramops`, the mirror follows the registry)",
                    name,
                    alias,
                    version,
                    outcome,
                )
        for alias, version in sorted(want.items()):
            if have.get(alias) == version:
                continue
            if alias not in have and mirrored.get(alias) == version:
                log.warning(
                    "MLflow alias %s@%s was removed outside gramops; set again", name, alias
                )
            try:
                client.set_registered_model_alias(name, alias, version)
            except MlflowException as exc:
                if _is_write_conflict(exc):
                    raise
                raise TrackingError(
                    f"MLflow at {uri}: cannot mirror registry alias {alias!r} onto {name} "
                    f"version {version}: {exc}"
                ) from exc
        if mirrored != want or TAG_ALIASES not in models[name].tags:
            client.set_registered_model_tag(
                name, TAG_ALIASES, canonical_bytes(want).decode("utf-8")
            )
    return wanted


def _mirrored_aliases(tags: Mapping[str, str]) -> dict[str, str]:
    """The aliases the mirror set last on a model ({} when absent or edited into junk)."""
    try:
        found = json.loads(tags.get(TAG_ALIASES) or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


# -- comparing MLflow with the registry --------------------------------------------------------


def verify_mlflow(tracker: Tracker, registry: RegistryView) -> list[str]:
    """Every way MLflow's model registry differs from ``registry``; [] when it matches.

    Reads only. What :func:`mirror_model_registry` would correct, described: stale,
    unknown, missing and doubled aliases, semvers on the wrong or on two versions, and
    entries with no version.
    """
    with (
        _mlflow_errors(tracker.uri, "reading the model registry", retry=_VERIFY_RETRY),
        _env_defaults(REQUEST_LIMITS),
    ):
        models = _read_models(tracker.client)
    return mirror_differences(models, registry)


def mirror_differences(models: Mapping[str, _MlflowModel], registry: RegistryView) -> list[str]:
    """:func:`verify_mlflow` on models already read: one line per difference."""
    problems: list[str] = []
    mirrors: dict[str, tuple[str, Any]] = {}  # sha -> the version that mirrors it
    for name, model in sorted(models.items()):
        for sha, mv in model.by_sha.items():
            mirrors.setdefault(sha, (name, mv))

    def label(name: str, mv: Any) -> str:
        sha = mv.tags.get("canonical_sha", "")
        return f"{name} version {mv.version} ({short(sha) or 'no canonical_sha'})"

    for sha in sorted(registry.shas - mirrors.keys()):
        problems.append(f"not mirrored: registry entry {short(sha)} has no MLflow version")
    carriers: dict[str, list[str]] = {}
    for name, model in sorted(models.items()):
        for mv in model.versions:
            sha = mv.tags.get("canonical_sha", "")
            is_mirror = mirrors.get(sha, (None, None))[1] is mv and sha in registry.shas
            expected = registry.semvers_of(sha) if is_mirror else []
            shown = {mv.tags.get("semver", ""), *mv.tags.get("semvers", "").split(",")} - {""}
            for semver in sorted(shown):
                carriers.setdefault(semver, []).append(label(name, mv))
                if semver not in expected:
                    bound = registry.tags.get(semver)
                    target = f"binds it to {short(bound)}" if bound else "does not bind it"
                    if bound == sha:
                        target += f", mirrored as {label(*mirrors[sha])}"
                    problems.append(
                        f"semver not bound: {label(name, mv)} carries {semver}; the registry "
                        f"{target}"
                    )
            if expected and mv.tags.get("semver") != expected[-1]:
                problems.append(f"semver missing: {label(name, mv)} lacks semver {expected[-1]}")
    for semver, where in sorted(carriers.items()):
        if len(where) > 1:
            problems.append(f"duplicate semver: {semver} on {', '.join(where)}")

    holders: dict[str, list[tuple[str, Any]]] = {}
    for name, model in sorted(models.items()):
        versions = {str(mv.version): mv for mv in model.versions}
        for alias, version in sorted(model.aliases.items()):
            holders.setdefault(alias, []).append((name, versions.get(version)))
    for alias, found in sorted(holders.items()):
        if len(found) > 1:
            names = ", ".join(f"{name}@{alias}" for name, _ in found)
            problems.append(f"alias on {len(found)} models: {names}")
        want = registry.aliases.get(alias)
        for name, mv in found:
            sha = mv.tags.get("canonical_sha", "") if mv is not None else ""
            if sha == want:
                continue
            where = label(name, mv) if mv is not None else f"{name} (a missing version)"
            if want is None:
                problems.append(f"alias not in the registry: {name}@{alias} is {where}")
            else:
                problems.append(
                    f"stale alias: {name}@{alias} is {where}; "
                    f"the registry's {alias} is {short(want)}"
                )
    for alias, want in sorted(registry.aliases.items()):
        if alias not in holders:
            problems.append(
                f"alias missing: the registry's {alias} ({short(want)}) is on no "
                f"{MODEL_PREFIX}* model"
            )
    return problems


def verify_registry_mirror(registry: Registry, start: Path) -> list[str]:
    """`gramops registry verify --mlflow`: compare the store the mirror writes to (see
    :func:`default_tracking_uri`) with ``registry``; creates nothing, not even the store."""
    uri = default_tracking_uri(start)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return [f"no MLflow store at {uri}: nothing is mirrored yet (`dvc repro` runs the mirror)"]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with _mlflow_errors(uri, "connecting", retry=_VERIFY_RETRY):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
    return verify_mlflow(Tracker(uri=uri, client=client, experiment_id=""), registry_view(registry))


def sync_after_act(registry: Registry, start: Path) -> str:
    """After `gramops promote`/`rollback`: bring an existing MLflow store's aliases and
    semvers in line at once, rather than at the next `dvc repro`. Creates no store; what
    it did, in one line (an unreachable server is reported, not raised: the act is done
    and audited, and the next mirror catches up)."""
    try:
        uri = default_tracking_uri(start)
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
            return f"no MLflow store at {uri} yet; the pipeline's mirror stage creates it"
        models = mirror_registry(connect(uri), registry)
    except GramopsError as exc:
        log.warning("MLflow not updated (the next `dvc repro` mirrors it): %s", exc)
        return f"MLflow not updated: {exc}"
    return f"MLflow at {uri}: aliases and semvers synced ({len(models.pointers)} versions)"


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
