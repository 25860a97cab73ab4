"""Unit tests of the shared training loop: lazy Adam, batch compaction, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gramops.core.fileio import write_csv
from gramops.models.training import (
    HISTORY_FIELDS,
    EpochStats,
    LazyAdam,
    Schedule,
    check_inputs,
    compact_columns,
    fit,
    history_rows,
)


def test_compact_columns_keeps_only_the_active_columns() -> None:
    X = sp.csr_matrix(np.array([[0, 2, 0, 0, 5], [1, 0, 0, 0, 5]], dtype=np.float32))
    columns, compact = compact_columns(X)
    assert columns.tolist() == [0, 1, 4]
    assert compact.toarray().tolist() == [[0, 2, 5], [1, 0, 5]]


def test_lazy_adam_moves_only_the_rows_a_step_touches() -> None:
    params = {"W": np.ones((4, 2), dtype=np.float32), "b": np.ones(2, dtype=np.float32)}
    optimizer = LazyAdam(params, lr=0.1, weight_decay=0.0, decay=frozenset())
    rows = np.array([1, 3])
    optimizer.step(
        params, {"W": np.ones((2, 2), np.float32), "b": np.ones(2, np.float32)}, {"W": rows}
    )
    assert np.array_equal(params["W"][[0, 2]], np.ones((2, 2)))
    assert np.all(params["W"][rows] < 1) and np.all(params["b"] < 1)
    assert not optimizer.m["W"][[0, 2]].any() and optimizer.m["W"][rows].all()


def test_check_inputs_names_the_split() -> None:
    X = sp.csr_matrix((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="dev: 2 feature rows but 1 labels"):
        check_inputs(X, np.zeros(1), "dev")
    with pytest.raises(ValueError, match="train: no examples"):
        check_inputs(sp.csr_matrix((0, 3)), np.zeros(0), "train")


def test_fit_returns_the_initial_tensors_when_no_epoch_improves() -> None:
    X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    y = np.zeros(4, dtype=np.int64)
    start = {"W": np.zeros((4, 1), dtype=np.float32)}

    def step(sub, _columns, X_batch, _y):
        return 1.0, {"W": np.ones_like(sub["W"])}

    fitted = fit(
        {k: v.copy() for k, v in start.items()},
        frozenset({"W"}),
        frozenset(),
        step,
        lambda _t, X_dev: np.tile([1.0, 0.0], (X_dev.shape[0], 1)),  # always right
        (X, y, X, y),
        Schedule(epochs=5, batch_size=2, learning_rate=0.1, weight_decay=0.0, patience=2),
        np.random.default_rng(0),
        "test",
    )
    assert fitted.best_epoch == 0 and fitted.initial_accuracy == fitted.best_accuracy == 1.0
    assert np.array_equal(fitted.params["W"], start["W"])
    assert [e.epoch for e in fitted.history] == [1, 2]  # stopped after `patience` epochs
    assert fitted.history[0].train_loss == 1.0


def test_history_rows_carry_six_decimals() -> None:
    rows = history_rows([EpochStats(1, 0.5, 0.25), EpochStats(2, 1 / 3, 2 / 3)])
    assert rows == [
        {"epoch": 1, "train_loss": "0.500000", "dev_accuracy": "0.250000"},
        {"epoch": 2, "train_loss": "0.333333", "dev_accuracy": "0.666667"},
    ]


def test_history_csv_bytes(tmp_path) -> None:
    """plots/train_history.csv: a header, one row per epoch, "\\n" line ends."""
    path = tmp_path / "plots" / "train_history.csv"
    write_csv(path, HISTORY_FIELDS, history_rows([EpochStats(1, 0.5, 0.25)]), lineterminator="\n")
    assert path.read_bytes() == b"epoch,train_loss,dev_accuracy\n1,0.500000,0.250000\n"
