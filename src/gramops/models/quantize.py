"""INT8 post-training quantization of the FP32 MLP, and prediction straight from its codes.

Per-row symmetric codes keep the bundle at about a quarter of the FP32 bytes; prediction
never widens more than the feature columns a batch touches, so the memory saving holds at
serving time too.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from gramops.models.mlp import Weights, as_csr, relu, softmax
from gramops.models.training import compact_columns

QUANTIZED = ("W1", "W2")


def quantize_int8(weights: Weights) -> Weights:
    """Per-row symmetric INT8: ``W ≈ q * scale[:, None]`` with ``q`` in [-127, 127].

    One scale per output unit keeps a unit with small weights from losing its resolution
    to another unit's outliers. Biases stay float32 (they are a few dozen numbers).
    """
    out: Weights = {}
    for name in QUANTIZED:
        matrix = weights[name]
        absmax = np.abs(matrix).max(axis=1)
        scale = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(matrix / scale[:, None]), -127, 127).astype(np.int8)
        out[f"{name}.q"] = q
        out[f"{name}.scale"] = scale
    for name in ("b1", "b2"):
        out[name] = weights[name].astype(np.float32, copy=True)
    return out


def dequantize(qweights: Weights) -> Weights:
    """Float32 weights equal to the INT8 model (for inspection and tests)."""
    out = {
        name: qweights[f"{name}.q"].astype(np.float32) * qweights[f"{name}.scale"][:, None]
        for name in QUANTIZED
    }
    return {**out, "b1": qweights["b1"], "b2": qweights["b2"]}


def predict_proba_int8(qweights: Weights, X: sp.spmatrix) -> np.ndarray:
    """Tag probabilities of the INT8 model; no float weight matrix is ever materialised.

    Each layer multiplies by the int8 codes and rescales per output unit afterwards,
    ``x · (s_j q_j) = s_j (x · q_j)``. Only the codes of the feature columns present in
    ``X`` are widened to float32 for the product (a sentence touches ~50 of 2**16).
    """
    columns, X_active = compact_columns(as_csr(X))
    q1 = qweights["W1.q"][:, columns].T.astype(np.float32)
    pre = (X_active @ q1) * qweights["W1.scale"] + qweights["b1"]
    hidden = relu(pre)
    logits = (hidden @ qweights["W2.q"].T.astype(np.float32)) * qweights["W2.scale"]
    return softmax(logits + qweights["b2"])
