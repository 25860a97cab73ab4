"""Load a model bundle and answer with tags, corrected forms and confidences.

One function serves every family: FP32 weights, INT8 codes with per-row scales, and a
LoRA adapter on its FP32 base. A LoRA base is used only after its canonical SHA matches
the adapter's recorded ``parent_sha``, so an adapter never silently runs on another base.

The answer is a form, not a tag: tags that spell the same form (``walked`` is VBD and
VBN, ``put`` four of the six) pool their probability, and the form with the most wins;
``be`` agrees with its subject (``they were``, ``I am``). Its confidence is that pooled
probability after the temperature the evaluate stage fitted on dev (recorded in the
bundle's ``eval_report.json``, part of its identity), and an answer below the threshold
chosen there is flagged ``unsure``. Asked to explain, the predictor names the context
tokens without which the model would believe its answer least (leave-one-token-out on
the model itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from gramops.models.cues import subject
from gramops.models.features import featurize
from gramops.models.identity import canonical_sha
from gramops.models.lora import predict_proba_lora
from gramops.models.mlp import predict_proba
from gramops.models.quantize import predict_proba_int8

REASONS = 3
"""At most this many tokens are named as the reason for an answer."""
REASON_MIN_PUSH = 0.1
"""A token is a reason when removing it lowers the answer's log-probability by this much."""


@dataclass(frozen=True)
class Calibration:
    """The evaluate stage's fit on dev: probabilities are ``softmax(log p / temperature)``;
    an answer whose confidence is below ``unsure_below`` is flagged (None: never)."""

    temperature: float = 1.0
    unsure_below: float | None = None


@dataclass(frozen=True)
class Prediction:
    tags: list[str]
    forms: list[str]
    confidence: np.ndarray
    unsure: np.ndarray | None = None
    because: list[list[str]] | None = None


def tag_forms(record: Mapping[str, Any]) -> list[str]:
    """The form each tag of :data:`TAGS` spells for the record's lemma; ``be`` agrees with
    the subject left of the slot (``I am``, ``they were``)."""
    lemma = record["lemma"]
    forms = [inflect(lemma, tag) for tag in TAGS]
    if lemma.lower() == "be":
        _kind, person = subject(record["tokens"], record["verb_index"])
        forms[TAGS.index("VBD")] = "were" if person in ("2", "pl") else "was"
        forms[TAGS.index("VBP")] = "am" if person == "1sg" else "are"
    return forms


def pooled(proba: np.ndarray, forms: Sequence[str]) -> tuple[str, float]:
    """The form with the most probability once tags spelling it alike are pooled."""
    total: dict[str, float] = {}
    for form, p in zip(forms, proba, strict=True):
        total[form] = total.get(form, 0.0) + float(p)
    best = max(total, key=lambda f: total[f])  # first of equals: tag order decides ties
    # a sum of float32 probabilities can pass 1 by rounding (every tag spelling one form)
    return best, min(total[best], 1.0)


def tempered(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities rescaled by a temperature (1 leaves them as they are)."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.maximum(proba, np.finfo(np.float32).tiny)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _without(record: Mapping[str, Any], k: int) -> dict[str, Any]:
    tokens = list(record["tokens"])
    index = record["verb_index"]
    del tokens[k]
    return {**record, "tokens": tokens, "verb_index": index - (k < index)}


@dataclass(frozen=True)
class Predictor:
    family: str
    features: FeatureParams
    proba: Callable[[sp.csr_matrix], np.ndarray]
    calibration: Calibration = Calibration()

    def tag_proba(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated tag probabilities (n × len(TAGS))."""
        raw = self.proba(featurize(records, self.features))
        return tempered(raw, self.calibration.temperature)

    def predict(self, records: Sequence[Mapping[str, Any]], explain: bool = False) -> Prediction:
        """Answer each masked verb slot with the record's lemma in its most probable form."""
        probabilities = self.tag_proba(records)
        tags, forms, confidence = [], [], np.zeros(len(records))
        for i, (record, p) in enumerate(zip(records, probabilities, strict=True)):
            spelled = tag_forms(record)
            form, confidence[i] = pooled(p, spelled)
            forms.append(form)
            # the tag reported is the likeliest of those spelling the answer
            tags.append(
                TAGS[max((k for k, f in enumerate(spelled) if f == form), key=p.__getitem__)]
            )
        threshold = self.calibration.unsure_below
        unsure = confidence < threshold if threshold is not None else np.zeros(len(records), bool)
        because = self._because(records, forms, confidence) if explain else None
        return Prediction(tags, forms, confidence, unsure, because)

    def _because(
        self, records: Sequence[Mapping[str, Any]], forms: list[str], confidence: np.ndarray
    ) -> list[list[str]]:
        """Per record, the tokens whose removal lowers the answer's probability most."""
        variants, owners = [], []
        for i, record in enumerate(records):
            for k, token in enumerate(record["tokens"]):
                if k != record["verb_index"] and any(ch.isalnum() for ch in token):
                    variants.append(_without(record, k))
                    owners.append((i, token))
        if not variants:
            return [[] for _ in records]
        probabilities = self.tag_proba(variants)
        pushes: list[list[tuple[float, str]]] = [[] for _ in records]
        for (i, token), variant, p in zip(owners, variants, probabilities, strict=True):
            spelled = tag_forms(variant)
            kept = sum(float(q) for f, q in zip(spelled, p, strict=True) if f == forms[i])
            push = float(np.log(confidence[i]) - np.log(max(kept, 1e-12)))
            if push >= REASON_MIN_PUSH:
                pushes[i].append((push, token))
        return [[t for _, t in sorted(p, key=lambda x: -x[0])[:REASONS]] for p in pushes]


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


def _calibration(bundle_dir: Path) -> Calibration:
    """The temperature and unsure threshold the evaluate stage fitted on dev, from the
    bundle's ``eval_report.json``; none yet (a bundle not evaluated, or evaluated before
    calibration existed) leaves probabilities as the model gives them."""
    if not (bundle_dir / "eval_report.json").is_file():
        return Calibration()
    fitted = read_metadata(bundle_dir, "eval_report.json").get("calibration")
    if fitted is None:
        return Calibration()
    temperature = fitted.get("temperature") if isinstance(fitted, dict) else None
    threshold = fitted.get("unsure_below") if isinstance(fitted, dict) else None
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (temperature > 0)
    ):
        raise BundleError(
            f"{bundle_dir}/eval_report.json: calibration.temperature is {temperature!r}; "
            "expected a positive number; re-run the evaluate stage"
        )
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise BundleError(
            f"{bundle_dir}/eval_report.json: calibration.unsure_below is {threshold!r}; "
            "expected null or a probability; re-run the evaluate stage"
        )
    return Calibration(float(temperature), None if threshold is None else float(threshold))


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
    calibration = _calibration(bundle_dir)
    if family == "fp32":
        weights = load_weights(bundle_dir / "model.safetensors", config)
        return Predictor(family, features, lambda X: predict_proba(weights, X), calibration)
    if family == "int8":
        qweights = load_weights(bundle_dir / "model.safetensors", config)
        return Predictor(family, features, lambda X: predict_proba_int8(qweights, X), calibration)
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
        calibration,
    )
