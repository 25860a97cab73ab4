"""Load a model bundle and answer with tags, corrected forms and confidences.

One function serves every family: FP32 weights, INT8 codes with per-row scales, and a
LoRA adapter on its FP32 base. A LoRA base is used only after its canonical SHA matches
the adapter's recorded ``parent_sha``, so an adapter never silently runs on another base.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from gramops import model
from gramops.bundle import BundleError, load_tensors, read_metadata
from gramops.features import featurize
from gramops.identity import canonical_sha
from gramops.inflection import inflect
from gramops.params import FeatureParams

FAMILIES = ("fp32", "int8", "lora")


@dataclass(frozen=True)
class Prediction:
    tags: list[str]
    forms: list[str]
    confidence: np.ndarray


@dataclass(frozen=True)
class Predictor:
    family: str
    features: FeatureParams
    proba: Callable[[sp.csr_matrix], np.ndarray]

    def predict(self, records: Sequence[dict[str, Any]]) -> Prediction:
        """Tag each masked verb slot and inflect the record's lemma to that tag."""
        probabilities = self.proba(featurize(records, self.features))
        best = probabilities.argmax(axis=1)
        tags = [model.TAGS[k] for k in best]
        forms = [inflect(r["lemma"], t) for r, t in zip(records, tags, strict=True)]
        return Prediction(tags, forms, probabilities.max(axis=1))


def _check_shapes(tensors: dict[str, np.ndarray], config: dict[str, Any], where: Path) -> None:
    arch = config["architecture"]
    w1 = tensors.get("W1", tensors.get("W1.q"))
    expected = (arch["hidden"], 2 ** config["features"]["hash_bits"])
    if w1 is None or w1.shape != expected:
        raise BundleError(
            f"{where}: first-layer weights have shape {None if w1 is None else w1.shape}, "
            f"config.json says {expected}"
        )


def load_predictor(bundle_dir: Path, base_dir: Path | None = None) -> Predictor:
    """A predictor for the bundle in ``bundle_dir``; LoRA bundles need their base's dir."""
    bundle_dir = Path(bundle_dir)
    config = read_metadata(bundle_dir, "config.json")
    family = config.get("family")
    features = FeatureParams(**config["features"])
    if family == "fp32":
        weights = load_tensors(bundle_dir / "model.safetensors")
        _check_shapes(weights, config, bundle_dir)
        return Predictor(family, features, lambda X: model.predict_proba(weights, X))
    if family == "int8":
        qweights = load_tensors(bundle_dir / "model.safetensors")
        _check_shapes(qweights, config, bundle_dir)
        return Predictor(family, features, lambda X: model.predict_proba_int8(qweights, X))
    if family == "lora":
        if base_dir is None:
            raise BundleError(f"{bundle_dir}: a LoRA adapter needs its base bundle directory")
        parent = read_metadata(bundle_dir, "train_manifest.json")["parent_sha"]
        actual = canonical_sha(base_dir)
        if actual != parent:
            raise BundleError(
                f"{bundle_dir}: adapter was trained on base {parent[:12]}, but {base_dir} is "
                f"{actual[:12]}; re-run finetune or point at the right base"
            )
        base = load_tensors(Path(base_dir) / "model.safetensors")
        _check_shapes(base, config, base_dir)
        adapter = load_tensors(bundle_dir / "adapter.safetensors")
        lora = config["lora"]
        return Predictor(
            family,
            features,
            lambda X: model.predict_proba_lora(base, adapter, X, lora["alpha"], lora["rank"]),
        )
    raise BundleError(f"{bundle_dir}/config.json: unknown family {family!r} (known: {FAMILIES})")
