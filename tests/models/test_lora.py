"""Unit tests of the LoRA adapter: gradients, zero start, merging and domain adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from gramops.core.params import FinetuneParams
from gramops.models.lora import (
    backward_lora,
    forward_lora,
    init_lora,
    merge_lora,
    predict_proba_lora,
    train_lora,
)
from gramops.models.mlp import cross_entropy, init_weights, predict_proba

FINETUNE = FinetuneParams(rank=4, alpha=8, epochs=10, batch_size=32, learning_rate=0.02, patience=3)


def test_lora_backward_matches_finite_differences(make_data, numeric_gradient) -> None:
    rng = np.random.default_rng(0)
    X, y = make_data(12, seed=2)
    X = X.astype(np.float64)
    base = {k: v.astype(np.float64) for k, v in init_weights(X.shape[1], 5, 8, rng).items()}
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


def test_untrained_lora_equals_base(trained) -> None:
    result, X_dev = trained.result, trained.X_dev
    adapter = init_lora(result.weights, 4, 8, np.random.default_rng(0))
    assert adapter["W1.lora_A"].any() and not adapter["W1.lora_B"].any()
    np.testing.assert_array_equal(
        predict_proba_lora(result.weights, adapter, X_dev, 8, 4),
        predict_proba(result.weights, X_dev),
    )


def test_merged_and_unmerged_lora_agree(trained) -> None:
    result, X_dev = trained.result, trained.X_dev
    rng = np.random.default_rng(1)
    adapter = init_lora(result.weights, 4, 8, rng)
    for name in ("W1.lora_B", "W2.lora_B"):
        adapter[name] = (rng.standard_normal(adapter[name].shape) * 0.5).astype(np.float32)
    merged = merge_lora(result.weights, adapter, alpha=8, rank=4)
    unmerged = predict_proba_lora(result.weights, adapter, X_dev, 8, 4)
    np.testing.assert_allclose(predict_proba(merged, X_dev), unmerged, rtol=1e-4, atol=1e-6)
    assert np.abs(unmerged - predict_proba(result.weights, X_dev)).max() > 1e-2
    assert set(result.weights) == set(merged)


def test_an_adapter_with_wrong_tensors_is_refused(trained) -> None:
    adapter = init_lora(trained.result.weights, 4, 8, np.random.default_rng(0))
    del adapter["W2.lora_B"]
    with pytest.raises(ValueError, match="do not match the expected"):
        merge_lora(trained.result.weights, adapter, alpha=8, rank=4)


def test_lora_adapts_to_a_shifted_domain(trained, make_data) -> None:
    result = trained.result
    shift = {0: 1, 1: 0}  # the new domain swaps two tags
    X_train, y_train = make_data(400, seed=10, remap=shift)
    X_dev, y_dev = make_data(200, seed=11, remap=shift)
    frozen = result.weights["W1"].copy()
    lora = train_lora(result.weights, X_train, y_train, X_dev, y_dev, FINETUNE, seed=3)
    assert set(lora.adapter) == {"W1.lora_A", "W1.lora_B", "W2.lora_A", "W2.lora_B"}
    assert lora.adapter["W1.lora_A"].shape == (FINETUNE.rank, X_dev.shape[1])
    assert lora.best_dev_accuracy > lora.base_dev_accuracy + 0.2
    assert np.array_equal(result.weights["W1"], frozen)
    adapted = predict_proba_lora(result.weights, lora.adapter, X_dev, FINETUNE.alpha, FINETUNE.rank)
    assert (adapted.argmax(axis=1) == y_dev).mean() == pytest.approx(lora.best_dev_accuracy)
    metrics = lora.metrics()
    assert metrics["base_dev_tag_accuracy"] == round(lora.base_dev_accuracy, 6)
    assert metrics["dev_tag_accuracy"] == round(lora.best_dev_accuracy, 6)
    assert metrics["adapter_parameters"] == sum(w.size for w in lora.adapter.values())
    assert metrics["epochs_run"] == len(lora.history) and metrics["best_epoch"] == lora.best_epoch


def test_input_dropout_changes_the_adapter_and_repeats_exactly(trained, make_data) -> None:
    shift = {0: 1, 1: 0}  # a domain the base gets wrong, so the adapter learns something
    X, y = make_data(200, seed=5, remap=shift)
    X_dev, y_dev = make_data(60, seed=6, remap=shift)
    base = trained.result.weights
    plain = train_lora(base, X, y, X_dev, y_dev, FINETUNE, 0)
    dropped = FinetuneParams(**{**FINETUNE.model_dump(), "dropout": 0.5})
    first = train_lora(base, X, y, X_dev, y_dev, dropped, 0)
    again = train_lora(base, X, y, X_dev, y_dev, dropped, 0)
    assert first.best_epoch > 0 and plain.best_epoch > 0
    assert any(not np.array_equal(first.adapter[k], plain.adapter[k]) for k in first.adapter)
    for name, tensor in first.adapter.items():
        assert tensor.tobytes() == again.adapter[name].tobytes(), name
