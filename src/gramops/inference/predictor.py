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
from pydantic import ValidationError

from gramops.core.params import FeatureParams
from gramops.core.vocab import FAMILIES, TAGS, short
from gramops.corpus.inflection import inflect
from gramops.models.bundle import BundleError, load_weights, read_metadata
from gramops.models.features import featurize
from gramops.models.identity import canonical_sha
from gramops.models.lora import predict_proba_lora
from gramops.models.mlp import predict_proba
from gramops.models.quantize import predict_proba_int8


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
        tags = [TAGS[k] for k in best]
        forms = [inflect(r["lemma"], t) for r, t in zip(records, tags, strict=True)]
        return Prediction(tags, forms, probabilities.max(axis=1))


def _features(config: dict[str, Any], where: Path) -> FeatureParams:
    """The feature settings the model was trained with, or a message naming the bad key."""
    raw = config.get("features")
    if not isinstance(raw, dict):
        raise BundleError(
            f"{where}/config.json: features is {'missing' if raw is None else repr(raw)}; "
            "expected the feature settings the model was trained with"
        )
    try:
        return FeatureParams.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"features.{'.'.join(str(p) for p in err['loc'])}: {err['msg']} "
            f"(got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise BundleError(
            f"{where}/config.json: {problems}; re-run the stage that wrote the bundle"
        ) from None


def load_predictor(bundle_dir: Path, base_dir: Path | None = None) -> Predictor:
    """A predictor for the bundle in ``bundle_dir``; LoRA bundles need their base's dir.

    Every weights file is checked against its ``config.json`` (names, dtypes, shapes)
    before a predictor exists, so a damaged bundle fails here with the file named.
    """
    bundle_dir = Path(bundle_dir)
    config = read_metadata(bundle_dir, "config.json")
    family = config.get("family")
    if family not in FAMILIES:
        raise BundleError(
            f"{bundle_dir}/config.json: unknown family {family!r} (known: {', '.join(FAMILIES)})"
        )
    features = _features(config, bundle_dir)
    if family == "fp32":
        weights = load_weights(bundle_dir / "model.safetensors", config)
        return Predictor(family, features, lambda X: predict_proba(weights, X))
    if family == "int8":
        qweights = load_weights(bundle_dir / "model.safetensors", config)
        return Predictor(family, features, lambda X: predict_proba_int8(qweights, X))
    if base_dir is None:
        raise BundleError(f"{bundle_dir}: a LoRA adapter needs its base bundle directory")
    base_dir = Path(base_dir)
    lora = config.get("lora") if isinstance(config.get("lora"), dict) else {}
    alpha = lora.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha > 0:
        raise BundleError(
            f"{bundle_dir}/config.json: lora.alpha is {alpha!r}; expected a positive number"
        )
    parent = read_metadata(bundle_dir, "train_manifest.json").get("parent_sha")
    if not isinstance(parent, str):
        raise BundleError(
            f"{bundle_dir}/train_manifest.json: parent_sha is {parent!r}; a LoRA adapter "
            "records the canonical SHA of its FP32 base"
        )
    actual = canonical_sha(base_dir)
    if actual != parent:
        raise BundleError(
            f"{bundle_dir}: adapter was trained on base {short(parent)}, but {base_dir} is "
            f"{short(actual)}; re-run finetune or point at the right base"
        )
    base_config = read_metadata(base_dir, "config.json")
    for key in ("architecture", "features"):
        if base_config.get(key) != config.get(key):
            raise BundleError(
                f"{bundle_dir}/config.json: {key} differs from its base's {base_dir}/config.json; "
                "an adapter only fits the model it was trained on"
            )
    base = load_weights(base_dir / "model.safetensors", base_config)
    adapter = load_weights(bundle_dir / "adapter.safetensors", config)
    rank = lora["rank"]  # a positive int: load_weights checked it for the adapter's shapes
    return Predictor(
        family,
        features,
        lambda X: predict_proba_lora(base, adapter, X, alpha, rank),
    )
