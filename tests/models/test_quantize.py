"""Unit tests of INT8 quantization: per-row codes, round trip, size and predictions."""

from __future__ import annotations

import numpy as np

from gramops.models.mlp import predict_proba
from gramops.models.quantize import dequantize, predict_proba_int8, quantize_int8


def test_quantization_round_trip_and_size(trained) -> None:
    result, X_dev = trained.result, trained.X_dev
    weights = {**result.weights, "W2": result.weights["W2"].copy()}
    weights["W2"][0] = 0.0  # an all-zero row must not divide by zero
    q = quantize_int8(weights)
    assert q["W1.q"].dtype == np.int8 and q["W1.scale"].dtype == np.float32
    assert q["W1.scale"].shape == (trained.params.hidden,)
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


def test_int8_predictions_track_fp32(trained) -> None:
    result, X_dev = trained.result, trained.X_dev
    fp32 = predict_proba(result.weights, X_dev).argmax(axis=1)
    int8 = predict_proba_int8(quantize_int8(result.weights), X_dev).argmax(axis=1)
    assert (fp32 == int8).mean() >= 0.99
