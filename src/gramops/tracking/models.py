"""Registry entries as versions of one MLflow Model, with the registry's semvers and aliases.

Every entry becomes a version of one registered model, ``gramops`` (``GRAMOPS_MLFLOW_MODEL``
names another), tagged ``canonical_sha``, ``family`` and ``semver``; a version's source is
a run holding the entry as an MLflow Model (:mod:`gramops.tracking.mlmodel`), so
``mlflow.pyfunc.load_model("models:/gramops@production")`` answers. The registry is the
authority and MLflow follows it exactly: after a mirror, the model's aliases and semver tags
are the registry's, whoever changed them in MLflow (a hand edit that is undone is logged as a
warning naming it). Every write is found again first, so a second mirror of the same
registry writes nothing. The per-family models of earlier mirrors are retired
(:mod:`gramops.tracking.aliases`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import dumps_pretty
from gramops.core.vocab import short
from gramops.registry.auditlog import registration_order
from gramops.registry.refs import parse_semver
from gramops.tracking.aliases import MlflowModel, is_write_conflict, retire_legacy, sync_aliases
from gramops.tracking.connect import (
    QUIET,
    REQUEST_LIMITS,
    Tracker,
    connect,
    default_tracking_uri,
    env_defaults,
    mlflow_errors,
    store_missing,
)
from gramops.tracking.mlmodel import save_entry_model
from gramops.tracking.pipeline import StageResult, numeric_leaves
from gramops.tracking.runs import TAG_KIND, find_run, log_values

if TYPE_CHECKING:
    from gramops.registry.store import Registry

# Every tracking module logs as the mirror: people filter and read its lines by that name.
log = logging.getLogger(__name__)

MODEL_ENV = "GRAMOPS_MLFLOW_MODEL"
DEFAULT_MODEL = "gramops"
TAG_SHA = "gramops.canonical_sha"
TAG_FAMILY = "gramops.family"
# A version's source: the run's MLflow Model (runs of the per-family era hold `bundle/`).
RUN_KIND = "model"
ARTIFACT_PATH = "model"
_CONFLICT_ATTEMPTS = 3


def registered_model_name() -> str:
    """The registered model every entry is a version of: ``GRAMOPS_MLFLOW_MODEL`` or gramops."""
    return os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


@dataclass(frozen=True)
class ModelMirror:
    """The registry as mirrored: a pointer per entry, new versions, aliases per model."""

    pointers: dict[str, dict[str, str]]
    created: tuple[str, ...]
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    # per entry SHA: its family, semvers and the MLflow run holding it as an MLflow Model
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    the entry as an MLflow Model (``materialize(sha, dest)``, which verifies hashes, or
    returns None when the objects are not in this store; a LoRA adapter's base is
    materialized too) as its source. ``semvers`` maps a SHA to its semvers, lowest first;
    ``aliases`` maps an alias to a SHA.

    Afterwards the registered model agrees with the registry: each entry's version carries
    its family, its semvers (none until one is bound) and the registry's aliases; every
    other version (an entry of a discarded experiment sharing the store, a duplicate)
    carries neither; an alias set by hand is removed or moved with a warning naming it.
    """
    from mlflow.exceptions import MlflowException

    with (
        mlflow_errors(tracker.uri, "mirroring the model registry"),
        env_defaults({**QUIET, **REQUEST_LIMITS}),
    ):
        attempt = 1
        while True:
            try:
                return _mirror_models(tracker, entries, semvers, aliases, materialize)
            except MlflowException as exc:
                if attempt == _CONFLICT_ATTEMPTS or not is_write_conflict(exc):
                    raise
                # every write is found again first, so a second pass only writes what is left
                log.info("MLflow %s: a concurrent mirror wrote first; syncing again", tracker.uri)
                time.sleep(0.5 * attempt)
                attempt += 1


