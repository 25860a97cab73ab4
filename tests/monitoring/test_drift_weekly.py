"""Drift week by week: the reference's held-out features, the week loop, and the rows of
metrics/drift.json, on tiny hand-built records (the plot files: tests/report/test_plot_data.py)."""

import numpy as np

from gramops.core.params import DriftParams, ShiftParams
from gramops.monitoring import drift_weekly as weekly
from gramops.monitoring.shift import lemma_ranks

PARAMS = DriftParams(
    bins=4,
    top_lemmas=3,
    epsilon=1e-4,
    psi_moderate=0.1,
    psi_major=0.25,
    kl_threshold=0.1,
    null_quantile=0.99,
    null_samples=50,
)
SHIFT = ShiftParams(kind="tense", intensity=0.5, size=50, weeks=2, seed=0)
TAGS = ("VB", "VBD", "VBZ")


def records(n: int, lemma: str = "walk", length: int = 5, week: int | None = None) -> list[dict]:
    rows = [
        {
            "tag": TAGS[i % 3],
            "lemma": lemma if i % 2 else "go",
            "tokens": ["w"] * (length + i % 3),
            "verb_index": i % length,
        }
        for i in range(n)
    ]
    return rows if week is None else [{**r, "week": week} for r in rows]


TRAIN, DEV = records(60), records(30, lemma="swim")
RANKS = lemma_ranks(TRAIN)


def test_the_held_out_features_come_from_dev_the_rest_from_train():
    reference = weekly.reference_features(
        TRAIN, DEV, RANKS, np.full(len(TRAIN), 0.99), np.full(len(DEV), 0.7)
    )
    assert set(reference) == set(weekly.KINDS)
    # confidence and lemma rank from the 30 dev records (swim is unseen: rank 3)
    assert reference["confidence"].tolist() == [0.7] * 30
    assert set(reference["lemma_rank"].tolist()) == {1, 3}
    assert len(reference["lemma"]) == len(reference["length"]) == 60


def test_each_week_is_judged_on_its_own_requests_in_order():
    traffic = records(40, week=1) + records(25, length=9, week=2)
    confidence = np.r_[np.full(40, 0.9), np.full(25, 0.2)]
    dev = records(30)  # held out like the traffic of week 1
    reference = weekly.reference_features(TRAIN, dev, RANKS, np.full(60, 0.5), np.full(30, 0.9))
    weeks = list(weekly.weekly_reports(reference, traffic, RANKS, confidence, 2, PARAMS, 0))
    assert [(w.number, w.records) for w in weeks] == [(1, 40), (2, 25)]
    # week 2: longer sentences and low confidence drift; week 1 repeats the reference
    assert weeks[1].report["features"]["confidence"]["psi"] > 1
    assert weeks[1].report["retrain"] and not weeks[0].report["retrain"]
    assert weeks[1].report["features"]["length"]["n_current"] == 25


def _week(number: int, status: str, retrain: bool) -> weekly.Week:
    features = {
        "lemma": {"decided_by": "kl", "kl": 0.01, "psi": 0.5},
        "length": {"decided_by": "psi", "kl": 0.9, "psi": 0.3},
    }
    report = {
        "status": status,
        "retrain": retrain,
        "features": features,
        "reasons": [f"week {number}"],
        "histograms": {"length": [{"bin": "< 5", "reference": 0.25, "current": 0.5}]},
    }
    return weekly.Week(number, 10 * number, report)


WEEKS = [_week(1, "none", False), _week(2, "major", True)]


def test_drift_json_has_the_last_week_in_full_and_every_week_on_the_ramp():
    model = weekly.model_summary("a" * 64, ["v0.1.0"], stand_in=False)
    result = weekly.drift_json(WEEKS, SHIFT, model, 60, 30)
    assert result["production"] == {"sha": "a" * 12, "semvers": ["v0.1.0"]}
    assert result["current"] == {"week": 2, "records": 20}
    assert result["status"] == "major" and result["retrain"] and result["reasons"] == ["week 2"]
    assert result["reference"]["dev_features"] == ["lemma_rank", "confidence"]
    assert result["weeks"] == {
        "week_01": {
            "intensity": 0.25,
            "status": "none",
            "retrain": False,
            "lemma_kl": 0.01,
            "length_psi": 0.3,
        },
        "week_02": {
            "intensity": 0.5,
            "status": "major",
            "retrain": True,
            "lemma_kl": 0.01,
            "length_psi": 0.3,
        },
    }


def test_a_candidate_standing_in_for_production_is_named_so():
    summary = weekly.model_summary("b" * 64, [], stand_in=True)
    assert summary == {"sha": "b" * 12, "semvers": [], "note": "no production yet: the candidate"}
