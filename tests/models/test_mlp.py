"""Unit tests of the MLP, its training loop, INT8 quantization and the LoRA adapter."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gramops.core.params import FeatureParams, FinetuneParams, TrainParams
from gramops.models.mlp import (
    TAGS,
    backward,
    backward_lora,
    cross_entropy,
    dequantize,
    encode_tags,
    forward,
    forward_lora,
    init_lora,
    init_weights,
    merge_lora,
    noisy_labels,
    predict_proba,
    predict_proba_int8,
    predict_proba_lora,
    quantize_int8,
    train_lora,
    train_mlp,
)

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
FINETUNE = FinetuneParams(rank=4, alpha=8, epochs=10, batch_size=32, learning_rate=0.02, patience=3)


def make_data(
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


def test_encode_tags() -> None:
    assert encode_tags(["VB", "VBZ", "VBD"]).tolist() == [0, 5, 1]
    with pytest.raises(ValueError, match="unknown tag 'NN'"):
        encode_tags(["VB", "NN"])


def numeric_gradient(loss, tensor: np.ndarray, index: tuple[int, ...], eps: float = 1e-6) -> float:
    saved = tensor[index]
    tensor[index] = saved + eps
    up = loss()
    tensor[index] = saved - eps
    down = loss()
    tensor[index] = saved
    return (up - down) / (2 * eps)


def test_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    X, y = make_data(12, seed=1)
    X = X.astype(np.float64)
    weights = {k: v.astype(np.float64) for k, v in init_weights(N_FEATURES, 5, 8, rng).items()}
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


def test_lora_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    X, y = make_data(12, seed=2)
    X = X.astype(np.float64)
    base = {k: v.astype(np.float64) for k, v in init_weights(N_FEATURES, 5, 8, rng).items()}
    base["W1"] *= 20
    adapter = {k: v.astype(np.float64) for k, v in init_lora(base, 3, 8, rng).items()}
    for name in ("W1.lora_B", "W2.lora_B"):  # non-zero B, else A gets no gradient
        adapter[name] = rng.standard_normal(adapter[name].shape) * 0.3
    grads = backward_lora(base, adapter, X, y, forward_lora(base, adapter, X, 2.0), 2.0)

    def loss() -> float:
        return cross_entropy(forward_lora(base, adapter, X, 2.0).proba, y)

    for name, index in [
        ("W1.lora_A", (1, X.indices[0])),
        ("W1.lora_B", (2, 1)),
        ("W2.lora_A", (0, 3)),
        ("W2.lora_B", (4, 2)),
    ]:
        assert grads[name][index] == pytest.approx(
            numeric_gradient(loss, adapter[name], index), rel=1e-5, abs=1e-9
        ), name


@pytest.fixture(scope="module")
def trained() -> tuple:
    X_train, y_train = make_data(600, seed=3)
    X_dev, y_dev = make_data(200, seed=4)
    return train_mlp(X_train, y_train, X_dev, y_dev, TRAIN, seed=7), (X_dev, y_dev)


def test_training_reduces_loss_and_learns(trained: tuple) -> None:
    result, (X_dev, y_dev) = trained
    losses = [e.train_loss for e in result.history]
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (predict_proba(result.weights, X_dev).argmax(axis=1) == y_dev).mean()
    assert accuracy > 0.95
    assert result.weights["W1"].shape == (TRAIN.hidden, N_FEATURES)
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in result.weights.values())


def test_training_is_deterministic(trained: tuple) -> None:
    result, _ = trained
    X_train, y_train = make_data(600, seed=3)
    X_dev, y_dev = make_data(200, seed=4)
    again = train_mlp(X_train, y_train, X_dev, y_dev, TRAIN, seed=7)
    other = train_mlp(X_train, y_train, X_dev, y_dev, TRAIN, seed=8)
    for name, tensor in result.weights.items():
        assert tensor.tobytes() == again.weights[name].tobytes()
    assert result.weights["W1"].tobytes() != other.weights["W1"].tobytes()


def test_early_stopping_restores_best_epoch() -> None:
    X_train, y_train = make_data(600, seed=5)
    X_dev, _ = make_data(300, seed=6)
    # Noisy dev labels: accuracy wanders, so the best epoch is not the last one.
    y_dev = np.random.default_rng(0).integers(0, len(TAGS), 300)
    params = TRAIN.model_copy(update={"epochs": 30, "patience": 2, "learning_rate": 0.05})
    result = train_mlp(X_train, y_train, X_dev, y_dev, params, seed=1)
    accuracies = [e.dev_accuracy for e in result.history]
    assert result.best_epoch < len(result.history) <= result.best_epoch + params.patience
    assert result.best_dev_accuracy == max(accuracies) > accuracies[-1]
    restored = (predict_proba(result.weights, X_dev).argmax(axis=1) == y_dev).mean()
    assert restored == pytest.approx(result.best_dev_accuracy)


def test_quantization_round_trip_and_size(trained: tuple) -> None:
    result, (X_dev, _) = trained
    weights = {**result.weights, "W2": result.weights["W2"].copy()}
    weights["W2"][0] = 0.0  # an all-zero row must not divide by zero
    q = quantize_int8(weights)
    assert q["W1.q"].dtype == np.int8 and q["W1.scale"].dtype == np.float32
    assert q["W1.scale"].shape == (TRAIN.hidden,)
    # Each non-zero row uses the full code range, so the resolution is as fine as possible.
    assert np.all(np.abs(q["W1.q"]).max(axis=1) == 127)
    assert np.all(np.abs(q["W2.q"][1:]).max(axis=1) == 127) and not q["W2.q"][0].any()
    restored = dequantize(q)
    for name in ("W1", "W2"):
        error = np.abs(restored[name] - weights[name])
        assert np.all(error <= q[f"{name}.scale"][:, None] / 2 * (1 + 1e-5))
    fp32_bytes = sum(w.nbytes for w in weights.values())
    int8_bytes = sum(w.nbytes for w in q.values())
    assert int8_bytes <= 0.30 * fp32_bytes
    np.testing.assert_allclose(
        predict_proba_int8(q, X_dev), predict_proba(restored, X_dev), rtol=1e-4, atol=1e-6
    )


def test_int8_predictions_track_fp32(trained: tuple) -> None:
    result, (X_dev, _) = trained
    fp32 = predict_proba(result.weights, X_dev).argmax(axis=1)
    int8 = predict_proba_int8(quantize_int8(result.weights), X_dev).argmax(axis=1)
    assert (fp32 == int8).mean() >= 0.99


def test_untrained_lora_equals_base(trained: tuple) -> None:
    result, (X_dev, _) = trained
    adapter = init_lora(result.weights, 4, 8, np.random.default_rng(0))
    assert adapter["W1.lora_A"].any() and not adapter["W1.lora_B"].any()
    np.testing.assert_array_equal(
        predict_proba_lora(result.weights, adapter, X_dev, 8, 4),
        predict_proba(result.weights, X_dev),
    )


def test_merged_and_unmerged_lora_agree(trained: tuple) -> None:
    result, (X_dev, _) = trained
    rng = np.random.default_rng(1)
    adapter = init_lora(result.weights, 4, 8, rng)
    for name in ("W1.lora_B", "W2.lora_B"):
        adapter[name] = (rng.standard_normal(adapter[name].shape) * 0.5).astype(np.float32)
    merged = merge_lora(result.weights, adapter, alpha=8, rank=4)
    unmerged = predict_proba_lora(result.weights, adapter, X_dev, 8, 4)
    np.testing.assert_allclose(predict_proba(merged, X_dev), unmerged, rtol=1e-4, atol=1e-6)
    assert np.abs(unmerged - predict_proba(result.weights, X_dev)).max() > 1e-2
    assert set(result.weights) == set(merged)


def test_lora_adapts_to_a_shifted_domain(trained: tuple) -> None:
    result, _ = trained
    shift = {0: 1, 1: 0}  # the new domain swaps two tags
    X_train, y_train = make_data(400, seed=10, remap=shift)
    X_dev, y_dev = make_data(200, seed=11, remap=shift)
    frozen = result.weights["W1"].copy()
    lora = train_lora(result.weights, X_train, y_train, X_dev, y_dev, FINETUNE, seed=3)
    assert set(lora.adapter) == {"W1.lora_A", "W1.lora_B", "W2.lora_A", "W2.lora_B"}
    assert lora.adapter["W1.lora_A"].shape == (FINETUNE.rank, N_FEATURES)
    assert lora.best_dev_accuracy > lora.base_dev_accuracy + 0.2
    assert np.array_equal(result.weights["W1"], frozen)
    adapted = predict_proba_lora(result.weights, lora.adapter, X_dev, FINETUNE.alpha, FINETUNE.rank)
    assert (adapted.argmax(axis=1) == y_dev).mean() == pytest.approx(lora.best_dev_accuracy)


def test_noisy_labels_replace_the_requested_share_deterministically() -> None:
    y = np.zeros(10_000, dtype=np.int64)
    assert np.array_equal(noisy_labels(y, 0.0, 1), y)
    noisy = noisy_labels(y, 0.3, 1)
    # a replaced label lands on tag 0 again one time in six
    assert 0.22 < (noisy != 0).mean() < 0.28
    assert np.array_equal(noisy, noisy_labels(y, 0.3, 1))
    assert not np.array_equal(noisy, noisy_labels(y, 0.3, 2))
