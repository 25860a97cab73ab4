"""The headline metrics: each key repeats the right number of the right detail file."""

import json

import pytest

from gramops.report.summary import SummaryError, headline, largest_drift, summary_text

PROD, CAND, OTHER = "a" * 64, "b" * 64, "c" * 64
BUILT = {
    "families": {
        "int8": {"verb_pass_rate": 0.95, "tutor_pass_rate": 0.94},
        "fp32": {"verb_pass_rate": 0.96, "tutor_pass_rate": 0.93},
    },
    "shas": {"fp32": OTHER, "int8": CAND},
}
GATE = {"decision": "block", "production": PROD, "candidate": CAND}
DRIFT = {
    "status": "moderate",
    "retrain": False,
    "features": {
        "tag": {"decided_by": "kl", "kl": 0.08, "psi": 0.9},
        "length": {"decided_by": "psi", "psi": 0.12, "kl": 0.01},
    },
}
COSTS = {
    "entries": {
        PROD[:12]: {"family": "int8", "semver": "v0.2.4", "usd_per_1b_tokens": 0.0274},
        CAND[:12]: {"family": "int8", "semver": "untagged", "usd_per_1b_tokens": 0.0275},
        OTHER[:12]: {"family": "fp32", "semver": "untagged", "usd_per_1b_tokens": 0.0342},
    }
}
SHIFT = {"kind": "mix", "intensity": 0.5, "weeks": {}}


def test_headline_repeats_the_detail_files():
    assert headline(BUILT, GATE, DRIFT, COSTS, SHIFT) == {
        "production": "int8 v0.2.4",
        "candidate": f"int8 {CAND[:12]}",
        "gate": "block",
        "traffic": "mix 0.5",
        # the deciding statistic of each feature, not the larger of PSI and KL
        "drift": {"max": 0.12, "feature": "length psi", "retrain": False, "status": "moderate"},
        "pass_rate": {"fp32": {"verb": 0.96, "tutor": 0.93}, "int8": {"verb": 0.95, "tutor": 0.94}},
        "usd_per_1b_tokens": {"fp32": 0.0342, "int8": 0.0275},
    }


def test_keys_come_in_reading_order():
    """DVC shows keys in the file's order: who and what first, then quality and cost."""
    summary = headline(BUILT, GATE, DRIFT, COSTS, SHIFT)
    assert list(summary)[:4] == ["production", "candidate", "gate", "traffic"]
    assert list(summary)[4:] == ["drift", "pass_rate", "usd_per_1b_tokens"]


def test_no_candidate_and_logged_traffic_read_as_words():
    summary = headline(BUILT, {**GATE, "candidate": None}, DRIFT, COSTS, {"source": "log"})
    assert summary["candidate"] == "none" and summary["traffic"] == "log"


def test_headline_is_small_and_its_costs_are_not_rounded_away():
    """~20 keys, and `dvc metrics diff` (which rounds to 5 decimals) never prints a cost
    as 0.0."""

    def leaves(tree):
        nested = (leaves(v) if isinstance(v, dict) else [v] for v in tree.values())
        return [leaf for group in nested for leaf in group]

    summary = headline(BUILT, GATE, DRIFT, COSTS, SHIFT)
    assert len(leaves(summary)) <= 22
    assert all(round(usd, 5) > 0 for usd in summary["usd_per_1b_tokens"].values())


def test_a_detail_file_of_another_version_is_named():
    with pytest.raises(SummaryError, match=r"metrics/gate\.json has no decision.*dvc repro"):
        headline(BUILT, {"production": PROD}, DRIFT, COSTS, SHIFT)
    with pytest.raises(SummaryError, match=r"metrics/cpqu\.json has no entries\."):
        headline(BUILT, GATE, DRIFT, {"entries": {}}, SHIFT)
    with pytest.raises(SummaryError, match="no features"):
        largest_drift({"features": {}})


def test_the_file_keeps_the_reading_order():
    """DVC shows keys in the file's order; the project's sorted JSON writer would put
    candidate and drift before production."""
    summary = headline(BUILT, GATE, DRIFT, COSTS, SHIFT)
    text = summary_text(summary)
    assert json.loads(text) == summary and text.endswith("}\n")
    assert text.index('"production"') < text.index('"candidate"') < text.index('"drift"')
    assert text.index('"drift"') < text.index('"pass_rate"') < text.index('"usd_per_1b_tokens"')
