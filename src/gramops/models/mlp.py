"""The tag classifier: a one-hidden-layer MLP in numpy, its INT8 form and its LoRA adapter.

Inputs are the sparse hashed features of :mod:`gramops.models.features`. Weights are plain
``dict[str, np.ndarray]`` (float32; ``W1`` hidden × D, ``b1``, ``W2`` tags × hidden,
``b2``) so bundles store them directly with safetensors.

Training touches only the feature columns present in a minibatch: a batch activates a
few thousand of the 2**16 columns, so gradients and Adam moments are updated lazily on
those rows (the LazyAdam scheme for sparse inputs), never on a dense D-wide matrix.
Everything runs in float32 from one ``np.random.default_rng(seed)``, so the same inputs
give byte-identical weights under single-threaded BLAS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gramops.core.params import FinetuneParams, TrainParams
from gramops.core.vocab import TAGS

logger = logging.getLogger(__name__)


Weights = dict[str, np.ndarray]

INIT_SCALE = 0.1
"""Std of W1 init times sqrt(active features per row): small, because hash buckets first
seen at test time keep their initial weights and should add little noise."""
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
LORA_TARGETS = ("W1", "W2")


def encode_tags(tags: Iterable[str]) -> np.ndarray:
    """Tag strings to class indices into :data:`TAGS` (int64)."""
    position = {tag: k for k, tag in enumerate(TAGS)}
    try:
        return np.array([position[t] for t in tags], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"unknown tag {exc.args[0]!r}; expected one of {TAGS}") from None


def _labels(y: np.ndarray) -> np.ndarray:
    """Labels as int64 class indices, from either indices or tag strings."""
    y = np.asarray(y)
    return encode_tags(y.tolist()) if y.dtype.kind in "OUS" else y.astype(np.int64)


@dataclass(frozen=True)
class Forward:
    """Intermediate values of one forward pass, kept for the backward pass."""

    pre: np.ndarray
    hidden: np.ndarray
    proba: np.ndarray


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean minibatch loss while training, then tag accuracy on dev."""

    epoch: int
    train_loss: float
    dev_accuracy: float


@dataclass(frozen=True)
class TrainResult:
    """Weights restored from ``best_epoch`` (1-based; 0 if no epoch beat the initial weights)."""

    weights: Weights
    history: list[EpochStats]
    best_epoch: int
    best_dev_accuracy: float


@dataclass(frozen=True)
class LoraResult:
    """Adapter tensors only; ``best_epoch`` 0 means no epoch beat the base (B stays zero)."""

    adapter: Weights
    history: list[EpochStats]
    best_epoch: int
    best_dev_accuracy: float
    base_dev_accuracy: float


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _csr(X: sp.spmatrix) -> sp.csr_matrix:
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
    pre = _csr(X) @ weights["W1"].T + weights["b1"]
    hidden = _relu(pre)
    proba = _softmax(hidden @ weights["W2"].T + weights["b2"])
    return Forward(pre=pre, hidden=hidden, proba=proba)


def predict_proba(weights: Weights, X: sp.spmatrix) -> np.ndarray:
    """Tag probabilities (n × len(TAGS)) of the FP32 model."""
    return forward(weights, X).proba


