"""What a model bundle says about itself: ``config.json`` and ``train_manifest.json``.

These two files are the model's identity (its canonical SHA is a hash of them and of the
weights), so their schema lives here once for every family instead of in each stage. A
``config.json`` says how to run the weights; a ``train_manifest.json`` says where they came
from: seed, params, corpus, code and, for a derived model, the SHA of its parent. The
pipeline's own ``models/manifest.json`` (which models one run built, from which params, in
which environment) is built here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, NamedTuple

from gramops.core.params import FinetuneParams, QuantizeParams, TrainParams
from gramops.core.vocab import TAGS
from gramops.models.lora import LORA_TARGETS, LoraResult
from gramops.models.mlp import TrainResult
from gramops.models.quantize import QUANTIZED


class Metadata(NamedTuple):
    """The two identity documents of a bundle, as :func:`~gramops.models.bundle.save_bundle`
    takes them."""

    config: dict[str, Any]
    manifest: dict[str, Any]


def fp32_metadata(
    params: TrainParams,
    seed: int,
    result: TrainResult,
    corpus: dict[str, Any],
    code: dict[str, Any],
) -> Metadata:
    """The FP32 model trained from scratch: no parent, the training run in full."""
    history = [asdict(e) for e in result.history]
    config = {
        "family": "fp32",
        "architecture": {
            "type": "mlp",
            "input_dim": result.weights["W1"].shape[1],
            "hidden": params.hidden,
            "activation": "relu",
            "tags": list(TAGS),
        },
        # a model without the cues (or the lexicon) says nothing of them, as every model
        # before them did, so its features read the same
        "features": params.features.model_dump(
            exclude={k for k in ("cues", "lexicon") if not getattr(params.features, k)}
        ),
    }
    manifest = {
        "family": "fp32",
        "seed": seed,
        "params": {"train": params.model_dump()},
        "corpus": corpus,
        "code": code,
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "best_dev_accuracy": result.best_dev_accuracy,
            "history": history,
        },
        "parent_sha": None,
    }
    return Metadata(config, manifest)


def int8_metadata(
    params: QuantizeParams,
    parent_config: dict[str, Any],
    parent_manifest: dict[str, Any],
    parent_sha: str,
    code: dict[str, Any],
) -> Metadata:
    """The INT8 model: its parent's architecture and corpus, the quantization scheme added."""
    config = {
        **parent_config,
        "family": "int8",
        "quantization": {
            "bits": params.bits,
            "scheme": "symmetric",
            "granularity": "per-row",
            "quantized": list(QUANTIZED),
        },
    }
    manifest = {
        "family": "int8",
        "seed": parent_manifest["seed"],
        "params": {"quantize": params.model_dump()},
        "corpus": parent_manifest["corpus"],
        "code": code,
        "parent_sha": parent_sha,
    }
    return Metadata(config, manifest)


def lora_metadata(
    params: FinetuneParams,
    seed: int,
    parent_config: dict[str, Any],
    parent_sha: str,
    result: LoraResult,
    corpus: dict[str, Any],
    code: dict[str, Any],
) -> Metadata:
    """The LoRA adapter: its base's architecture and features (it only fits that base)."""
    history = [asdict(e) for e in result.history]
    config = {
        "family": "lora",
        "architecture": parent_config["architecture"],
        "features": parent_config["features"],
        "lora": {"rank": params.rank, "alpha": params.alpha, "targets": list(LORA_TARGETS)},
        "base_sha": parent_sha,
    }
    manifest = {
        "family": "lora",
        "seed": seed,
        "params": {"finetune": params.model_dump()},
        "corpus": corpus,
        "code": code,
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "base_dev_accuracy": result.base_dev_accuracy,
            "best_dev_accuracy": result.best_dev_accuracy,
            "history": history,
        },
        "parent_sha": parent_sha,
    }
    return Metadata(config, manifest)


def pipeline_manifest(
    params: Mapping[str, Any],
    models: Mapping[str, Mapping[str, Any]],
    environment: Mapping[str, Any],
) -> dict[str, Any]:
    """``models/manifest.json``: the models one run built, every upstream params section
    and the environment a rebuild must match (``params`` holds ``base`` for the seed).

    ``models`` maps a family to its registration record: the canonical SHA, the parent's
    SHA and the corpus DVC hash it was trained on, so one file reads a run's SHAs with
    their lineage (metrics/mirror.json adds the semvers and MLflow ids per SHA).
    """
    return {
        "seed": params["base"].seed,
        "models": {family: dict(record) for family, record in models.items()},
        "config": {name: section.model_dump(mode="json") for name, section in params.items()},
        **environment,
    }
