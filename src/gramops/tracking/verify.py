"""Compare MLflow's model registry with the gramops registry, changing nothing.

`gramops registry verify --mlflow` lists what :func:`gramops.tracking.models.mirror_registry`
would correct: stale, unknown, missing and doubled aliases, semvers on the wrong or on two
versions, entries with no version, and retired per-family models still carrying aliases.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gramops.core.vocab import short
from gramops.tracking.aliases import legacy_differences, read_legacy
from gramops.tracking.connect import (
    REQUEST_LIMITS,
    VERIFY_RETRY,
    Tracker,
    default_tracking_uri,
    env_defaults,
    mlflow_errors,
    store_missing,
)
from gramops.tracking.models import (
    MlflowModel,
    RegistryView,
    read_models,
    registered_model_name,
    registry_view,
)

if TYPE_CHECKING:
    from gramops.registry.store import Registry


def verify_mlflow(tracker: Tracker, registry: RegistryView) -> list[str]:
    """Every way MLflow's model registry differs from ``registry``; [] when it matches.

    Reads only. What :func:`mirror_model_registry` would correct, described: stale,
    unknown, missing and doubled aliases, semvers on the wrong or on two versions, and
    entries with no version; then retired per-family models that still carry aliases.
    """
    name = registered_model_name()
    with (
        mlflow_errors(tracker.uri, "reading the model registry", retry=VERIFY_RETRY),
        env_defaults(REQUEST_LIMITS),
    ):
        models = read_models(tracker.client, name)
        legacy = read_legacy(tracker.client, name)
    model = models.get(name)
    return [*mirror_differences(model, registry, name), *legacy_differences(legacy, name)]


def mirror_differences(model: MlflowModel | None, registry: RegistryView, name: str) -> list[str]:
    """:func:`verify_mlflow` on the registered model ``name`` already read (None when it
    does not exist): one line per difference."""
    if model is None:
        model = MlflowModel(name, aliases={}, tags={})
    problems: list[str] = []
    mirrors = {sha: mv for sha, mv in model.by_sha.items()}  # sha -> the version mirroring it

    def label(mv: Any) -> str:
        sha = mv.tags.get("canonical_sha", "")
        return f"{name} version {mv.version} ({short(sha) or 'no canonical_sha'})"

    for sha in sorted(registry.shas - mirrors.keys()):
        problems.append(f"not mirrored: registry entry {short(sha)} has no MLflow version")
    carriers: dict[str, list[str]] = {}
    for mv in model.versions:
        sha = mv.tags.get("canonical_sha", "")
        is_mirror = mirrors.get(sha) is mv and sha in registry.shas
        expected = registry.semvers_of(sha) if is_mirror else []
        shown = {mv.tags.get("semver", ""), *mv.tags.get("semvers", "").split(",")} - {""}
        for semver in sorted(shown):
            carriers.setdefault(semver, []).append(label(mv))
            if semver not in expected:
                bound = registry.tags.get(semver)
                target = f"binds it to {short(bound)}" if bound else "does not bind it"
                if bound == sha:
                    target += f", mirrored as {label(mirrors[sha])}"
                problems.append(
                    f"semver not bound: {label(mv)} carries {semver}; the registry {target}"
                )
        if expected and mv.tags.get("semver") != expected[-1]:
            problems.append(f"semver missing: {label(mv)} lacks semver {expected[-1]}")
    for semver, where in sorted(carriers.items()):
        if len(where) > 1:
            problems.append(f"duplicate semver: {semver} on {', '.join(where)}")

    versions = {str(mv.version): mv for mv in model.versions}
    for alias, version in sorted(model.aliases.items()):
        want = registry.aliases.get(alias)
        mv = versions.get(version)
        sha = mv.tags.get("canonical_sha", "") if mv is not None else ""
        if sha == want:
            continue
        where = label(mv) if mv is not None else f"version {version} (missing)"
        if want is None:
            problems.append(f"alias not in the registry: {name}@{alias} is {where}")
        else:
            problems.append(
                f"stale alias: {name}@{alias} is {where}; the registry's {alias} is {short(want)}"
            )
    for alias, want in sorted(registry.aliases.items()):
        if alias not in model.aliases:
            problems.append(
                f"alias missing: the registry's {alias} ({short(want)}) is not on {name}"
            )
    return problems


def verify_registry_mirror(registry: Registry, start: Path) -> list[str]:
    """`gramops registry verify --mlflow`: compare the store the mirror writes to (see
    :func:`default_tracking_uri`) with ``registry``; creates nothing, not even the store."""
    uri = default_tracking_uri(start)
    if store_missing(uri):
        return [f"no MLflow store at {uri}: nothing is mirrored yet (`dvc repro` runs the mirror)"]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with mlflow_errors(uri, "connecting", retry=VERIFY_RETRY):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
    return verify_mlflow(Tracker(uri=uri, client=client, experiment_id=""), registry_view(registry))
