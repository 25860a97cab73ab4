"""Unit tests of the FP32 MLP: tag encoding, gradients, training and label noise."""

from __future__ import annotations

import numpy as np
import pytest

from gramops.core.vocab import TAGS
from gramops.models.mlp import (
    as_labels,
    backward,
    cross_entropy,
    encode_tags,
    forward,
    init_weights,
    noisy_labels,
    predict_proba,
    train_mlp,
)


def test_encode_tags() -> None:
    assert encode_tags(["VB", "VBZ", "VBD"]).tolist() == [0, 5, 1]
    with pytest.raises(ValueError, match="unknown tag 'NN'"):
        encode_tags(["VB", "NN"])


def test_labels_accept_tag_strings_or_indices() -> None:
    assert as_labels(np.array(["VBZ", "VB"])).tolist() == [5, 0]
    assert as_labels(np.array([5, 0], dtype=np.int32)).dtype == np.int64


def test_backward_matches_finite_differences(make_data, numeric_gradient) -> None:
    rng = np.random.default_rng(0)
    X, y = make_data(12, seed=1)
    X = X.astype(np.float64)
    weights = {k: v.astype(np.float64) for k, v in init_weights(X.shape[1], 5, 8, rng).items()}
    weights["W1"] *= 20  # large enough that ReLU units are both on and off
    weights["b1"] = rng.standard_normal(5) * 0.1
    grads = backward(weights, X, y, forward(weights, X))

    def loss() -> float:
        return cross_entropy(predict_proba(weights, X), y)

    active = X.indices[:4]
    for name, index in [
        ("W1", (2, active[0])),
        ("W1", (4, active[3])),
        ("b1", (1,)),
        ("W2", (3, 2)),
        ("b2", (5,)),
    ]:
        assert grads[name][index] == pytest.approx(
            numeric_gradient(loss, weights[name], index), rel=1e-5, abs=1e-9
        ), name
    assert grads["W1"].shape == weights["W1"].shape


def test_training_reduces_loss_and_learns(trained) -> None:
    result = trained.result
    losses = [e.train_loss for e in result.history]
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (predict_proba(result.weights, trained.X_dev).argmax(axis=1) == trained.y_dev).mean()
    assert accuracy > 0.95
    assert result.weights["W1"].shape == (trained.params.hidden, trained.X_dev.shape[1])
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in result.weights.values())


def test_training_is_deterministic(trained, make_data) -> None:
    X_train, y_train = make_data(600, seed=3)
    X_dev, y_dev = make_data(200, seed=4)
    again = train_mlp(X_train, y_train, X_dev, y_dev, trained.params, seed=7)
    other = train_mlp(X_train, y_train, X_dev, y_dev, trained.params, seed=8)
    for name, tensor in trained.result.weights.items():
        assert tensor.tobytes() == again.weights[name].tobytes()
    assert trained.result.weights["W1"].tobytes() != other.weights["W1"].tobytes()


def test_early_stopping_restores_best_epoch(trained, make_data) -> None:
    X_train, y_train = make_data(600, seed=5)
    X_dev, _ = make_data(300, seed=6)
    # Noisy dev labels: accuracy wanders, so the best epoch is not the last one.
    y_dev = np.random.default_rng(0).integers(0, len(TAGS), 300)
    params = trained.params.model_copy(update={"epochs": 30, "patience": 2, "learning_rate": 0.05})
    result = train_mlp(X_train, y_train, X_dev, y_dev, params, seed=1)
    accuracies = [e.dev_accuracy for e in result.history]
    assert result.best_epoch < len(result.history) <= result.best_epoch + params.patience
    assert result.best_dev_accuracy == max(accuracies) > accuracies[-1]
    restored = (predict_proba(result.weights, X_dev).argmax(axis=1) == y_dev).mean()
    assert restored == pytest.approx(result.best_dev_accuracy)


def test_train_metrics_summarise_the_run(trained) -> None:
    result = trained.result
    metrics = result.metrics()
    assert metrics == {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "dev_tag_accuracy": round(result.best_dev_accuracy, 6),
        "parameters": 16 * 256 + 16 + len(TAGS) * 16 + len(TAGS),
    }
    assert type(metrics["parameters"]) is int


def test_noisy_labels_replace_the_requested_share_deterministically() -> None:
    y = np.zeros(10_000, dtype=np.int64)
    assert np.array_equal(noisy_labels(y, 0.0, 1), y)
    noisy = noisy_labels(y, 0.3, 1)
    # a replaced label lands on tag 0 again one time in six
    assert 0.22 < (noisy != 0).mean() < 0.28
    assert np.array_equal(noisy, noisy_labels(y, 0.3, 1))
    assert not np.array_equal(noisy, noisy_labels(y, 0.3, 2))
