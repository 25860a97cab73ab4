"""The LoRA adapter: low-rank deltas ``B @ A`` on the frozen FP32 MLP, and their training.

An adapter learns a new domain (the tutor sentences) with a few low-rank matrices while
the FP32 base stays frozen, so the verb-domain model is neither retrained nor changed.
``B`` starts at zero, so an untrained adapter predicts exactly like its base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from gramops.core.params import FinetuneParams
from gramops.models.mlp import Weights, as_csr, as_labels, cross_entropy, output_grad, relu, softmax
from gramops.models.training import EpochStats, Schedule, check_inputs, fit

LORA_TARGETS = ("W1", "W2")


@dataclass(frozen=True)
class LoraResult:
    """Adapter tensors only; ``best_epoch`` 0 means no epoch beat the base (B stays zero)."""

    adapter: Weights
    history: list[EpochStats]
    best_epoch: int
    best_dev_accuracy: float
    base_dev_accuracy: float

    def metrics(self) -> dict[str, Any]:
        """``metrics/finetune.json``: the adapter's gain over its base, and its size."""
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "base_dev_tag_accuracy": round(self.base_dev_accuracy, 6),
            "dev_tag_accuracy": round(self.best_dev_accuracy, 6),
            "adapter_parameters": int(sum(w.size for w in self.adapter.values())),
        }


def lora_names(target: str) -> tuple[str, str]:
    """Adapter tensor names of one target matrix: ``A`` (rank × in), ``B`` (out × rank)."""
    return f"{target}.lora_A", f"{target}.lora_B"


@dataclass(frozen=True)
class LoraForward:
    """Forward intermediates with the adapter applied unmerged."""

    low1: np.ndarray
    pre: np.ndarray
    hidden: np.ndarray
    low2: np.ndarray
    proba: np.ndarray


def _check_adapter(adapter: Weights) -> None:
    expected = {name for target in LORA_TARGETS for name in lora_names(target)}
    if set(adapter) != expected:
        raise ValueError(
            f"adapter tensors {sorted(adapter)} do not match the expected {sorted(expected)}"
        )


def forward_lora(base: Weights, adapter: Weights, X: sp.spmatrix, scaling: float) -> LoraForward:
    """Forward pass with ``W + scaling * B @ A`` computed as two low-rank products."""
    _check_adapter(adapter)
    X = as_csr(X)
    a1, b1 = (adapter[n] for n in lora_names("W1"))
    a2, b2 = (adapter[n] for n in lora_names("W2"))
    s = np.float32(scaling)
    low1 = X @ a1.T
    pre = X @ base["W1"].T + s * (low1 @ b1.T) + base["b1"]
    hidden = relu(pre)
    low2 = hidden @ a2.T
    logits = hidden @ base["W2"].T + s * (low2 @ b2.T) + base["b2"]
    return LoraForward(low1=low1, pre=pre, hidden=hidden, low2=low2, proba=softmax(logits))


def backward_lora(
    base: Weights,
    adapter: Weights,
    X: sp.spmatrix,
    y: np.ndarray,
    fwd: LoraForward,
    scaling: float,
) -> Weights:
    """Gradients of the mean cross-entropy w.r.t. the adapter tensors only (base frozen)."""
    X = as_csr(X)
    b1 = adapter["W1.lora_B"]
    a2, b2 = (adapter[n] for n in lora_names("W2"))
    s = np.float32(scaling)
    d_logits = output_grad(fwd.proba, y)
    d_low2 = s * (d_logits @ b2)
    d_pre = (d_logits @ base["W2"] + d_low2 @ a2) * (fwd.pre > 0)
    d_low1 = s * (d_pre @ b1)
    return {
        "W1.lora_A": (X.T @ d_low1).T,
        "W1.lora_B": s * (d_pre.T @ fwd.low1),
        "W2.lora_A": d_low2.T @ fwd.hidden,
        "W2.lora_B": s * (d_logits.T @ fwd.low2),
    }


