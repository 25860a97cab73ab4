"""The deploy gate: the non-inferiority test and the slice bound by hand, every rule
blocking on its own, the slice rule on a collapsed slice and on noise, and no candidate."""

import json
import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import norm

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.monitoring import gate, gate_stats
from gramops.monitoring.gate_rules import GateInputs
from gramops.monitoring.gate_stats import GateError
from gramops.registry import auditlog
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle

PARAMS = SimpleNamespace(
    quality_floor=0.9, margin=0.01, alpha=0.05, cpqu_ceiling=1.5, slice_min_n=30, slice_margin=0.05
)
PRODUCTION = "c" * 64
CANDIDATE = "d" * 64


def _side(n: int, passed: int, strict: int) -> dict[str, int]:
    return {"n": n, "passed": passed, "strict": strict}


def _same(n: int, passed: int, strict: int) -> dict[str, dict[str, int]]:
    return {"candidate": _side(n, passed, strict), "production": _side(n, passed, strict)}


# the reference split's slices with both models alike (sizes as in the real test split)
SAME_SLICES = {
    "domain:tutor": _same(826, 790, 670),
    "domain:verb": _same(1259, 1201, 1066),
    "tag:VB": _same(608, 590, 560),
    "tag:VBD": _same(941, 900, 760),
    "tag:VBG": _same(75, 74, 73),
    "tag:VBN": _same(183, 170, 120),
    "tag:VBP": _same(111, 108, 100),
    "tag:VBZ": _same(167, 160, 150),
    "verb:irregular": _same(700, 650, 500),
    "verb:regular": _same(1385, 1341, 1236),
}

