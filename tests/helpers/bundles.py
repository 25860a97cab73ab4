"""The one tiny-bundle builder: a registrable bundle of a few hundred bytes.

It has exactly the tensors, dtypes and config keys of real bundles (so a loader that accepts
it would accept a real one); ``seed`` changes the weights and so the SHA.
"""

from pathlib import Path

import numpy as np

from gramops.core.fileio import write_json
from gramops.core.vocab import TAGS
from gramops.models.bundle import save_bundle

# the DVC hash of the committed corpus: tiny bundles name it as their training data
CORPUS = "2b209b2ce91f17cd724a65906eb9b5f9.dir"
HIDDEN, HASH_BITS, RANK = 3, 8, 2


def tiny_tensors(family: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights with exactly the names, dtypes and shapes a real bundle of ``family`` has."""
    rng = np.random.default_rng(seed)
    n_in, n_out = 2**HASH_BITS, len(TAGS)

    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    if family == "fp32":
        return {
            "W1": f32(HIDDEN, n_in),
            "b1": f32(HIDDEN),
            "W2": f32(n_out, HIDDEN),
            "b2": f32(n_out),
        }
    if family == "int8":
        return {
            "W1.q": rng.integers(-127, 128, (HIDDEN, n_in)).astype(np.int8),
            "W1.scale": np.abs(f32(HIDDEN)) + 0.01,
            "b1": f32(HIDDEN),
            "W2.q": rng.integers(-127, 128, (n_out, HIDDEN)).astype(np.int8),
            "W2.scale": np.abs(f32(n_out)) + 0.01,
            "b2": f32(n_out),
        }
    return {
        "W1.lora_A": f32(RANK, n_in),
        "W1.lora_B": f32(HIDDEN, RANK),
        "W2.lora_A": f32(RANK, HIDDEN),
        "W2.lora_B": f32(n_out, RANK),
    }


def tiny_bundle(
    path: Path,
    family: str = "fp32",
    parent: str | None = None,
    seed: int = 1,
    corpus: str = CORPUS,
) -> Path:
    """A bundle every loader accepts: real config keys, weights, manifest and eval report."""
    config: dict = {
        "family": family,
        "architecture": {
            "type": "mlp",
            "input_dim": 2**HASH_BITS,
            "hidden": HIDDEN,
            "activation": "relu",
            "tags": list(TAGS),
        },
        "features": {"hash_bits": HASH_BITS, "window": 2},
    }
    if family == "lora":
        config["lora"] = {"rank": RANK, "alpha": 4.0, "targets": ["W1", "W2"]}
    weights = "adapter.safetensors" if family == "lora" else "model.safetensors"
    manifest = {
        "family": family,
        "seed": seed,
        "parent_sha": parent,
        "corpus": {"dvc_hash": corpus},
    }
    save_bundle(path, weights, tiny_tensors(family, seed), config, manifest)
    write_json(
        path / "eval_report.json",
        {"domains": {"verb": {"strict_accuracy": 0.5, "pass_rate": 0.9, "count": 4}}},
    )
    return path
