"""Unit tests of the identity schema: config.json and train_manifest.json of every family."""

from __future__ import annotations

import numpy as np
import pytest

from gramops.core.params import (
    BaseParams,
    FeatureParams,
    FinetuneParams,
    QuantizeParams,
    TrainParams,
)
from gramops.core.vocab import TAGS
from gramops.models.lora import LoraResult
from gramops.models.manifest import (
    fp32_metadata,
    int8_metadata,
    lora_metadata,
    pipeline_manifest,
)
from gramops.models.mlp import TrainResult
from gramops.models.training import EpochStats

TRAIN = TrainParams(
    features=FeatureParams(hash_bits=8, window=2),
    hidden=2,
    epochs=3,
    batch_size=4,
    learning_rate=0.1,
    weight_decay=0.0,
    patience=1,
)
FINETUNE = FinetuneParams(rank=2, alpha=4, epochs=2, batch_size=4, learning_rate=0.1, patience=1)
CORPUS = {"path": "data/processed", "dvc_hash": "c" * 32 + ".dir", "domain": "verb"}
CODE = {"gramops": "1.0", "files": {"src/gramops/models/mlp.py": "d" * 64}}
HISTORY = [EpochStats(1, 0.9, 0.5), EpochStats(2, 0.7, 0.75)]
HISTORY_DICTS = [
    {"epoch": 1, "train_loss": 0.9, "dev_accuracy": 0.5},
    {"epoch": 2, "train_loss": 0.7, "dev_accuracy": 0.75},
]
PARENT = "a" * 64


@pytest.fixture
def fp32() -> tuple[dict, dict]:
    weights = {"W1": np.zeros((2, 256), np.float32), "b1": np.zeros(2, np.float32)}
    return fp32_metadata(TRAIN, 7, TrainResult(weights, HISTORY, 2, 0.75), CORPUS, CODE)


def test_fp32_config_says_how_to_run_the_weights(fp32) -> None:
    config, _ = fp32
    assert config == {
        "family": "fp32",
        "architecture": {
            "type": "mlp",
            "input_dim": 256,
            "hidden": 2,
            "activation": "relu",
            "tags": list(TAGS),
        },
        "features": {"hash_bits": 8, "window": 2},
    }


def test_fp32_manifest_records_the_whole_training_run(fp32) -> None:
    _, manifest = fp32
    assert manifest == {
        "family": "fp32",
        "seed": 7,
        "params": {"train": TRAIN.model_dump()},
        "corpus": CORPUS,
        "code": CODE,
        "training": {
            "best_epoch": 2,
            "epochs_run": 2,
            "best_dev_accuracy": 0.75,
            "history": HISTORY_DICTS,
        },
        "parent_sha": None,
    }


def test_int8_inherits_its_parent_and_adds_the_scheme(fp32) -> None:
    parent_config, parent_manifest = fp32
    config, manifest = int8_metadata(
        QuantizeParams(bits=8), parent_config, parent_manifest, PARENT, CODE
    )
    assert config == {
        **parent_config,
        "family": "int8",
        "quantization": {
            "bits": 8,
            "scheme": "symmetric",
            "granularity": "per-row",
            "quantized": ["W1", "W2"],
        },
    }
    assert manifest == {
        "family": "int8",
        "seed": 7,
        "params": {"quantize": {"bits": 8}},
        "corpus": CORPUS,
        "code": CODE,
        "parent_sha": PARENT,
    }
    assert parent_config["family"] == "fp32"  # the parent's documents are not changed


def test_lora_fits_only_its_base(fp32) -> None:
    parent_config, _ = fp32
    adapter = {"W1.lora_A": np.zeros((2, 8), np.float32)}
    result = LoraResult(adapter, HISTORY, 2, 0.75, 0.4)
    tutor = {**CORPUS, "domain": "tutor"}
    config, manifest = lora_metadata(FINETUNE, 7, parent_config, PARENT, result, tutor, CODE)
    assert config == {
        "family": "lora",
        "architecture": parent_config["architecture"],
        "features": parent_config["features"],
        "lora": {"rank": 2, "alpha": 4.0, "targets": ["W1", "W2"]},
        "base_sha": PARENT,
    }
    assert manifest == {
        "family": "lora",
        "seed": 7,
        "params": {"finetune": FINETUNE.model_dump()},
        "corpus": tutor,
        "code": CODE,
        "training": {
            "best_epoch": 2,
            "epochs_run": 2,
            "base_dev_accuracy": 0.4,
            "best_dev_accuracy": 0.75,
            "history": HISTORY_DICTS,
        },
        "parent_sha": PARENT,
    }


def test_pipeline_manifest_names_models_lineage_params_and_environment() -> None:
    params = {"base": BaseParams(seed=3), "quantize": QuantizeParams()}
    environment = {"libraries": {"numpy": "2.0"}, "hardware": {"cpus": 1}}
    corpus = "2b209b2ce91f17cd724a65906eb9b5f9.dir"
    models = {
        "fp32": {"sha": "f" * 64, "parent_sha": None, "corpus_dvc_hash": corpus},
        "int8": {"sha": "e" * 64, "parent_sha": "f" * 64, "corpus_dvc_hash": corpus},
    }
    manifest = pipeline_manifest(params, models, environment)
    assert manifest == {
        "seed": 3,
        "models": {
            "fp32": {"sha": "f" * 64, "parent_sha": None, "corpus_dvc_hash": corpus},
            "int8": {"sha": "e" * 64, "parent_sha": "f" * 64, "corpus_dvc_hash": corpus},
        },
        "config": {"base": {"seed": 3}, "quantize": {"bits": 8}},
        "libraries": {"numpy": "2.0"},
        "hardware": {"cpus": 1},
    }


def test_pipeline_manifest_copies_the_records_it_is_given() -> None:
    records = {"fp32": {"sha": "f" * 64, "parent_sha": None, "corpus_dvc_hash": "c.dir"}}
    manifest = pipeline_manifest({"base": BaseParams(seed=3)}, records, {})
    manifest["models"]["fp32"]["sha"] = "changed"
    assert records["fp32"]["sha"] == "f" * 64
