"""The tag classifier: a one-hidden-layer MLP in numpy, and its training.

Inputs are the sparse hashed features of :mod:`gramops.models.features`. Weights are plain
``dict[str, np.ndarray]`` (float32; ``W1`` hidden × D, ``b1``, ``W2`` tags × hidden,
``b2``) so bundles store them directly with safetensors. Its INT8 form is
:mod:`gramops.models.quantize`, its LoRA adapter :mod:`gramops.models.lora`.

Everything runs in float32 from one ``np.random.default_rng(seed)``, so the same inputs
give byte-identical weights under single-threaded BLAS (the loop is
:mod:`gramops.models.training`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from gramops.core.params import TrainParams
from gramops.core.vocab import TAGS
from gramops.models.training import EpochStats, Schedule, Weights, check_inputs, fit

INIT_SCALE = 0.1
"""Std of W1 init times sqrt(active features per row): small, because hash buckets first
seen at test time keep their initial weights and should add little noise."""


def encode_tags(tags: Iterable[str]) -> np.ndarray:
    """Tag strings to class indices into :data:`TAGS` (int64)."""
    position = {tag: k for k, tag in enumerate(TAGS)}
    try:
        return np.array([position[t] for t in tags], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown tag {exc.args[0]!r}; expected one of {TAGS}") from None


def as_labels(y: np.ndarray) -> np.ndarray:
    """Labels as int64 class indices, from either indices or tag strings."""
    y = np.asarray(y)
    return encode_tags(y.tolist()) if y.dtype.kind in "OUS" else y.astype(np.int64)


def noisy_labels(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of ``y`` with ``share`` of the labels replaced by uniformly random tags.

    A switch for a deliberately regressed model, the case the deploy gate must refuse.
    ``share`` 0 returns the labels untouched and draws nothing.
    """
    y = np.asarray(y, dtype=np.int64).copy()
    if share <= 0:
        return y
    rng = np.random.default_rng([seed, 0x4E015E])
    picked = rng.random(len(y)) < share
    y[picked] = rng.integers(0, len(TAGS), size=int(picked.sum()))
    return y


@dataclass(frozen=True)
class Forward:
    """Intermediate values of one forward pass, kept for the backward pass."""

    pre: np.ndarray
    hidden: np.ndarray
    proba: np.ndarray


@dataclass(frozen=True)
class TrainResult:
    """Weights restored from ``best_epoch`` (1-based; 0 if no epoch beat the initial weights)."""

    weights: Weights
    history: list[EpochStats]
    best_epoch: int
    best_dev_accuracy: float

    def metrics(self) -> dict[str, Any]:
        """``metrics/train.json``: how training went, and the model's size."""
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "dev_tag_accuracy": round(self.best_dev_accuracy, 6),
            "parameters": int(sum(w.size for w in self.weights.values())),
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def as_csr(X: sp.spmatrix) -> sp.csr_matrix:
    return X.tocsr()


def init_weights(n_features: int, hidden: int, active: float, rng: np.random.Generator) -> Weights:
    """Random float32 MLP weights; ``active`` is the mean number of non-zero features per row."""
    w1_std = INIT_SCALE / np.sqrt(max(active, 1.0))
    return {
        "W1": (rng.standard_normal((hidden, n_features)) * w1_std).astype(np.float32),
        "b1": np.zeros(hidden, dtype=np.float32),
        "W2": (rng.standard_normal((len(TAGS), hidden)) * np.sqrt(2.0 / hidden)).astype(np.float32),
        "b2": np.zeros(len(TAGS), dtype=np.float32),
    }


def forward(weights: Weights, X: sp.spmatrix) -> Forward:
    """Forward pass of the MLP over sparse ``X`` (n × D)."""
    pre = as_csr(X) @ weights["W1"].T + weights["b1"]
    hidden = relu(pre)
    proba = softmax(hidden @ weights["W2"].T + weights["b2"])
    return Forward(pre=pre, hidden=hidden, proba=proba)


def predict_proba(weights: Weights, X: sp.spmatrix) -> np.ndarray:
    """Tag probabilities (n × len(TAGS)) of the FP32 model."""
    return forward(weights, X).proba


def cross_entropy(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true tags."""
    picked = proba[np.arange(len(y)), y]
    return float(-np.log(np.maximum(picked, np.finfo(np.float32).tiny)).mean())


def output_grad(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean cross-entropy w.r.t. the logits (softmax minus one-hot)."""
    grad = proba.copy()
    grad[np.arange(len(y)), y] -= 1.0
    return grad / np.float32(len(y))


def backward(weights: Weights, X: sp.spmatrix, y: np.ndarray, fwd: Forward) -> Weights:
    """Gradients of the mean cross-entropy w.r.t. every weight (same names and shapes)."""
    X = as_csr(X)
    d_logits = output_grad(fwd.proba, y)
    d_pre = (d_logits @ weights["W2"]) * (fwd.pre > 0)
    return {
        "W1": (X.T @ d_pre).T,
        "b1": d_pre.sum(axis=0),
        "W2": d_logits.T @ fwd.hidden,
        "b2": d_logits.sum(axis=0),
    }


def train_mlp(
    X_train: sp.spmatrix,
    y_train: np.ndarray,
    X_dev: sp.spmatrix,
    y_dev: np.ndarray,
    params: TrainParams,
    seed: int,
) -> TrainResult:
    """Train the FP32 MLP; early-stop on dev tag accuracy and return the best epoch's weights."""
    check_inputs(X_train, y_train, "train")
    check_inputs(X_dev, y_dev, "dev")
    X_train, X_dev = as_csr(X_train), as_csr(X_dev)
    rng = np.random.default_rng(seed)
    active = X_train.nnz / X_train.shape[0]
    initial = init_weights(X_train.shape[1], params.hidden, active, rng)
    # Feature-axis-first layout so a batch's active features are contiguous rows.
    trainable = {**initial, "W1": np.ascontiguousarray(initial["W1"].T)}

    def as_weights(t: Weights) -> Weights:
        return {**t, "W1": t["W1"].T}

    # Input dropout: each step hides a random share of an example's features, so no single
    # hashed word carries a decision the cues around it should share. Its own generator,
    # so the minibatch order is the same with and without it.
    dropout_rng = np.random.default_rng([seed, 0xD2029])
    keep = 1.0 - params.dropout

    def step(
        sub: Weights, _columns: np.ndarray, X: sp.csr_matrix, y: np.ndarray
    ) -> tuple[float, Weights]:
        weights = as_weights(sub)
        if keep < 1.0:
            kept = dropout_rng.random(X.nnz) < keep
            data = X.data * kept / np.float32(keep)
            X = sp.csr_matrix((data.astype(np.float32), X.indices, X.indptr), shape=X.shape)
        fwd = forward(weights, X)
        grads = backward(weights, X, y, fwd)
        return cross_entropy(fwd.proba, y), {**grads, "W1": grads["W1"].T}

    fitted = fit(
        trainable,
        frozenset({"W1"}),
        frozenset({"W1", "W2"}),
        step,
        lambda t, X: predict_proba(as_weights(t), X),
        (X_train, as_labels(y_train), X_dev, as_labels(y_dev)),
        Schedule(
            params.epochs,
            params.batch_size,
            params.learning_rate,
            params.weight_decay,
            params.patience,
        ),
        rng,
        "mlp",
    )
    weights = {**fitted.params, "W1": np.ascontiguousarray(fitted.params["W1"].T)}
    return TrainResult(weights, fitted.history, fitted.best_epoch, fitted.best_accuracy)
