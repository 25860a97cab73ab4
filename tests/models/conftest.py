"""Tiny sparse data sets and one trained MLP, shared by the mlp, quantize and lora tests.

Each row has one feature that names its class plus noise, so a model that learns at all
learns it quickly; a ``remap`` swaps classes to make a shifted domain for an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from gramops.core.params import FeatureParams, TrainParams
from gramops.core.vocab import TAGS
from gramops.models.mlp import TrainResult, train_mlp

N_FEATURES = 256
FEATURES = FeatureParams(hash_bits=8, window=3)
TRAIN = TrainParams(
    features=FEATURES,
    hidden=16,
    epochs=8,
    batch_size=32,
    learning_rate=0.02,
    weight_decay=0.0,
    patience=3,
)

MakeData = Callable[..., tuple[sp.csr_matrix, np.ndarray]]


def _make_data(
    n: int, seed: int, remap: dict[int, int] | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows with one class-key feature (0..5) plus 7 noise features; ``remap`` shifts the domain."""
    rng = np.random.default_rng(seed)
    key = rng.integers(0, len(TAGS), n)
    noise = rng.integers(len(TAGS), N_FEATURES, (n, 7))
    columns = np.concatenate([key[:, None], noise], axis=1)
    rows = np.repeat(np.arange(n), columns.shape[1])
    X = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, columns.ravel())), shape=(n, N_FEATURES)
    )
    X.sum_duplicates()
    X.data[:] = 1.0
    y = np.array([(remap or {}).get(int(k), int(k)) for k in key], dtype=np.int64)
    return X, y


@dataclass(frozen=True)
class Trained:
    """The MLP trained on :data:`TRAIN`, its params and the dev set it was stopped on."""

    result: TrainResult
    params: TrainParams
    X_dev: sp.csr_matrix
    y_dev: np.ndarray


def _numeric_gradient(loss, tensor: np.ndarray, index: tuple[int, ...], eps: float = 1e-6) -> float:
    saved = tensor[index]
    tensor[index] = saved + eps
    up = loss()
    tensor[index] = saved - eps
    down = loss()
    tensor[index] = saved
    return (up - down) / (2 * eps)


@pytest.fixture(scope="session")
def numeric_gradient() -> Callable[..., float]:
    """``numeric_gradient(loss, tensor, index)``: central difference of ``loss()`` at one entry."""
    return _numeric_gradient


@pytest.fixture(scope="session")
def make_data() -> MakeData:
    """``make_data(n, seed, remap=None)``: ``n`` rows of a tiny separable tag problem."""
    return _make_data


@pytest.fixture(scope="session")
def trained() -> Trained:
    X_train, y_train = _make_data(600, seed=3)
    X_dev, y_dev = _make_data(200, seed=4)
    return Trained(train_mlp(X_train, y_train, X_dev, y_dev, TRAIN, seed=7), TRAIN, X_dev, y_dev)
