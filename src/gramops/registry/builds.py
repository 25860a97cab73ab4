"""Registering what one pipeline run built: every family's bundle, and the summary of it.

The register stage only adds content-addressed entries, which is safe to repeat: it binds
no semver and moves no alias (people and CI do that with `gramops promote`). Families are
registered in :data:`~gramops.core.vocab.FAMILIES` order, the order the audit log (and so
every registration-order view of it) shows them in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.core.vocab import FAMILIES, short
from gramops.registry.store import Registry, registry_location
from gramops.registry.summary import keyed_summaries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """SHA per family (in registration order) and the entry files this run created in a
    local registry, which the stage stages in git."""

    shas: dict[str, str]
    created: list[Path]


def register_builds(registry: Registry, models_dir: Path) -> Registered:
    """Register ``models_dir/<family>`` for every family; a known SHA is left as it is."""
    shas: dict[str, str] = {}
    created: list[Path] = []
    for family in FAMILIES:
        result = registry.register(Path(models_dir) / family, family=family)
        shas[family] = result.sha
        if result.created and registry.is_local:
            created.append(registry.entry_path(result.sha))
        log.info(
            "%s %s %s (%s%s)",
            family,
            result.semver or "untagged",
            short(result.sha),
            "new" if result.created else "already registered",
            f", restored {result.restored_objects} objects" if result.restored_objects else "",
        )
    return Registered(shas, created)


# what models/manifest.json records of each entry: identity and lineage, no measurements
RECORD_FIELDS = ("sha", "parent_sha", "corpus_dvc_hash")


def registration_records(registry: Registry, shas: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per family, the registered entry's SHA, parent SHA and corpus DVC hash, read from the
    entry itself (the registry's word, which `gramops lineage` also follows)."""
    records = {}
    for family, sha in shas.items():
        entry = registry.entry(sha)
        records[family] = {field: entry.get(field) for field in RECORD_FIELDS}
    return records


def registry_metrics(registry: Registry, shas: Mapping[str, str]) -> dict[str, Any]:
    """``metrics/registry.json``: where the registry lives, beside what this run put in it.

    The stages that read the registry depend on this file, so pointing GRAMOPS_REGISTRY at
    a team's store (which DVC cannot see) re-runs them against it, and `dvc metrics diff`
    shows the move. No semvers: a promotion binds them later, and this file would then be
    stale (metrics/aliases.json shows the released models with theirs).
    """
    return {
        "registry": registry_location(),
        "families": keyed_summaries(shas, registry.entry, None),
        "shas": dict(shas),
    }