def _mirror_models(
    tracker: Tracker,
    entries: Sequence[Mapping[str, Any]],
    semvers: Mapping[str, Sequence[str]],
    aliases: Mapping[str, str],
    materialize: Callable[[str, Path], Path | None],
) -> ModelMirror:
    """One pass of :func:`mirror_model_registry`: read what MLflow has, write differences."""
    pointers: dict[str, dict[str, str]] = {}
    records: dict[str, dict[str, Any]] = {}
    created: list[str] = []
    metadata_only: list[str] = []
    client = tracker.client
    name = registered_model_name()
    model = read_models(client, name).get(name) or _create_model(client, name)
    for entry in entries:
        sha, family = entry["sha"], entry["family"]
        wanted = list(semvers.get(sha, ()))
        if sha not in model.by_sha:
            run_id = find_run(tracker, {TAG_KIND: RUN_KIND, TAG_SHA: sha})
            if run_id is None:
                run_id = _log_model(tracker, entry, materialize, metadata_only)
            tags, description = _version_metadata(family, sha, wanted)
            # OSS registries create versions READY at once; waiting only logs noise.
            mv = client.create_model_version(
                name,
                source=f"runs:/{run_id}/{ARTIFACT_PATH}",
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
        records[sha] = {"family": family, "semvers": wanted, "run_id": model.by_sha[sha].run_id}
    _unbind_others(client, model, pointers)
    wanted_aliases = {}
    for alias, sha in sorted(aliases.items()):
        if sha not in pointers:
            log.warning("alias %s points at %s, which is not a registry entry; skipped", alias, sha)
            continue
        wanted_aliases[alias] = pointers[sha]["version"]
    if metadata_only:
        # Registered on another machine (objects are not in git): each version still records
        # identity and metadata; one line says so, not one per entry
        log.warning(
            "%d registry entries have no bytes in this object store (registered elsewhere); "
            "their MLflow versions hold the entry metadata only and cannot be loaded: %s. "
            "`gramops reproduce --restore REF` rebuilds one into it",
            len(metadata_only),
            ", ".join(metadata_only),
        )
    mirrored = sync_aliases(client, tracker.uri, model, wanted_aliases)
    retire_legacy(client, name)
    log.info(
        "MLflow %s: %d registry entries, %d new versions of %s",
        tracker.uri,
        len(pointers),
        len(created),
        name,
    )
    return ModelMirror(
        pointers=pointers, created=tuple(created), aliases={name: mirrored}, records=records
    )


def read_models(client: Any, name: str) -> dict[str, MlflowModel]:
    """The registered model ``name`` with its aliases, tags and versions, in two requests
    ({} when it does not exist yet)."""
    models: dict[str, MlflowModel] = {}
    query = f"name = '{name}'"
    for rm in client.search_registered_models(query):
        if rm.name == name:
            aliases = {a: str(v) for a, v in rm.aliases.items()}
            models[name] = MlflowModel(name, aliases, dict(rm.tags))
    if name not in models:
        return models
    model = models[name]
    # Oldest first, so a duplicate left by two concurrent mirrors resolves to the first.
    for mv in sorted(client.search_model_versions(query), key=lambda v: int(v.version)):
        if mv.name != name:
            continue
        model.versions.append(mv)
        sha = mv.tags.get("canonical_sha")
        if sha and sha not in model.by_sha:
            model.by_sha[sha] = mv
    return models


def _create_model(client: Any, name: str) -> MlflowModel:
    client.create_registered_model(
        name,
        description=(
            "gramops models (every family), mirrored from models/registry by the `mirror` "
            "stage. A version's identity is its canonical_sha tag, its family the family tag; "
            "semvers and aliases follow the gramops registry: change them with `gramops`, not "
            f"here (the mirror undoes it). Load one with models:/{name}@production."
        ),
    )
    return MlflowModel(name, aliases={}, tags={})


def _log_model(
    tracker: Tracker,
    entry: Mapping[str, Any],
    materialize: Callable[[str, Path], Path | None],
    metadata_only: list[str],
) -> str:
    """A run holding an entry as an MLflow Model: the source of its model version (its
    metadata alone, named in ``metadata_only``, when its bytes are not in the object store)."""
    client = tracker.client
    sha, family = entry["sha"], entry["family"]
    run_id = client.create_run(
        tracker.experiment_id,
        run_name=f"model {family} {short(sha)}",
        tags={TAG_KIND: RUN_KIND, TAG_FAMILY: family},
    ).info.run_id
    params = {
        key: str(entry[key]) if entry.get(key) is not None else "null"
        for key in ("family", "parent_sha", "corpus_dvc_hash", "size_bytes", "parameters")
        if key in entry
    }
    log_values(client, run_id, params, numeric_leaves(entry.get("metrics") or {}))
    with tempfile.TemporaryDirectory(prefix="gramops-model-") as tmp:
        model = _model_files(Path(tmp), entry, materialize)
        if model is None:
            metadata_only.append(f"{family} {short(sha)}")
            model = Path(tmp) / "metadata"
            model.mkdir()
            (model / "entry.json").write_text(dumps_pretty(dict(entry)), encoding="utf-8")
            client.set_tag(run_id, "gramops.bundle_bytes", "missing")
        client.log_artifacts(run_id, str(model), ARTIFACT_PATH)
    client.set_terminated(run_id)
    client.set_tag(run_id, TAG_SHA, sha)
    return run_id


def _model_files(
    tmp: Path, entry: Mapping[str, Any], materialize: Callable[[str, Path], Path | None]
) -> Path | None:
    """The entry as an MLflow Model directory, or None when its bytes (or, for a LoRA
    adapter, its base's) are not in this object store."""
    sha, family, parent = entry["sha"], entry["family"], entry.get("parent_sha")
    bundle = materialize(sha, tmp / "bundle")
    base = materialize(parent, tmp / "base") if family == "lora" and bundle else None
    if bundle is None or (family == "lora" and base is None):
        return None
    return save_entry_model(tmp / "model", sha, family, bundle, base)


def _version_metadata(family: str, sha: str, semvers: list[str]) -> tuple[dict[str, str], str]:
    """The tags and description a version shows: its identity, family and current semvers.

    An empty tag value means "no such tag" (an entry has none until a semver is bound).
    ``semvers`` is only set when a SHA has several, so a single semver is not shown twice.
    """
    semver = semvers[-1] if semvers else ""
    tags = {
        "canonical_sha": sha,
        "family": family,
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
    client: Any, model: MlflowModel, pointers: Mapping[str, Mapping[str, str]]
) -> None:
    """No semver on a version that is not a registry entry's: a discarded experiment's
    entry mirrored earlier, a duplicate of an entry, a version made by hand."""
    for mv in model.versions:
        sha = mv.tags.get("canonical_sha", "")
        pointer = pointers.get(sha)
        if pointer == {"registered_model": model.name, "version": str(mv.version)}:
            continue
        if not (mv.tags.keys() & {"semver", "semvers"}):
            continue
        if sha and mv.tags.get("family"):
            removed = _sync_version(client, mv, mv.tags["family"], [])
        else:
            removed = [mv.tags[k] for k in ("semver", "semvers") if k in mv.tags]
            for key in ("semver", "semvers"):
                if key in mv.tags:
                    client.delete_model_version_tag(model.name, str(mv.version), key)
        log.warning(
            "MLflow %s version %s (sha %s) carried semver %s, which the registry does not "
            "bind to it; removed",
            model.name,
            mv.version,
            short(sha) or "unknown",
            ",".join(sorted(set(removed))),
        )


def sync_after_act(registry: Registry, start: Path) -> str:
    """After `gramops promote`/`rollback`: bring an existing MLflow store's aliases and
    semvers in line at once, rather than at the next `dvc repro`. Creates no store; what
    it did, in one line (an unreachable server is reported, not raised: the act is done
    and audited, and the next mirror catches up)."""
    try:
        uri = default_tracking_uri(start)
        if store_missing(uri):
            return f"no MLflow store at {uri} yet; the pipeline's mirror stage creates it"
        models = mirror_registry(connect(uri), registry)
    except GramopsError as exc:
        log.warning("MLflow not updated (the next `dvc repro` mirrors it): %s", exc)
        return f"MLflow not updated: {exc}"
    return f"MLflow at {uri}: aliases and semvers synced ({len(models.pointers)} versions)"


def mirror_summary(results: Sequence[StageResult], models: ModelMirror) -> dict[str, Any]:
    """The mirror stage's DVC output: where each registry entry lives in MLflow's registry.

    ``entries`` reads, per canonical SHA, what otherwise takes three lookups: the family
    and semvers (the registry's) and the registered model and version
    (``models:/<name>/<version>``); ``models/manifest.json`` holds the same SHAs with their
    lineage. Version numbers follow registration order, so a fresh store numbers them as
    before and this file, whose hash ``dvc.lock`` records, is the same on every clone. The
    run ids are each store's own (random), so they are not here: see `mirror_run_ids`.
    """
    registered: dict[str, dict[str, Any]] = {}
    entries: dict[str, dict[str, Any]] = {}
    for sha, pointer in models.pointers.items():
        model = registered.setdefault(pointer["registered_model"], {"versions": {}, "aliases": {}})
        model["versions"][pointer["version"]] = sha
        record = models.records.get(sha, {})
        entries[sha] = {
            "family": record.get("family"),
            "semvers": list(record.get("semvers", ())),
            "registered_model": pointer["registered_model"],
            "version": pointer["version"],
        }
    for name, want in models.aliases.items():
        registered.setdefault(name, {"versions": {}, "aliases": {}})["aliases"] = dict(want)
    return {
        "stage_results": len(results),
        "model_versions": len(models.pointers),
        "registered_models": registered,
        "entries": entries,
    }


def mirror_run_ids(models: ModelMirror) -> dict[str, Any]:
    """Per canonical SHA, the run that holds the entry as an MLflow Model (``runs:/<id>/model``).

    The store draws run ids at random, so they describe this MLflow store as ``mlflow.db``
    does: written beside the summary (``metrics/mirror_runs.json``, gitignored and not a
    DVC output), never into a file whose hash ``dvc.lock`` records.
    """
    entries = {}
    for sha, pointer in models.pointers.items():
        run_id = models.records.get(sha, {}).get("run_id")
        entries[sha] = {"version": pointer["version"], "run_id": run_id}
    return {"entries": entries}
