"""Compare MLflow's model registry with the gramops registry, changing nothing.

`gramops registry verify --mlflow` lists what :func:`gramops.tracking.models.mirror_registry`
would correct: stale, unknown, missing and doubled aliases, semvers on the wrong or on two
versions, and entries with no version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gramops.core.vocab import short
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
    MODEL_PREFIX,
    MlflowModel,
    RegistryView,
    read_models,
    registry_view,
)

if TYPE_CHECKING:
    from gramops.registry.store import Registry


def verify_mlflow(tracker: Tracker, registry: RegistryView) -> list[str]:
    """Every way MLflow's model registry differs from ``registry``; [] when it matches.

    Reads only. What :func:`mirror_model_registry` would correct, described: stale,
    unknown, missing and doubled aliases, semvers on the wrong or on two versions, and
    entries with no version.
    """
    with (
        mlflow_errors(tracker.uri, "reading the model registry", retry=VERIFY_RETRY),
        env_defaults(REQUEST_LIMITS),
    ):
        models = read_models(tracker.client)
    return mirror_differences(models, registry)


def mirror_differences(models: Mapping[str, MlflowModel], registry: RegistryView) -> list[str]:
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
    if store_missing(uri):
        return [f"no MLflow store at {uri}: nothing is mirrored yet (`dvc repro` runs the mirror)"]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with mlflow_errors(uri, "connecting", retry=VERIFY_RETRY):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
    return verify_mlflow(Tracker(uri=uri, client=client, experiment_id=""), registry_view(registry))