# a candidate as good as production on plenty of data, 20% dearer per unit of quality
GOOD = GateInputs(
    production=PRODUCTION,
    production_reference=(9_500, 10_000),
    candidate=CANDIDATE,
    candidate_reference=(9_500, 10_000),
    candidate_traffic=(9_400, 10_000),
    production_traffic=(9_400, 10_000),
    drift_retrain=True,
    candidate_evaluated_on_current=True,
    candidate_cpqu=0.0012,
    production_cpqu=0.0010,
    slices=SAME_SLICES,
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
    result = gate_stats.noninferiority(x_c, n_c, x_p, n_p, margin, alpha)
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
    result = gate_stats.noninferiority(880, 1000, 900, 1000, 0.01, 0.05)
    assert result["bound"] < result["threshold"]
    assert result["verdict"] == "fail"
    # the bound/threshold rule and the one-sided test at alpha are the same decision
    assert result["p_value"] > 0.05


def test_noninferiority_needs_evidence_not_just_no_significant_harm():
    # equal rates on 20 samples: not significantly worse, but nothing shown either
    result = gate_stats.noninferiority(18, 20, 18, 20, 0.01, 0.05)
    assert result["value"] == 0
    assert result["verdict"] == "fail"


def test_noninferiority_without_samples_fails_and_with_zero_spread_uses_the_difference():
    empty = gate_stats.noninferiority(0, 0, 90, 100, 0.01, 0.05)
    assert empty["verdict"] == "fail" and empty["bound"] is None
    perfect = gate_stats.noninferiority(100, 100, 50, 50, 0.01, 0.05)
    assert perfect["bound"] == 0 and perfect["verdict"] == "pass"


def test_noninferiority_rejects_impossible_counts():
    with pytest.raises(GateError, match="candidate"):
        gate_stats.noninferiority(11, 10, 5, 10, 0.01, 0.05)


# --------------------------------------------------------------------------- slice bound


def _newcombe_upper(x_c, n_c, x_p, n_p, alpha):
    """Newcombe (1998) method 10 written out from the paper, Wilson limits via scipy's z."""
    z = norm.ppf(1 - alpha)

    def wilson(x, n):
        p = x / n
        a, b = 2 * n * p + z * z, z * math.sqrt(z * z + 4 * n * p * (1 - p))
        return (a - b) / (2 * (n + z * z)), (a + b) / (2 * (n + z * z))

    p_c, p_p = x_c / n_c, x_p / n_p
    return (
        p_c - p_p + math.sqrt((wilson(x_c, n_c)[1] - p_c) ** 2 + (p_p - wilson(x_p, n_p)[0]) ** 2)
    )


@pytest.mark.parametrize(
    ("x_c", "n_c", "x_p", "n_p", "alpha"),
    [
        (23, 60, 60, 60, 0.0025),
        (56, 60, 58, 60, 0.05),
        (0, 40, 40, 40, 0.01),
        (30, 30, 30, 30, 0.05),
    ],
)
def test_harm_bound_matches_newcombe_written_out(x_c, n_c, x_p, n_p, alpha):
    bound = gate_stats.harm_upper_bound(x_c, n_c, x_p, n_p, alpha)
    assert bound == pytest.approx(_newcombe_upper(x_c, n_c, x_p, n_p, alpha), abs=1e-12)


def test_harm_bound_keeps_width_at_rates_of_one():
    # a Wald interval would be [0, 0] here and call any later drop "significant"
    assert gate_stats.harm_upper_bound(30, 30, 30, 30, 0.05) > 0.05


def test_harm_bound_covers_a_true_tie_at_its_level():
    # simulated coverage: with equal true rates the bound falls below 0 (a false claim of
    # harm) about alpha of the time; the interval is approximate, so allow a point of slack
    rng = np.random.default_rng(3)
    n, p, alpha = 60, 0.9, 0.05
    x = rng.binomial(n, p, size=(4_000, 2))
    below = sum(gate_stats.harm_upper_bound(int(c), n, int(q), n, alpha) < 0 for c, q in x)
    assert below / len(x) <= alpha + 0.01


# --------------------------------------------------------------------------- slices


def _slice_rule(result: dict) -> dict:
    return next(r for r in result["rules"] if r["name"] == "slices")


# Issue 11 case 8's overall numbers: within 0.6 points on the reference split and traffic
CASE8 = replace(
    GOOD,
    candidate_reference=(1_194, 1_259),
    production_reference=(1_201, 1_259),
    candidate_traffic=(1_896, 2_000),
    production_traffic=(1_908, 2_000),
)
CASE8_PARAMS = SimpleNamespace(**{**vars(PARAMS), "margin": 0.02})


def test_case8_one_collapsed_common_slice_blocks_on_slices_alone():
    # Issue 11 case 8: overall pass rate 0.954 -> 0.948 on the 1,259 reference records (and
    # traffic alike) while strict accuracy on one group of 60 falls from 1.00 to 0.39.
    slices = {
        **SAME_SLICES,
        "tag:VBP": {"candidate": _side(60, 59, 23), "production": _side(60, 60, 60)},
    }
    result = gate.decide(replace(CASE8, slices=slices), CASE8_PARAMS)
    assert result["decision"] == "block"
    verdicts = _verdicts(result)
    assert [name for name, v in verdicts.items() if v == "fail"] == ["slices"], result["reasons"]
    detail = _slice_rule(result)["detail"]
    assert "tag:VBP strict accuracy 0.383 vs 1.000 (n = 60)" in detail
    assert "tag:VBP pass rate" not in detail  # 59/60 vs 60/60 is no evidence of harm
    failing = [(r["slice"], r["metric"]) for r in result["slices"] if r["verdict"] == "fail"]
    assert failing == [("tag:VBP", "strict accuracy")]
    # 10 slices x 2 metrics judged: every bound at 1 - 0.05 / 20
    assert {r["confidence"] for r in result["slices"]} == {0.9975}


def test_case8_fails_on_main_behaviour_without_slices():
    # the same candidate judged on the overall rules alone passes: what main did
    verdicts = _verdicts(gate.decide(CASE8, CASE8_PARAMS))
    assert {name for name, v in verdicts.items() if v == "fail"} == set()


def test_noise_on_tiny_slices_and_small_drops_on_big_slices_do_not_block():
    slices = {
        **SAME_SLICES,
        # tiny: half of 12 lost, but 12 < slice_min_n, so not judged
        "tag:MD": {"candidate": _side(12, 6, 6), "production": _side(12, 12, 12)},
        # 29 on one side is still under the minimum (both sides must reach it)
        "tag:VBG": {"candidate": _side(29, 0, 0), "production": _side(75, 74, 73)},
        # big: 2 points lower on 1,385 records, significant but within the 5-point margin
        "verb:regular": {
            "candidate": _side(1385, 1313, 1200),
            "production": _side(1385, 1341, 1236),
        },
        # common slice, 3 of 60 lost: no evidence of a 5-point loss after Bonferroni
        "tag:VBP": {"candidate": _side(60, 57, 55), "production": _side(60, 60, 58)},
    }
    result = gate.decide(replace(GOOD, slices=slices), PARAMS)
    assert result["decision"] == "promote", result["reasons"]
    rule = _slice_rule(result)
    assert rule["verdict"] == "pass"
    assert "not judged (fewer than 30 records): tag:MD, tag:VBG" in rule["detail"]
    rows = {(r["slice"], r["metric"]): r for r in result["slices"]}
    assert rows["tag:MD", "pass rate"]["verdict"] == "not judged"
    assert rows["tag:MD", "pass rate"]["bound"] is None
    assert rows["verb:regular", "pass rate"]["diff"] < -0.02
    assert rows["verb:regular", "pass rate"]["bound"] > -0.05
    json.dumps(result, allow_nan=False)


def test_slice_minimum_and_margin_are_params():
    slices = {"tag:VBP": {"candidate": _side(20, 20, 5), "production": _side(20, 20, 20)}}
    inputs = replace(GOOD, slices=slices)
    assert _slice_rule(gate.decide(inputs, PARAMS))["verdict"] == "pass"  # 20 < 30
    small = SimpleNamespace(**{**vars(PARAMS), "slice_min_n": 20})
    assert _slice_rule(gate.decide(inputs, small))["verdict"] == "fail"
    lenient = SimpleNamespace(**{**vars(small), "slice_margin": 0.9})
    assert _slice_rule(gate.decide(inputs, lenient))["verdict"] == "pass"


def test_slice_counts_must_be_complete_and_possible():
    with pytest.raises(GateError, match="tag:VB.*strict"):
        gate.decide(
            replace(
                GOOD,
                slices={
                    "tag:VB": {
                        "candidate": {"n": 40, "passed": 40},
                        "production": _side(40, 40, 40),
                    }
                },
            ),
            PARAMS,
        )
    with pytest.raises(GateError, match="slice tag:VB candidate passed"):
        gate.decide(
            replace(
                GOOD,
                slices={
                    "tag:VB": {"candidate": _side(40, 41, 40), "production": _side(40, 40, 40)}
                },
            ),
            PARAMS,
        )


# --------------------------------------------------------------------------- decisions


def test_all_rules_passing_promotes():
    result = gate.decide(GOOD, PARAMS)
    assert result["decision"] == "promote", result["reasons"]
    assert set(_verdicts(result).values()) == {"pass"}
    assert result["production"] == PRODUCTION and result["candidate"] == CANDIDATE
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN or infinity


@pytest.mark.parametrize(
    ("rule", "change", "reason"),
    [
        # production is just as weak, so only the floor catches it
        (
            "quality_floor",
            {"candidate_reference": (8_900, 10_000), "production_reference": (8_900, 10_000)},
            "floor",
        ),
        (
            "noninferiority_reference",
            {"candidate_reference": (9_300, 10_000)},
            "worse than production",
        ),
        (
            "noninferiority_traffic",
            {"candidate_traffic": (9_200, 10_000)},
            "worse than production",
        ),
        ("drift", {"candidate_evaluated_on_current": False}, "not evaluated on the current"),
        ("cpqu_ceiling", {"candidate_cpqu": 0.0016}, "ceiling"),
        ("cpqu_ceiling", {"candidate_cpqu": None}, "CpQU unknown for candidate"),
        ("cpqu_ceiling", {"production_cpqu": None}, "CpQU unknown for production"),
        ("slices", {"slices": {}}, "no slice results"),
    ],
)
def test_each_rule_failing_alone_blocks_with_its_reason(rule, change, reason):
    result = gate.decide(replace(GOOD, **change), PARAMS)
    assert result["decision"] == "block"
    verdicts = _verdicts(result)
    assert [name for name, v in verdicts.items() if v == "fail"] == [rule]
    # a production as weak as the candidate is named too, after the candidate's reasons
    candidate_reasons = [r for r in result["reasons"] if not r.startswith("production ")]
    assert len(candidate_reasons) == 1
    assert result["reasons"][0].startswith(f"{rule}: ")
    assert reason in result["reasons"][0]


def test_drift_without_a_retrain_demand_does_not_require_current_evaluation():
    inputs = replace(GOOD, drift_retrain=False, candidate_evaluated_on_current=False)
    assert gate.decide(inputs, PARAMS)["decision"] == "promote"


def test_rule_values_and_thresholds_are_reported_rounded():
    rules = {
        r["name"]: r for r in gate.decide(replace(GOOD, candidate_cpqu=0.0016), PARAMS)["rules"]
    }
    assert rules["quality_floor"]["value"] == 0.95
    assert rules["quality_floor"]["threshold"] == 0.9
    assert rules["cpqu_ceiling"]["value"] == 1.6  # 0.0016 / 0.0010, rounded to 6 decimals
    assert rules["cpqu_ceiling"]["threshold"] == 1.5
    assert rules["noninferiority_reference"]["threshold"] == -0.01
    assert {"name", "value", "threshold", "verdict", "detail"} == set(rules["drift"])


def test_no_candidate_holds_and_still_judges_production_on_its_own_floor():
    for candidate in (None, PRODUCTION):
        result = gate.decide(replace(GOOD, candidate=candidate), PARAMS)
        assert result["decision"] == "hold"
        assert result["candidate"] is None and result["production"] == PRODUCTION
        assert "nothing to compare" in result["reasons"][0]
        assert result["rules"] == [] and result["slices"] == []
        assert [r["name"] for r in result["production_rules"]] == ["quality_floor"]
        assert result["production_rules"][0]["verdict"] == "pass"
    weak = gate.decide(GateInputs(PRODUCTION, (8_000, 10_000), None), PARAMS)
    assert weak["decision"] == "hold"
    assert weak["production_rules"][0]["verdict"] == "fail"
    assert weak["reasons"][-1].startswith("production quality_floor: production reference")


# --------------------------------------------------------------------------- rollbacks

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _move(op: str, new: str, previous: str | None, alias: str = "production") -> dict:
    return {"op": op, "alias": alias, "new": new, "previous": previous, "time": "t", "actor": "x"}


def test_a_rolled_back_candidate_is_blocked_with_the_rollback_named():
    verdict = auditlog.rolled_back(
        [_move("alias", A, None), _move("alias", B, A), _move("rollback", A, B)]
    )
    assert set(verdict) == {B}
    result = gate.decide(replace(GOOD, candidate_rolled_back=verdict[B]), PARAMS)
    assert result["decision"] == "block"
    assert [n for n, v in _verdicts(result).items() if v == "fail"] == ["not_rolled_back"]
    assert "rolled back from production at t by x" in result["reasons"][0]
    assert "gramops promote" in result["reasons"][0]


def test_an_explicit_promotion_lifts_a_rollback_and_other_aliases_do_not_count():
    records = [_move("alias", A, None), _move("alias", B, A), _move("rollback", A, B)]
    assert auditlog.rolled_back([*records, _move("alias", B, A)]) == {}
    assert auditlog.rolled_back([*records, _move("promote", B, A)]) == {}
    assert auditlog.rolled_back([*records, _move("alias", C, A)]) == {
        B: "rolled back from production at t by x"
    }
    assert auditlog.rolled_back(records, alias="challenger") == {}
    assert auditlog.rolled_back([_move("rollback", A, C, alias="canary")], alias="canary") == {
        C: "rolled back from canary at t by x"
    }


def test_a_first_release_is_judged_on_the_rules_that_need_no_production():
    first = replace(GOOD, production=None, production_reference=(0, 0), slices={})
    result = gate.decide(first, PARAMS)
    assert result["decision"] == "promote" and result["production"] is None
    assert list(_verdicts(result)) == ["not_rolled_back", "quality_floor", "drift"]
    assert result["production_rules"] == []
    assert "first release" in result["reasons"][0]
    weak = gate.decide(replace(first, candidate_reference=(8_000, 10_000)), PARAMS)
    assert weak["decision"] == "block"
    assert [n for n, v in _verdicts(weak).items() if v == "fail"] == ["quality_floor"]


# --------------------------------------------------------------------------- the inputs


@pytest.fixture
def judged(tmp_path):
    """A registry with production and a candidate, and the metrics files the gate reads."""
    reg = Registry(tmp_path / "registry", actor="tester")
    production = reg.register(tiny_bundle(tmp_path / "p", "fp32", seed=1), family="fp32").sha
    candidate = reg.register(tiny_bundle(tmp_path / "c", "fp32", seed=2), family="fp32").sha
    reg.set_alias("production", production)
    replay = {
        "production": production,
        "candidate": candidate,
        "replay": {
            "champion": {"passed": 90, "n": 100},
            "challenger": {"passed": 88, "n": 100},
        },
        "slices": SAME_SLICES,
    }
    costs = {
        "entries": {
            short(production): {"sha": production, "cpqu": 0.001},
            # a file written before rows carried the full SHA
            short(candidate): {"sha": short(candidate), "cpqu": 0.002},
        }
    }
    return SimpleNamespace(
        reg=reg,
        production=production,
        candidate=candidate,
        replay=replay,
        drift={"retrain": True},
        costs=costs,
        built={"fp32": candidate},
    )


def _inputs(j, **changes):
    replay = {**j.replay, **changes}
    return gate.gate_inputs(j.reg, replay, j.drift, j.costs, j.built)


def test_inputs_come_from_the_metrics_files_and_the_registry(judged):
    inputs, state = _inputs(judged)
    assert state == judged.reg.state() and state["production"] == judged.production
    assert inputs.production == judged.production and inputs.candidate == judged.candidate
    # tiny bundles' eval report: pass rate 0.9 of 4 records
    assert inputs.production_reference == inputs.candidate_reference == (round(0.9 * 4), 4)
    assert inputs.candidate_traffic == (88, 100) and inputs.production_traffic == (90, 100)
    assert inputs.drift_retrain and inputs.candidate_evaluated_on_current
    assert (inputs.candidate_cpqu, inputs.production_cpqu) == (0.002, 0.001)
    assert inputs.candidate_rolled_back is None
    assert inputs.slices == SAME_SLICES


def test_a_rollback_away_from_the_candidate_is_an_input(judged):
    judged.reg.set_alias("production", judged.candidate)
    judged.reg.rollback("production", reason="slow")
    inputs, _ = _inputs(judged)
    assert "rolled back from production" in inputs.candidate_rolled_back
    assert "(slow)" in inputs.candidate_rolled_back


def test_no_candidate_and_a_first_release_need_fewer_facts(judged, tmp_path):
    inputs, _ = _inputs(judged, candidate=None)
    assert inputs.candidate is None and inputs.candidate_traffic == (0, 0)
    assert gate.decide(inputs, PARAMS)["decision"] == "hold"
    fresh = Registry(tmp_path / "fresh", actor="tester")
    sha = fresh.register(tiny_bundle(tmp_path / "f", "fp32", seed=4), family="fp32").sha
    first, state = gate.gate_inputs(
        fresh, {"production": None, "candidate": sha}, {"retrain": False}, {}, {}
    )
    assert state["production"] is None and first.production_reference == (0, 0)
    assert first.candidate_reference == (round(0.9 * 4), 4) and not first.drift_retrain


def test_unregistered_shas_and_a_stale_comparison_are_refused(judged):
    with pytest.raises(GramopsError, match=r"metrics/traffic.json candidate = e{64}.*dvc repro"):
        _inputs(judged, candidate="e" * 64)
    judged.built["int8"] = "f" * 64
    with pytest.raises(GramopsError, match=r"metrics/registry.json shas.int8 = f{64}"):
        _inputs(judged)
    del judged.built["int8"]
    with pytest.raises(GramopsError, match=r"compared against production a+, but the registry"):
        _inputs(judged, production="a" * 64)


def test_cpqu_rows_are_found_by_full_or_short_sha():
    costs = {"entries": {"x": {"sha": "a" * 64, "cpqu": 1.0}, "y": {"sha": "b" * 12}}}
    assert gate.cpqu_of(costs, "a" * 64) == 1.0
    assert gate.cpqu_of(costs, "b" * 64) is None
    assert gate.cpqu_of(costs, "c" * 64) is None
    assert gate.reference_counts({"metrics": {"verb": {"pass_rate": 0.75, "count": 8}}}) == (6, 8)