def cross_entropy(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true tags."""
    picked = proba[np.arange(len(y)), y]
    return float(-np.log(np.maximum(picked, np.finfo(np.float32).tiny)).mean())


def _output_grad(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    grad = proba.copy()
    grad[np.arange(len(y)), y] -= 1.0
    return grad / np.float32(len(y))


def backward(weights: Weights, X: sp.spmatrix, y: np.ndarray, fwd: Forward) -> Weights:
    """Gradients of the mean cross-entropy w.r.t. every weight (same names and shapes)."""
    X = _csr(X)
    d_logits = _output_grad(fwd.proba, y)
    d_pre = (d_logits @ weights["W2"]) * (fwd.pre > 0)
    return {
        "W1": (X.T @ d_pre).T,
        "b1": d_pre.sum(axis=0),
        "W2": d_logits.T @ fwd.hidden,
        "b2": d_logits.sum(axis=0),
    }


class _LazyAdam:
    """Adam whose moments advance only on the rows a step touches (sparse-input rows).

    Parameters whose first axis is the feature axis are updated on the given rows only;
    the others are updated densely. ``decay`` names get decoupled weight decay (AdamW)
    on the rows they update.
    """

    def __init__(self, params: Weights, lr: float, weight_decay: float, decay: frozenset[str]):
        self.lr = lr
        self.weight_decay = weight_decay
        self.decay = decay
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: Weights, grads: Weights, rows: dict[str, np.ndarray]) -> None:
        self.t += 1
        beta1, beta2 = ADAM_BETAS
        step_size = self.lr * np.sqrt(1.0 - beta2**self.t) / (1.0 - beta1**self.t)
        for name, grad in grads.items():
            index = rows.get(name, slice(None))
            m = beta1 * self.m[name][index] + (1.0 - beta1) * grad
            v = beta2 * self.v[name][index] + (1.0 - beta2) * grad * grad
            param = params[name][index]
            if name in self.decay and self.weight_decay > 0:
                param = param * np.float32(1.0 - self.lr * self.weight_decay)
            params[name][index] = param - np.float32(step_size) * m / (np.sqrt(v) + ADAM_EPS)
            self.m[name][index] = m
            self.v[name][index] = v


def _compact(X: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
    """The active columns of a batch and the batch re-indexed onto them."""
    columns, inverse = np.unique(X.indices, return_inverse=True)
    compact = sp.csr_matrix(
        (X.data, inverse.astype(X.indices.dtype), X.indptr), shape=(X.shape[0], len(columns))
    )
    return columns, compact


# A step function gets the trainable tensors restricted to the batch's active feature rows,
# those rows, the compacted batch and its labels; it returns the loss and the gradients.
StepFn = Callable[[Weights, np.ndarray, sp.csr_matrix, np.ndarray], tuple[float, Weights]]
ProbaFn = Callable[[Weights, sp.csr_matrix], np.ndarray]


@dataclass(frozen=True)
class _Schedule:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int


def _accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float((proba.argmax(axis=1) == y).mean()) if len(y) else 0.0


def _fit(
    params: Weights,
    sparse_rows: frozenset[str],
    decay: frozenset[str],
    step_fn: StepFn,
    proba_fn: ProbaFn,
    data: tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray],
    schedule: _Schedule,
    rng: np.random.Generator,
    label: str,
) -> tuple[Weights, list[EpochStats], int, float, float]:
    """Minibatch lazy Adam with early stopping on dev accuracy; restores the best epoch.

    ``sparse_rows`` names tensors stored feature-axis first (D × k). Epoch 0 is the
    starting point, so a run that never improves returns its initial tensors.
    """
    X_train, y_train, X_dev, y_dev = data
    optimizer = _LazyAdam(params, schedule.learning_rate, schedule.weight_decay, decay)
    initial_accuracy = _accuracy(proba_fn(params, X_dev), y_dev)
    best = {k: v.copy() for k, v in params.items()}
    best_epoch, best_accuracy = 0, initial_accuracy
    history: list[EpochStats] = []
    n = X_train.shape[0]
    for epoch in range(1, schedule.epochs + 1):
        order = rng.permutation(n)
        total_loss = 0.0
        for start in range(0, n, schedule.batch_size):
            batch = order[start : start + schedule.batch_size]
            columns, X_batch = _compact(X_train[batch])
            sub = {k: (v[columns] if k in sparse_rows else v) for k, v in params.items()}
            loss, grads = step_fn(sub, columns, X_batch, y_train[batch])
            optimizer.step(params, grads, {k: columns for k in sparse_rows})
            total_loss += loss * len(batch)
        accuracy = _accuracy(proba_fn(params, X_dev), y_dev)
        history.append(EpochStats(epoch, total_loss / n, accuracy))
        logger.info(
            "%s epoch %d/%d train_loss=%.4f dev_accuracy=%.4f",
            label,
            epoch,
            schedule.epochs,
            total_loss / n,
            accuracy,
        )
        if accuracy > best_accuracy:
            best = {k: v.copy() for k, v in params.items()}
            best_epoch, best_accuracy = epoch, accuracy
        elif epoch - best_epoch >= schedule.patience and epoch < schedule.epochs:
            logger.info(
                "%s early stop: best dev_accuracy=%.4f at epoch %d",
                label,
                best_accuracy,
                best_epoch,
            )
            break
    return best, history, best_epoch, best_accuracy, initial_accuracy


def _check_inputs(X: sp.spmatrix, y: np.ndarray, name: str) -> None:
    if X.shape[0] != len(y):
        raise ValueError(f"{name}: {X.shape[0]} feature rows but {len(y)} labels")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: no examples; check the corpus split and domain filter")


def train_mlp(
    X_train: sp.spmatrix,
    y_train: np.ndarray,
    X_dev: sp.spmatrix,
    y_dev: np.ndarray,
    params: TrainParams,
    seed: int,
) -> TrainResult:
    """Train the FP32 MLP; early-stop on dev tag accuracy and return the best epoch's weights."""
    _check_inputs(X_train, y_train, "train")
    _check_inputs(X_dev, y_dev, "dev")
    X_train, X_dev = _csr(X_train), _csr(X_dev)
    rng = np.random.default_rng(seed)
    active = X_train.nnz / X_train.shape[0]
    initial = init_weights(X_train.shape[1], params.hidden, active, rng)
    # Feature-axis-first layout so a batch's active features are contiguous rows.
    trainable = {**initial, "W1": np.ascontiguousarray(initial["W1"].T)}

    def as_weights(t: Weights) -> Weights:
        return {**t, "W1": t["W1"].T}

    def step(
        sub: Weights, _columns: np.ndarray, X: sp.csr_matrix, y: np.ndarray
    ) -> tuple[float, Weights]:
        weights = as_weights(sub)
        fwd = forward(weights, X)
        grads = backward(weights, X, y, fwd)
        return cross_entropy(fwd.proba, y), {**grads, "W1": grads["W1"].T}

    best, history, best_epoch, best_accuracy, _ = _fit(
        trainable,
        frozenset({"W1"}),
        frozenset({"W1", "W2"}),
        step,
        lambda t, X: predict_proba(as_weights(t), X),
        (X_train, _labels(y_train), X_dev, _labels(y_dev)),
        _Schedule(
            params.epochs,
            params.batch_size,
            params.learning_rate,
            params.weight_decay,
            params.patience,
        ),
        rng,
        "mlp",
    )
    weights = {**best, "W1": np.ascontiguousarray(best["W1"].T)}
    return TrainResult(weights, history, best_epoch, best_accuracy)


# --- INT8 post-training quantization -------------------------------------------------------

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
    columns, X_active = _compact(_csr(X))
    q1 = qweights["W1.q"][:, columns].T.astype(np.float32)
    pre = (X_active @ q1) * qweights["W1.scale"] + qweights["b1"]
    hidden = _relu(pre)
    logits = (hidden @ qweights["W2.q"].T.astype(np.float32)) * qweights["W2.scale"]
    return _softmax(logits + qweights["b2"])


# --- LoRA adapter -------------------------------------------------------------------------


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
    X = _csr(X)
    a1, b1 = (adapter[n] for n in lora_names("W1"))
    a2, b2 = (adapter[n] for n in lora_names("W2"))
    s = np.float32(scaling)
    low1 = X @ a1.T
    pre = X @ base["W1"].T + s * (low1 @ b1.T) + base["b1"]
    hidden = _relu(pre)
    low2 = hidden @ a2.T
    logits = hidden @ base["W2"].T + s * (low2 @ b2.T) + base["b2"]
    return LoraForward(low1=low1, pre=pre, hidden=hidden, low2=low2, proba=_softmax(logits))


def backward_lora(
    base: Weights,
    adapter: Weights,
    X: sp.spmatrix,
    y: np.ndarray,
    fwd: LoraForward,
    scaling: float,
) -> Weights:
    """Gradients of the mean cross-entropy w.r.t. the adapter tensors only (base frozen)."""
    X = _csr(X)
    b1 = adapter["W1.lora_B"]
    a2, b2 = (adapter[n] for n in lora_names("W2"))
    s = np.float32(scaling)
    d_logits = _output_grad(fwd.proba, y)
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
    _check_inputs(X_train, y_train, "train")
    _check_inputs(X_dev, y_dev, "dev")
    X_train, X_dev = _csr(X_train), _csr(X_dev)
    rng = np.random.default_rng(seed)
    scaling = params.alpha / params.rank
    adapter = init_lora(base_weights, params.rank, X_train.nnz / X_train.shape[0], rng)
    a1_name = "W1.lora_A"
    base_w1t = np.ascontiguousarray(base_weights["W1"].T)
    trainable = {**adapter, a1_name: np.ascontiguousarray(adapter[a1_name].T)}

    def as_adapter(t: Weights) -> Weights:
        return {**t, a1_name: t[a1_name].T}

    def step(
        sub: Weights, columns: np.ndarray, X: sp.csr_matrix, y: np.ndarray
    ) -> tuple[float, Weights]:
        base = {**base_weights, "W1": base_w1t[columns].T}
        sub_adapter = as_adapter(sub)
        fwd = forward_lora(base, sub_adapter, X, scaling)
        grads = backward_lora(base, sub_adapter, X, y, fwd, scaling)
        return cross_entropy(fwd.proba, y), {**grads, a1_name: grads[a1_name].T}

    def proba(t: Weights, X: sp.csr_matrix) -> np.ndarray:
        base = {**base_weights, "W1": base_w1t.T}
        return forward_lora(base, as_adapter(t), X, scaling).proba

    best, history, best_epoch, best_accuracy, base_accuracy = _fit(
        trainable,
        frozenset({a1_name}),
        frozenset(),
        step,
        proba,
        (X_train, _labels(y_train), X_dev, _labels(y_dev)),
        _Schedule(params.epochs, params.batch_size, params.learning_rate, 0.0, params.patience),
        rng,
        "lora",
    )
    result = {**best, a1_name: np.ascontiguousarray(best[a1_name].T)}
    return LoraResult(result, history, best_epoch, best_accuracy, base_accuracy)


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
