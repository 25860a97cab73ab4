"""Drift week by week: the reference the drift stage compares with, each week of the shifted
traffic against it, and the files that report it.

Reference = the training distribution: the verb-domain train split for tag, lemma, length
and verb position; for lemma rank and model confidence, the verb-domain dev split, held
out like live traffic (its lemmas are unseen by training at the same rate, the split
being by synset), so that neither drifts at intensity 0 by construction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from gramops.core.params import DriftParams, ShiftParams
from gramops.core.vocab import TAGS, short
from gramops.monitoring.challenger import CATEGORICAL, HELD_OUT, NUMERIC, features
from gramops.monitoring.drift import drift_report
from gramops.monitoring.drift_binning import Kind
from gramops.monitoring.shift import week_intensity

KINDS: dict[str, Kind] = {
    **dict.fromkeys(CATEGORICAL, "categorical"),
    **dict.fromkeys(NUMERIC, "numeric"),
}

Records = Sequence[Mapping[str, Any]]


class Week(NamedTuple):
    """One week's drift report and how many requests it judged."""

    number: int
    records: int
    report: dict[str, Any]


def reference_features(
    train: Records,
    dev: Records,
    ranks: Mapping[str, int],
    train_confidence: np.ndarray,
    dev_confidence: np.ndarray,
) -> dict[str, np.ndarray]:
    """The reference columns: the train split's, with the held-out features from dev."""
    reference = features(train, ranks, train_confidence)
    held_out = features(dev, ranks, dev_confidence)
    reference.update({name: held_out[name] for name in HELD_OUT})
    return reference


def weekly_reports(
    reference: Mapping[str, np.ndarray],
    traffic: Records,
    ranks: Mapping[str, int],
    confidence: np.ndarray,
    weeks: int,
    params: DriftParams,
    seed: int,
) -> Iterator[Week]:
    """Each week of ``traffic`` (its model ``confidence`` aligned by position) against the
    reference, one week at a time so a caller can report progress as it goes. A week
    without requests (possible in a captured request log) is skipped: it has no
    distribution to compare."""
    for week in range(1, weeks + 1):
        idx = [i for i, r in enumerate(traffic) if r["week"] == week]
        if not idx:
            continue
        current = features([traffic[i] for i in idx], ranks, confidence[idx])
        report = drift_report(reference, current, KINDS, params, seed, categories={"tag": TAGS})
        yield Week(week, len(idx), report)


def week_count(traffic: Records) -> int:
    """The number of weeks ``traffic`` spans: its latest week (``shift.weeks`` for
    synthetic traffic; for a request log, as many calendar weeks as it covers)."""
    return max(r["week"] for r in traffic)


def week_rows(weeks: Sequence[Week], shift: ShiftParams) -> dict[str, dict[str, Any]]:
    """``week_NN`` -> the week's intensity (none for a request log), status, retrain
    decision and deciding statistic per feature (``metrics/drift.json:weeks``)."""
    return {
        f"week_{week.number:02d}": {
            "intensity": round(week_intensity(shift.intensity, week.number, shift.weeks), 6)
            if shift.source == "synthetic"
            else None,
            "status": week.report["status"],
            "retrain": week.report["retrain"],
            **{
                f"{name}_{f['decided_by']}": f[f["decided_by"]]
                for name, f in week.report["features"].items()
            },
        }
        for week in weeks
    }


def model_summary(sha: str, semvers: Sequence[str], stand_in: bool) -> dict[str, Any]:
    """The model whose confidence drifts, as ``metrics/drift.json:production`` names it;
    ``stand_in`` when it is the candidate standing in for a production not yet released."""
    note = {"note": "no production yet: the candidate"} if stand_in else {}
    return {"sha": short(sha), "semvers": list(semvers), **note}


def drift_json(
    weeks: Sequence[Week],
    shift: ShiftParams,
    model: Mapping[str, Any],
    train_records: int,
    dev_records: int,
) -> dict[str, Any]:
    """``metrics/drift.json``: the last week's report in full (the current traffic), every
    week's summary, and the ``model`` whose confidence drifts."""
    last = weeks[-1]
    report = last.report
    return {
        "production": dict(model),
        "reference": {
            "domain": "verb",
            "train_records": train_records,
            "dev_records": dev_records,
            "dev_features": list(HELD_OUT),
        },
        "current": {"week": last.number, "records": last.records},
        "features": report["features"],
        "status": report["status"],
        "retrain": report["retrain"],
        "reasons": report["reasons"],
        "weeks": week_rows(weeks, shift),
    }
