"""The deploy gate: the non-inferiority test by hand, and every rule blocking on its own."""

import json
import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
from scipy.stats import norm

from gramops import gate
from gramops.gate import GateError, GateInputs

PARAMS = SimpleNamespace(quality_floor=0.9, margin=0.01, alpha=0.05, cpqu_ceiling=1.5)
CHAMPION = "c" * 64
CHALLENGER = "d" * 64

# a challenger as good as production on plenty of data, 20% dearer per unit of quality
GOOD = GateInputs(
    champion=CHAMPION,
    challenger=CHALLENGER,
    challenger_reference=(9_500, 10_000),
    champion_reference=(9_500, 10_000),
    challenger_traffic=(9_400, 10_000),
    champion_traffic=(9_400, 10_000),
    drift_retrain=True,
    challenger_evaluated_on_current=True,
    challenger_cpqu=0.0012,
    champion_cpqu=0.0010,
)


def _verdicts(result: dict) -> dict[str, str]:
    return {rule["name"]: rule["verdict"] for rule in result["rules"]}


# --------------------------------------------------------------------------- the test


def test_noninferiority_matches_a_hand_computation():
    x_c, n_c, x_p, n_p, margin, alpha = 880, 1000, 900, 1000, 0.05, 0.05
    p_c, p_p = 0.88, 0.90
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_p * (1 - p_p) / n_p)
    bound = (p_c - p_p) - norm.ppf(1 - alpha) * se
    z = (p_c - p_p + margin) / se
    result = gate.noninferiority(x_c, n_c, x_p, n_p, margin, alpha)
    assert result["value"] == pytest.approx(-0.02, abs=1e-6)
    assert result["bound"] == pytest.approx(bound, abs=1e-6)
    assert result["threshold"] == -0.05
    assert result["z"] == pytest.approx(z, abs=1e-6)
    assert result["p_value"] == pytest.approx(norm.sf(z), abs=1e-6)
    # bound ≈ -0.0434 > -0.05: not worse by more than the margin
    assert bound > -margin
    assert result["verdict"] == "pass"


def test_noninferiority_fails_when_the_bound_crosses_the_margin():
    # same rates, smaller margin: the lower bound (≈ -0.043) is below -0.01
    result = gate.noninferiority(880, 1000, 900, 1000, 0.01, 0.05)
    assert result["bound"] < result["threshold"]
    assert result["verdict"] == "fail"
    # the bound/threshold rule and the one-sided test at alpha are the same decision
    assert result["p_value"] > 0.05


def test_noninferiority_needs_evidence_not_just_no_significant_harm():
    # equal rates on 20 samples: not significantly worse, but nothing shown either
    result = gate.noninferiority(18, 20, 18, 20, 0.01, 0.05)
    assert result["value"] == 0
    assert result["verdict"] == "fail"


def test_noninferiority_without_samples_fails_and_with_zero_spread_uses_the_difference():
    empty = gate.noninferiority(0, 0, 90, 100, 0.01, 0.05)
    assert empty["verdict"] == "fail" and empty["bound"] is None
    perfect = gate.noninferiority(100, 100, 50, 50, 0.01, 0.05)
    assert perfect["bound"] == 0 and perfect["verdict"] == "pass"


def test_noninferiority_rejects_impossible_counts():
    with pytest.raises(GateError, match="challenger"):
        gate.noninferiority(11, 10, 5, 10, 0.01, 0.05)


# --------------------------------------------------------------------------- decisions


def test_all_rules_passing_promotes():
    result = gate.decide(GOOD, PARAMS)
    assert result["decision"] == "promote", result["reasons"]
    assert set(_verdicts(result).values()) == {"pass"}
    assert result["champion"] == CHAMPION and result["challenger"] == CHALLENGER
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN or infinity


