"""The training loop both trainers share: minibatch lazy Adam, early-stopped on dev accuracy.

Training touches only the feature columns present in a minibatch: a batch activates a
few thousand of the 2**16 columns, so gradients and Adam moments are updated lazily on
those rows (the LazyAdam scheme for sparse inputs), never on a dense D-wide matrix. The
FP32 MLP (:mod:`gramops.models.mlp`) and the LoRA adapter (:mod:`gramops.models.lora`)
differ only in what they train and how a step computes its gradients, so the loop, the
optimiser and the epoch bookkeeping live here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

Weights = dict[str, np.ndarray]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

# A step function gets the trainable tensors restricted to the batch's active feature rows,
# those rows, the compacted batch and its labels; it returns the loss and the gradients.
StepFn = Callable[[Weights, np.ndarray, sp.csr_matrix, np.ndarray], tuple[float, Weights]]
ProbaFn = Callable[[Weights, sp.csr_matrix], np.ndarray]


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean minibatch loss while training, then tag accuracy on dev."""

    epoch: int
    train_loss: float
    dev_accuracy: float


@dataclass(frozen=True)
class Schedule:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int


@dataclass(frozen=True)
class Fitted:
    """What :func:`fit` returns: the best epoch's tensors and how training went."""

    params: Weights
    history: list[EpochStats]
    best_epoch: int
    best_accuracy: float
    initial_accuracy: float


HISTORY_FIELDS = ("epoch", "train_loss", "dev_accuracy")


def history_rows(history: list[EpochStats]) -> list[dict[str, object]]:
    """Rows of ``plots/train_history.csv``: losses and accuracies with six decimals."""
    return [
        {
            "epoch": e.epoch,
            "train_loss": f"{e.train_loss:.6f}",
            "dev_accuracy": f"{e.dev_accuracy:.6f}",
        }
        for e in history
    ]


def compact_columns(X: sp.csr_matrix) -> tuple[np.ndarray, sp.csr_matrix]:
    """The active columns of a batch and the batch re-indexed onto them."""
    columns, inverse = np.unique(X.indices, return_inverse=True)
    compact = sp.csr_matrix(
        (X.data, inverse.astype(X.indices.dtype), X.indptr), shape=(X.shape[0], len(columns))
    )
    return columns, compact


class LazyAdam:
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


def _accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float((proba.argmax(axis=1) == y).mean()) if len(y) else 0.0


def check_inputs(X: sp.spmatrix, y: np.ndarray, name: str) -> None:
    """Refuse a split whose rows and labels disagree, or that is empty."""
    if X.shape[0] != len(y):
        raise ValueError(f"{name}: {X.shape[0]} feature rows but {len(y)} labels")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: no examples; check the corpus split and domain filter")


def fit(
    params: Weights,
    sparse_rows: frozenset[str],
    decay: frozenset[str],
    step_fn: StepFn,
    proba_fn: ProbaFn,
    data: tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray],
    schedule: Schedule,
    rng: np.random.Generator,
    label: str,
) -> Fitted:
    """Minibatch lazy Adam with early stopping on dev accuracy; restores the best epoch.

    ``sparse_rows`` names tensors stored feature-axis first (D × k). Epoch 0 is the
    starting point, so a run that never improves returns its initial tensors.
    """
    X_train, y_train, X_dev, y_dev = data
    optimizer = LazyAdam(params, schedule.learning_rate, schedule.weight_decay, decay)
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
            columns, X_batch = compact_columns(X_train[batch])
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
    return Fitted(best, history, best_epoch, best_accuracy, initial_accuracy)
