"""The predictor's calibration (read from the bundle's eval report), unsure flag and
reasons, on a tiny bundle."""

import json

import numpy as np
import pytest
from tests.helpers.bundles import tiny_bundle

from gramops.inference.predictor import Calibration, load_predictor, pooled
from gramops.models.bundle import BundleError

RECORDS = [
    {"tokens": ["Yesterday", "she", "___", "to", "school", "."], "verb_index": 2, "lemma": "go"},
    {"tokens": ["They", "___", "happy"], "verb_index": 1, "lemma": "be"},
]


def with_calibration(path, calibration):
    report = json.loads((path / "eval_report.json").read_text())
    report["calibration"] = calibration
    (path / "eval_report.json").write_text(json.dumps(report))
    return path


def test_a_bundle_without_calibration_answers_uncalibrated(tmp_path):
    predictor = load_predictor(tiny_bundle(tmp_path / "m"))
    assert predictor.calibration == Calibration()
    prediction = predictor.predict(RECORDS)
    assert not prediction.unsure.any() and prediction.because is None


def test_temperature_and_threshold_come_from_the_eval_report(tmp_path):
    plain = load_predictor(tiny_bundle(tmp_path / "a")).predict(RECORDS)
    path = with_calibration(
        tiny_bundle(tmp_path / "b"), {"temperature": 50.0, "unsure_below": 0.99}
    )
    predictor = load_predictor(path)
    assert predictor.calibration == Calibration(50.0, 0.99)
    calibrated = predictor.predict(RECORDS)
    assert (calibrated.confidence < plain.confidence).all()  # a high temperature flattens
    assert calibrated.unsure.all()


def test_because_names_context_tokens_that_lower_the_answer_when_removed(tmp_path):
    predictor = load_predictor(tiny_bundle(tmp_path / "m"))
    prediction = predictor.predict(RECORDS, explain=True)
    assert len(prediction.because) == len(RECORDS)
    for record, reasons in zip(RECORDS, prediction.because, strict=True):
        context = [t for k, t in enumerate(record["tokens"]) if k != record["verb_index"]]
        assert len(reasons) <= 3 and set(reasons) <= set(context) and "." not in reasons
    # explaining never changes the answer
    again = predictor.predict(RECORDS)
    assert again.forms == prediction.forms and np.allclose(again.confidence, prediction.confidence)


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ({"temperature": 0, "unsure_below": None}, "calibration.temperature"),
        ({"temperature": "1", "unsure_below": None}, "calibration.temperature"),
        ({"temperature": 1.0, "unsure_below": 1.5}, "calibration.unsure_below"),
    ],
)
def test_a_bad_calibration_is_refused_naming_the_key(tmp_path, calibration, message):
    path = with_calibration(tiny_bundle(tmp_path / "m"), calibration)
    with pytest.raises(BundleError, match=message):
        load_predictor(path)


def test_pooled_confidence_never_passes_one():
    # six float32 probabilities that sum past 1 by rounding, every tag spelling one form
    proba = np.full(6, np.float32(1 / 6), dtype=np.float32)
    assert float(proba.astype(np.float64).sum()) > 1
    form, confidence = pooled(proba, ["put"] * 6)
    assert form == "put" and confidence == 1.0
