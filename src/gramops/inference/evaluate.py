"""Evaluation reports: strict form accuracy, pass rate, per-class accuracy, confusion,
and calibration (a temperature fitted on dev; ECE before and after on test).

Strict accuracy asks for the exact gold form; the pass rate accepts any form grammatical
in the slot (the record's ``acceptable`` set), because most disagreements are past vs
present where both are correct English. Reports are deterministic (no timings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from gramops.core.params import EvaluateParams
from gramops.core.vocab import TAGS
from gramops.inference.calibration import (
    answers,
    expected_calibration_error,
    fit_temperature,
    reliability,
    unsure_threshold,
)
from gramops.inference.predictor import Calibration, Predictor, tempered


def _ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def passes(records: Sequence[Mapping[str, Any]], forms: Sequence[str]) -> list[bool]:
    """Per record: is the predicted form one of its ``acceptable`` forms (a pass)."""
    if len(forms) != len(records):
        raise ValueError(f"{len(forms)} predicted forms for {len(records)} records")
    return [f in r["acceptable"] for f, r in zip(forms, records, strict=True)]


def pass_rate(records: Sequence[Mapping[str, Any]], forms: Sequence[str]) -> float:
    """Share of records whose predicted form passes, unrounded: the quality figure the
    evaluation reports, the traffic replay compares and the cost per unit of quality
    divides by, computed one way for all of them."""
    if not records:
        raise ValueError("no records: a pass rate of nothing is unknown, not zero")
    return sum(passes(records, forms)) / len(records)


def score(
    records: Sequence[dict[str, Any]],
    pred_tags: Sequence[str],
    pred_forms: Sequence[str],
    tags: Sequence[str],
) -> dict[str, Any]:
    """Metrics of one model on one set of records, with a gold-tag × predicted-tag matrix."""
    if not len(records) == len(pred_tags) == len(pred_forms):
        raise ValueError("records, predicted tags and predicted forms differ in length")
    strict = [f == r["form"] for r, f in zip(records, pred_forms, strict=True)]
    confusion = Counter((r["tag"], t) for r, t in zip(records, pred_tags, strict=True))
    per_class = {}
    for tag in tags:
        idx = [i for i, r in enumerate(records) if r["tag"] == tag]
        per_class[tag] = {
            "count": len(idx),
            "strict_accuracy": _ratio(sum(strict[i] for i in idx), len(idx)),
            "tag_accuracy": _ratio(confusion[(tag, tag)], len(idx)),
        }
    return {
        "count": len(records),
        "strict_accuracy": _ratio(sum(strict), len(records)),
        "pass_rate": round(pass_rate(records, pred_forms), 6) if records else 0.0,
        "tag_accuracy": _ratio(sum(confusion[(t, t)] for t in tags), len(records)),
        "per_class": per_class,
        "confusion": {
            "labels": list(tags),
            "matrix": [[confusion[(gold, pred)] for pred in tags] for gold in tags],
        },
    }


def summary_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth diffing across commits (`dvc metrics diff`), without the matrix."""
    summary: dict[str, Any] = {
        domain: {key: value for key, value in result.items() if key != "confusion"}
        for domain, result in report["domains"].items()
    }
    if "calibration" in report:
        summary["calibration"] = report["calibration"]
    return summary


def confusion_rows(
    records: Sequence[dict[str, Any]], pred_tags: Sequence[str]
) -> list[dict[str, str]]:
    """One row per prediction, the shape DVC's confusion template counts."""
    return [
        {"domain": r["domain"], "actual": r["tag"], "predicted": t}
        for r, t in zip(records, pred_tags, strict=True)
    ]


class Evaluation(NamedTuple):
    sections: dict[str, Any]
    confusion: list[dict[str, str]]
    reliability: list[dict[str, Any]]


def evaluate_model(
    predictor: Predictor,
    dev: Sequence[dict[str, Any]],
    test: Mapping[str, Sequence[dict[str, Any]]],
    params: EvaluateParams,
) -> Evaluation:
    """Calibrate ``predictor`` on ``dev`` (its own domain), then score it on each domain's
    test records: the report's ``calibration`` and ``domains`` sections (each domain with
    its calibration error before and after), and the confusion and reliability rows of
    every domain for the plots."""
    raw = replace(predictor, calibration=Calibration())
    dev_proba = raw.tag_proba(dev)
    temperature = fit_temperature(dev_proba, dev)
    dev_conf, dev_correct = answers(tempered(dev_proba, temperature), dev)
    threshold = unsure_threshold(dev_conf, dev_correct, params.sure_accuracy)
    calibrated = replace(predictor, calibration=Calibration(temperature, threshold))
    bins = params.calibration_bins
    report: dict[str, Any] = {
        "calibration": {
            "temperature": temperature,
            "unsure_below": threshold,
            "dev_records": len(dev),
            "dev_ece_before": expected_calibration_error(*answers(dev_proba, dev), bins),
            "dev_ece_after": expected_calibration_error(dev_conf, dev_correct, bins),
        },
        "domains": {},
    }
    confusion: list[dict[str, str]] = []
    plot_rows: list[dict[str, Any]] = []
    for domain, records in test.items():
        proba = raw.tag_proba(records)
        before = answers(proba, records)
        confidence, correct = answers(tempered(proba, temperature), records)
        prediction = calibrated.predict(records)
        result = score(records, prediction.tags, prediction.forms, TAGS)
        sure = confidence >= threshold
        result["calibration"] = {
            "ece": expected_calibration_error(confidence, correct, bins),
            "ece_uncalibrated": expected_calibration_error(*before, bins),
            "unsure_share": _ratio(int((~sure).sum()), len(records)),
            "sure_strict_accuracy": _ratio(int(correct[sure].sum()), int(sure.sum())),
        }
        report["domains"][domain] = result
        confusion.extend(confusion_rows(records, prediction.tags))
        plot_rows.extend(
            {"domain": domain, **row} for row in reliability(confidence, correct, bins)
        )
    return Evaluation(report, confusion, plot_rows)