@pytest.mark.parametrize(
    ("rule", "change", "reason"),
    [
        # production is just as weak, so only the floor catches it
        (
            "quality_floor",
            {"challenger_reference": (8_900, 10_000), "champion_reference": (8_900, 10_000)},
            "floor",
        ),
        (
            "noninferiority_reference",
            {"challenger_reference": (9_300, 10_000)},
            "worse than production",
        ),
        (
            "noninferiority_traffic",
            {"challenger_traffic": (9_200, 10_000)},
            "worse than production",
        ),
        ("drift", {"challenger_evaluated_on_current": False}, "not evaluated on the current"),
        ("cpqu_ceiling", {"challenger_cpqu": 0.0016}, "ceiling"),
        ("cpqu_ceiling", {"challenger_cpqu": None}, "CpQU unknown for challenger"),
        ("cpqu_ceiling", {"champion_cpqu": None}, "CpQU unknown for production"),
    ],
)
def test_each_rule_failing_alone_blocks_with_its_reason(rule, change, reason):
    result = gate.decide(replace(GOOD, **change), PARAMS)
    assert result["decision"] == "block"
    verdicts = _verdicts(result)
    assert [name for name, v in verdicts.items() if v == "fail"] == [rule]
    assert len(result["reasons"]) == 1
    assert result["reasons"][0].startswith(f"{rule}: ")
    assert reason in result["reasons"][0]


def test_drift_without_a_retrain_demand_does_not_require_current_evaluation():
    inputs = replace(GOOD, drift_retrain=False, challenger_evaluated_on_current=False)
    assert gate.decide(inputs, PARAMS)["decision"] == "promote"


def test_rule_values_and_thresholds_are_reported_rounded():
    rules = {
        r["name"]: r for r in gate.decide(replace(GOOD, challenger_cpqu=0.0016), PARAMS)["rules"]
    }
    assert rules["quality_floor"]["value"] == 0.95
    assert rules["quality_floor"]["threshold"] == 0.9
    assert rules["cpqu_ceiling"]["value"] == 1.6  # 0.0016 / 0.0010, rounded to 6 decimals
    assert rules["cpqu_ceiling"]["threshold"] == 1.5
    assert rules["noninferiority_reference"]["threshold"] == -0.01
    assert {"name", "value", "threshold", "verdict", "detail"} == set(rules["drift"])


def test_same_model_holds_and_still_lists_rules():
    result = gate.decide(replace(GOOD, challenger=CHAMPION), PARAMS)
    assert result["decision"] == "hold"
    assert "nothing to promote" in result["reasons"][0]
    assert len(result["rules"]) == 6


# --------------------------------------------------------------------------- rollbacks

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _move(op: str, new: str, previous: str | None, alias: str = "production") -> dict:
    return {"op": op, "alias": alias, "new": new, "previous": previous, "time": "t", "actor": "x"}


def test_a_rolled_back_challenger_is_blocked_with_the_rollback_named():
    verdict = gate.rolled_back(
        [_move("alias", A, None), _move("alias", B, A), _move("rollback", A, B)]
    )
    assert set(verdict) == {B}
    result = gate.decide(replace(GOOD, challenger_rolled_back=verdict[B]), PARAMS)
    assert result["decision"] == "block"
    assert [n for n, v in _verdicts(result).items() if v == "fail"] == ["not_rolled_back"]
    assert "rolled back from production at t by x" in result["reasons"][0]
    assert "gramops promote" in result["reasons"][0]


def test_an_explicit_promotion_lifts_a_rollback_and_other_aliases_do_not_count():
    records = [_move("alias", A, None), _move("alias", B, A), _move("rollback", A, B)]
    assert gate.rolled_back([*records, _move("alias", B, A)]) == {}
    assert gate.rolled_back([*records, _move("alias", C, A)]) == {
        B: "rolled back from production at t by x"
    }
    assert gate.rolled_back(records, alias="challenger") == {}
    assert gate.rolled_back([_move("rollback", A, C, alias="canary")], alias="canary") == {
        C: "rolled back from canary at t by x"
    }
