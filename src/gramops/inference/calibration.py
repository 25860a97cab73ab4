"""Calibrated confidence: a temperature fitted on dev, the unsure threshold, and ECE.

A confidence means "how often an answer this sure is the exact form": the model's pooled
form probability (:func:`gramops.inference.predictor.pooled`) after one temperature that
minimises the negative log-likelihood of the gold forms on the dev split. Fitting on dev
and reporting on test keeps the reported expected calibration error honest. The unsure
threshold is the lowest confidence above which dev answers reach ``sure_accuracy``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gramops.inference.predictor import pooled, tag_forms, tempered

TEMPERATURE_RANGE = (0.05, 20.0)
SEARCH_STEPS = 60
"""Golden-section steps over log(temperature): the bracket shrinks to ~1e-12 of its width."""


def gold_mask(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """n × len(TAGS): which tags spell each record's gold form."""
    return np.array([[f == r["form"] for f in tag_forms(r)] for r in records], dtype=bool)


def form_nll(proba: np.ndarray, mask: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold forms (tags spelling alike pooled)."""
    p = (tempered(proba, temperature) * mask).sum(axis=1)
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(proba: np.ndarray, records: Sequence[Mapping[str, Any]]) -> float:
    """The temperature minimising :func:`form_nll` on ``records`` (deterministic search)."""
    if not len(records):
        raise ValueError("no dev records to fit a temperature on")
    mask = gold_mask(records)
    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = form_nll(proba, mask, math.exp(a)), form_nll(proba, mask, math.exp(b))
    for _ in range(SEARCH_STEPS):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = form_nll(proba, mask, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = form_nll(proba, mask, math.exp(b))
    return round(math.exp((lo + hi) / 2), 6)


def answers(
    proba: np.ndarray, records: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """Each record's confidence and whether its answer is the exact gold form."""
    confidence, correct = np.zeros(len(records)), np.zeros(len(records), dtype=bool)
    for i, (record, p) in enumerate(zip(records, proba, strict=True)):
        form, confidence[i] = pooled(p, tag_forms(record))
        correct[i] = form == record["form"]
    return confidence, correct


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Equal-width confidence bins: mean confidence, accuracy and count of each non-empty one."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "bin": f"{edges[b]:.2f}-{edges[b + 1]:.2f}",
                    "confidence": round(float(confidence[inside].mean()), 6),
                    "accuracy": round(float(correct[inside].mean()), 6),
                    "count": int(inside.sum()),
                }
            )
    return rows


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Count-weighted mean |accuracy - confidence| over equal-width bins."""
    if not len(confidence):
        return 0.0
    rows = reliability(confidence, correct, bins)
    gap = sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows)
    return round(gap / len(confidence), 6)


def unsure_threshold(confidence: np.ndarray, correct: np.ndarray, sure_accuracy: float) -> float:
    """The lowest confidence such that dev answers at or above it are right at least
    ``sure_accuracy`` of the time (1.0 if no threshold reaches it: every answer unsure)."""
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    accuracy = hits / np.arange(1, len(order) + 1)
    reaching = np.flatnonzero(accuracy >= sure_accuracy)
    if not len(reaching):
        return 1.0
    return round(float(confidence[order][reaching[-1]]), 6)
