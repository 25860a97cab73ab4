"""What the monitoring stages observe: a registered model by ref, and per-request features.

Drift compares these features between the reference (training) distribution and live
traffic: the verb's tag and lemma (categorical), and scalars that move when the traffic
does — sentence length, verb position, lemma frequency rank and the production model's
confidence (prediction drift).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gramops.inference import Predictor, load_predictor
from gramops.registry import Registry

CATEGORICAL = ("tag", "lemma")
NUMERIC = ("sentence_length", "verb_position", "lemma_rank", "confidence")


def load_registered(registry: Registry, ref: str, workdir: Path) -> tuple[str, Predictor]:
    """Materialize a registered model (and a LoRA adapter's base), hashes verified."""
    sha = registry.resolve(ref)
    bundle = registry.materialize(sha, Path(workdir) / sha[:12])
    entry = registry.entry(sha)
    base = None
    if entry["family"] == "lora":
        parent = entry["parent_sha"]
        base = registry.materialize(parent, Path(workdir) / parent[:12])
    return sha, load_predictor(bundle, base_dir=base)


def lemma_ranks(reference: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Frequency rank of each lemma in the reference (1 = most frequent, ties by name)."""
    counts: dict[str, int] = {}
    for record in reference:
        counts[record["lemma"]] = counts.get(record["lemma"], 0) + 1
    ordered = sorted(counts, key=lambda lemma: (-counts[lemma], lemma))
    return {lemma: rank for rank, lemma in enumerate(ordered, start=1)}


def features(
    records: Sequence[Mapping[str, Any]], ranks: Mapping[str, int], confidence: np.ndarray
) -> dict[str, np.ndarray]:
    """One array per feature; unseen lemmas rank just after the rarest reference lemma."""
    unseen = len(ranks) + 1
    lengths = np.array([len(r["tokens"]) for r in records], dtype=np.float64)
    return {
        "tag": np.array([r["tag"] for r in records], dtype=object),
        "lemma": np.array([r["lemma"] for r in records], dtype=object),
        "sentence_length": lengths,
        # relative position: 0 = first token, 1 = last, comparable across lengths
        "verb_position": np.array(
            [r["verb_index"] / max(len(r["tokens"]) - 1, 1) for r in records], dtype=np.float64
        ),
        "lemma_rank": np.array([ranks.get(r["lemma"], unseen) for r in records], np.float64),
        "confidence": np.asarray(confidence, dtype=np.float64),
    }
