"""The registry's aliases on MLflow's registered model, and the retired per-family models.

MLflow follows the registry exactly: after a mirror, the model's aliases are the registry's,
whoever changed them in MLflow. A tag on the model records what the mirror itself set
last, so following a registry move (routine) is told apart from undoing a hand edit
(a warning naming it).

Before issue 13 each family was its own registered model, ``gramops-<family>``, holding raw
bundle files that no MLflow tool could load. Those models are kept as history (their
versions, runs and semver tags are left as they were) but retired: their aliases are
removed, since nothing syncs them any more and a stale ``gramops-int8@production`` would
mislead, and a tag names the model that replaced them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gramops.core.fileio import canonical_bytes
from gramops.core.vocab import FAMILIES
from gramops.tracking.connect import TrackingError

log = logging.getLogger(__name__)

# on the registered model: the aliases the mirror set there last (JSON), to tell hand edits apart
TAG_ALIASES = "gramops.aliases"
# on a retired gramops-<family> model: the registered model its entries are mirrored to now
TAG_SUPERSEDED = "gramops.superseded_by"
LEGACY_MODELS = tuple(f"gramops-{family}" for family in FAMILIES)
# A concurrent mirror wrote the same row first (PostgreSQL, MySQL, SQLite wordings).
_CONFLICT = re.compile(r"UniqueViolation|duplicate (key|entry)|UNIQUE constraint failed")


@dataclass
class MlflowModel:
    """A registered model as found: aliases, tags, versions (oldest first) and by SHA."""

    name: str
    aliases: dict[str, str]
    tags: dict[str, str]
    versions: list[Any] = field(default_factory=list)
    by_sha: dict[str, Any] = field(default_factory=dict)


def is_write_conflict(exc: Exception) -> bool:
    """A write that lost a race with another mirror (two queued experiments at once).

    MLflow's server checks then inserts, so a concurrent writer of the same model version
    tag or alias surfaces as the database's unique-key violation; a tag or alias the other
    mirror removed first is "does not exist". A fresh pass re-reads and converges.
    """
    codes = ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST")
    return getattr(exc, "error_code", "") in codes or bool(_CONFLICT.search(str(exc)))


def sync_aliases(
    client: Any, uri: str, model: MlflowModel, aliases: Mapping[str, str]
) -> dict[str, str]:
    """Make ``model``'s aliases exactly ``aliases`` (alias -> version); writes differences."""
    from mlflow.exceptions import MlflowException

    name, have = model.name, model.aliases
    mirrored = mirrored_aliases(model.tags)
    for alias, version in sorted(have.items()):
        if aliases.get(alias) == version:
            continue
        if alias not in aliases:
            client.delete_registered_model_alias(name, alias)
        outcome = f"moved to version {aliases[alias]}" if alias in aliases else "removed"
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
    for alias, version in sorted(aliases.items()):
        if have.get(alias) == version:
            continue
        if alias not in have and mirrored.get(alias) == version:
            log.warning("MLflow alias %s@%s was removed outside gramops; set again", name, alias)
        try:
            client.set_registered_model_alias(name, alias, version)
        except MlflowException as exc:
            if is_write_conflict(exc):
                raise
            raise TrackingError(
                f"MLflow at {uri}: cannot mirror registry alias {alias!r} onto {name} "
                f"version {version}: {exc}"
            ) from exc
    if mirrored != aliases or TAG_ALIASES not in model.tags:
        client.set_registered_model_tag(name, TAG_ALIASES, canonical_bytes(aliases).decode())
    return dict(aliases)


def mirrored_aliases(tags: Mapping[str, str]) -> dict[str, str]:
    """The aliases the mirror set last on a model ({} when absent or edited into junk)."""
    try:
        found = json.loads(tags.get(TAG_ALIASES) or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def read_legacy(client: Any, current: str) -> list[MlflowModel]:
    """The per-family models of earlier mirrors present in the store (one request)."""
    found = []
    token = None
    while True:
        page = client.search_registered_models("name LIKE 'gramops-%'", page_token=token)
        for rm in page:
            if rm.name in LEGACY_MODELS and rm.name != current:
                aliases = {a: str(v) for a, v in rm.aliases.items()}
                found.append(MlflowModel(rm.name, aliases, dict(rm.tags)))
        token = page.token
        if not token:
            return sorted(found, key=lambda m: m.name)


def legacy_differences(legacy: list[MlflowModel], current: str) -> list[str]:
    """What :func:`retire_legacy` would change, one line per retired model with aliases."""
    return [
        f"retired model with aliases: {m.name}@{', @'.join(sorted(m.aliases))} is no longer "
        f"synced (entries are versions of {current}); the mirror removes them"
        for m in legacy
        if m.aliases
    ]


def retire_legacy(client: Any, current: str) -> list[str]:
    """Remove the aliases of earlier mirrors' per-family models and tag them as replaced by
    ``current``; their versions stay as history. Returns the models changed."""
    changed = []
    for model in read_legacy(client, current):
        if not model.aliases and model.tags.get(TAG_SUPERSEDED) == current:
            continue
        for alias in sorted(model.aliases):
            client.delete_registered_model_alias(model.name, alias)
        client.set_registered_model_tag(model.name, TAG_SUPERSEDED, current)
        log.warning(
            "MLflow %s: retired (aliases removed: %s); every registry entry is a version of %s, "
            "load models:/%s@production",
            model.name,
            ", ".join(sorted(model.aliases)) or "none",
            current,
            current,
        )
        changed.append(model.name)
    return changed
