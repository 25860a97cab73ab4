"""Calibration: the temperature fitted on dev, ECE, the reliability rows and the unsure
threshold; and the predictor's pooled forms, agreeing ``be`` and its reasons."""

import numpy as np
import pytest

from gramops.core.vocab import TAGS
from gramops.inference.calibration import (
    answers,
    expected_calibration_error,
    fit_temperature,
    reliability,
    unsure_threshold,
)
from gramops.inference.predictor import Calibration, pooled, tag_forms, tempered


def record(tokens, index, lemma, form="x"):
    return {"tokens": tokens, "verb_index": index, "lemma": lemma, "form": form}


def test_tags_spelling_the_same_form_pool_their_probability():
    forms = tag_forms(record(["I", "___", "home"], 1, "walk"))
    p = np.array([0.05, 0.30, 0.05, 0.25, 0.0, 0.35])  # VBZ alone is likeliest
    assert pooled(p, forms) == ("walked", pytest.approx(0.55))


@pytest.mark.parametrize(
    ("sentence", "vbd", "vbp"),
    [("They ___ here", "were", "are"), ("I ___ here", "was", "am"), ("She ___ here", "was", "are")],
)
def test_be_agrees_with_its_subject(sentence, vbd, vbp):
    tokens = sentence.split()
    forms = tag_forms(record(tokens, tokens.index("___"), "be"))
    assert (forms[TAGS.index("VBD")], forms[TAGS.index("VBP")]) == (vbd, vbp)


def test_temperature_one_changes_nothing_and_higher_flattens():
    p = np.array([[0.7, 0.1, 0.1, 0.05, 0.03, 0.02]])
    assert np.array_equal(tempered(p, 1.0), p)
    assert tempered(p, 2.0).max() < 0.7 < tempered(p, 0.5).max()


def overconfident(n=600, seed=0):
    """Records whose model says 0.99 but is right 70% of the time."""
    rng = np.random.default_rng(seed)
    records, proba = [], np.full((n, len(TAGS)), 0.002)
    for i in range(n):
        right = rng.random() < 0.7
        proba[i, TAGS.index("VBG")] = 0.99
        records.append(record(["She", "is", "___"], 2, "walk", "walking" if right else "walks"))
    return proba / proba.sum(axis=1, keepdims=True), records


def test_a_fitted_temperature_removes_overconfidence():
    proba, records = overconfident()
    temperature = fit_temperature(proba, records)
    assert temperature > 1
    before = expected_calibration_error(*answers(proba, records), bins=10)
    after = expected_calibration_error(*answers(tempered(proba, temperature), records), bins=10)
    assert before > 0.25 and after < 0.02
    assert fit_temperature(proba, records) == temperature  # deterministic


def test_reliability_rows_and_ece():
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, True, True, False])
    rows = reliability(confidence, correct, bins=10)
    assert [(r["bin"], r["accuracy"], r["count"]) for r in rows] == [
        ("0.50-0.60", 0.5, 2),
        ("0.90-1.00", 1.0, 2),
    ]
    assert expected_calibration_error(confidence, correct, bins=10) == pytest.approx(0.05)


def test_unsure_threshold_is_where_sure_answers_reach_the_target():
    confidence = np.array([0.99, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, False])
    assert unsure_threshold(confidence, correct, 0.95) == 0.8
    assert unsure_threshold(confidence, ~correct, 0.95) == 1.0  # nothing reaches it


def test_calibration_defaults_leave_answers_as_the_model_gives_them():
    assert Calibration() == Calibration(temperature=1.0, unsure_below=None)
