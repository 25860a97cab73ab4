"""What the monitoring stages observe: a registered model by ref, and per-request features.

Drift compares these features between the reference (training) distribution and live
traffic: the verb's tag and lemma (categorical), and scalars that move when the traffic
does — sentence length, verb position, lemma frequency rank and the production model's
confidence (prediction drift).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gramops.core.errors import GramopsError
from gramops.core.vocab import FAMILIES, short
from gramops.inference.predictor import Predictor, load_predictor
from gramops.monitoring.shift import scalar_features
from gramops.registry.store import Registry, RegistryError

CATEGORICAL = ("tag", "lemma")
NUMERIC = ("length", "verb_position", "lemma_rank", "confidence")
# Features whose reference must come from held-out data: training examples' lemmas are
# all "seen" (rank) and the model is over-confident on them (confidence).
HELD_OUT = ("lemma_rank", "confidence")


def load_registered(registry: Registry, ref: str, workdir: Path) -> tuple[str, Predictor]:
    """Materialize a registered model (and a LoRA adapter's base), hashes verified."""
    sha = registry.resolve(ref)
    parent = registry.entry(sha).get("parent_sha")
    for needed in (sha, parent):
        if needed and not registry.objects_present(needed):
            raise GramopsError(
                f"{ref} ({short(sha)}) cannot be loaded: the bytes of {short(needed)} are not in "
                f"this object store ({registry.objects_url}). It was built by other code or on "
                f"another machine: rebuild it here with `gramops reproduce {short(sha)} "
                "--restore`, or point GRAMOPS_REGISTRY_OBJECTS at the store that has them "
                "(`gramops registry verify` tells bytes never here, NOT HERE, from lost ones, "
                "MISSING)"
            )
    bundle = registry.materialize(sha, Path(workdir) / short(sha))
    entry = registry.entry(sha)
    base = None
    if entry["family"] == "lora":
        parent = entry["parent_sha"]
        base = registry.materialize(parent, Path(workdir) / short(parent))
    return sha, load_predictor(bundle, base_dir=base)


def features(
    records: Sequence[Mapping[str, Any]], ranks: Mapping[str, int], confidence: np.ndarray
) -> dict[str, np.ndarray]:
    """One array per drift feature (scalars as :func:`gramops.monitoring.shift.scalar_features`)."""
    return {
        "tag": np.array([r["tag"] for r in records], dtype=object),
        "lemma": np.array([r["lemma"] for r in records], dtype=object),
        **{k: v.astype(np.float64) for k, v in scalar_features(records, ranks).items()},
        "confidence": np.asarray(confidence, dtype=np.float64),
    }


def resolve_challenger(registry: Registry, spec: str, built: Mapping[str, str]) -> str:
    """The full SHA ``traffic.challenger`` names.

    A family name (fp32, int8, lora) means the bundle of that family this pipeline run built,
    as the register stage recorded it in ``built`` (``metrics/registry.json:shas``), not the
    family's newest registration: a re-run of an older experiment registers nothing new, yet
    its bundle is still the one to judge. Anything else is a registry ref (semver, SHA,
    alias). Either way the SHA must be registered.
    """
    if spec in FAMILIES:
        sha = built.get(spec)
        if not sha:
            raise GramopsError(
                f"traffic.challenger {spec!r}: metrics/registry.json has no {spec} SHA under "
                f'"shas" (families built: {", ".join(sorted(built)) or "none"}); run '
                "`dvc repro register`"
            )
        what = f"the {spec} bundle this run built ({short(sha)}, metrics/registry.json)"
    else:
        sha, what = spec, f"ref {spec!r}"
    try:
        return registry.resolve(sha)
    except RegistryError as exc:
        raise GramopsError(
            f"traffic.challenger {spec!r}: {what} is not registered ({exc}); run "
            "`dvc repro register`, or set traffic.challenger to a registered ref"
        ) from None


def confidence_model(registry: Registry, spec: str, built: Callable[[], Mapping[str, str]]) -> str:
    """The ref whose confidence drift is watched: ``production``; before a first release
    there is none, and the candidate (``traffic.challenger``, resolved as
    :func:`resolve_challenger` does with ``built()``) stands in for it."""
    if "production" in registry.aliases():
        return "production"
    return resolve_challenger(registry, spec, built())
