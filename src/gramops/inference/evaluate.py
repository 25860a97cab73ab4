"""Evaluation reports: strict form accuracy, pass rate, per-class accuracy, confusion.

Strict accuracy asks for the exact gold form; the pass rate accepts any form grammatical
in the slot (the record's ``acceptable`` set), because most disagreements are past vs
present where both are correct English. Reports are deterministic (no timings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


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
    return {
        domain: {key: value for key, value in result.items() if key != "confusion"}
        for domain, result in report["domains"].items()
    }


def confusion_rows(
    records: Sequence[dict[str, Any]], pred_tags: Sequence[str]
) -> list[dict[str, str]]:
    """One row per prediction, the shape DVC's confusion template counts."""
    return [
        {"domain": r["domain"], "actual": r["tag"], "predicted": t}
        for r, t in zip(records, pred_tags, strict=True)
    ]