def predict_proba_lora(
    base: Weights, adapter: Weights, X: sp.spmatrix, alpha: float, rank: int
) -> np.ndarray:
    """Tag probabilities of base + unmerged adapter (no D-wide delta is ever formed)."""
    return forward_lora(base, adapter, X, alpha / rank).proba


def merge_lora(base: Weights, adapter: Weights, alpha: float, rank: int) -> Weights:
    """A standalone FP32 model ``W + (alpha / rank) * B @ A`` for serving without adapters."""
    _check_adapter(adapter)
    merged = {k: v.copy() for k, v in base.items()}
    s = np.float32(alpha / rank)
    for target in LORA_TARGETS:
        a, b = (adapter[n] for n in lora_names(target))
        merged[target] = (base[target] + s * (b @ a)).astype(np.float32)
    return merged


def init_lora(base: Weights, rank: int, active: float, rng: np.random.Generator) -> Weights:
    """A random, B = 0 zero-delta adapter: before training it predicts exactly like the base."""
    hidden, n_features = base["W1"].shape
    n_tags = base["W2"].shape[0]
    return {
        "W1.lora_A": (rng.standard_normal((rank, n_features)) / np.sqrt(max(active, 1.0))).astype(
            np.float32
        ),
        "W1.lora_B": np.zeros((hidden, rank), dtype=np.float32),
        "W2.lora_A": (rng.standard_normal((rank, hidden)) / np.sqrt(hidden)).astype(np.float32),
        "W2.lora_B": np.zeros((n_tags, rank), dtype=np.float32),
    }


def train_lora(
    base_weights: Weights,
    X_train: sp.spmatrix,
    y_train: np.ndarray,
    X_dev: sp.spmatrix,
    y_dev: np.ndarray,
    params: FinetuneParams,
    seed: int,
) -> LoraResult:
    """Train a LoRA adapter on a frozen base; early-stop on dev accuracy, best epoch kept."""
    check_inputs(X_train, y_train, "train")
    check_inputs(X_dev, y_dev, "dev")
    X_train, X_dev = as_csr(X_train), as_csr(X_dev)
    rng = np.random.default_rng(seed)
    scaling = params.alpha / params.rank
    adapter = init_lora(base_weights, params.rank, X_train.nnz / X_train.shape[0], rng)
    a1_name = "W1.lora_A"
    base_w1t = np.ascontiguousarray(base_weights["W1"].T)
    trainable = {**adapter, a1_name: np.ascontiguousarray(adapter[a1_name].T)}

    def as_adapter(t: Weights) -> Weights:
        return {**t, a1_name: t[a1_name].T}

    # input dropout as the base was trained with (models/mlp.py), on its own generator
    dropout_rng = np.random.default_rng([seed, 0xD2029])
    keep = 1.0 - params.dropout

    def step(
        sub: Weights, columns: np.ndarray, X: sp.csr_matrix, y: np.ndarray
    ) -> tuple[float, Weights]:
        if keep < 1.0:
            kept = dropout_rng.random(X.nnz) < keep
            data = (X.data * kept / np.float32(keep)).astype(np.float32)
            X = sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
        base = {**base_weights, "W1": base_w1t[columns].T}
        sub_adapter = as_adapter(sub)
        fwd = forward_lora(base, sub_adapter, X, scaling)
        grads = backward_lora(base, sub_adapter, X, y, fwd, scaling)
        return cross_entropy(fwd.proba, y), {**grads, a1_name: grads[a1_name].T}

    def proba(t: Weights, X: sp.csr_matrix) -> np.ndarray:
        base = {**base_weights, "W1": base_w1t.T}
        return forward_lora(base, as_adapter(t), X, scaling).proba

    fitted = fit(
        trainable,
        frozenset({a1_name}),
        frozenset(),
        step,
        proba,
        (X_train, as_labels(y_train), X_dev, as_labels(y_dev)),
        Schedule(params.epochs, params.batch_size, params.learning_rate, 0.0, params.patience),
        rng,
        "lora",
    )
    result = {**fitted.params, a1_name: np.ascontiguousarray(fitted.params[a1_name].T)}
    return LoraResult(
        result, fitted.history, fitted.best_epoch, fitted.best_accuracy, fitted.initial_accuracy
    )
