"""The two-proportion statistics of A/B and canary: the z-test against a hand computation
and scipy, and the sample-size formula against its own power."""

import numpy as np
import pytest
from scipy.stats import chi2_contingency, norm

from gramops.monitoring import traffic_stats
from gramops.monitoring.traffic_replay import TrafficError

# --------------------------------------------------------------------------- z-test


def test_ztest_matches_hand_computation():
    # p1 = 45/100, p2 = 60/120, pooled = 105/220; SE = sqrt(.4773 * .5227 * (1/100 + 1/120))
    # = 0.0676303, z = 0.05 / SE = 0.739313; two-sided p = 0.459717. Unpooled SE = 0.0675154.
    result = traffic_stats.two_proportion_ztest(45, 100, 60, 120)
    assert result["diff"] == pytest.approx(0.05)
    assert result["z"] == pytest.approx(0.739313, abs=1e-6)
    assert result["p_value"] == pytest.approx(0.459717, abs=1e-6)
    assert result["ci_low"] == pytest.approx(0.05 - 1.959964 * 0.0675154, abs=1e-6)
    assert result["ci_high"] == pytest.approx(0.05 + 1.959964 * 0.0675154, abs=1e-6)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(45, 100, 60, 120), (900, 1000, 850, 1000), (3, 40, 12, 35), (480, 500, 470, 500)],
)
def test_ztest_agrees_with_scipy(x1, n1, x2, n2):
    result = traffic_stats.two_proportion_ztest(x1, n1, x2, n2)
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    chi2, p_chi2, _, _ = chi2_contingency(table, correction=False)
    assert result["z"] ** 2 == pytest.approx(chi2, rel=1e-5)
    assert result["p_value"] == pytest.approx(p_chi2, abs=2e-6)
    assert result["p_value"] == pytest.approx(2 * norm.sf(abs(result["z"])), abs=2e-6)
    assert result["p_worse"] == pytest.approx(norm.cdf(result["z"]), abs=2e-6)
    assert np.sign(result["z"]) == np.sign(x2 / n2 - x1 / n1)


def test_ztest_identical_all_pass_arms_show_no_difference():
    result = traffic_stats.two_proportion_ztest(50, 50, 80, 80)
    assert result["z"] == 0.0
    assert result["p_value"] == 1.0


@pytest.mark.parametrize(("x1", "n1"), [(0, 0), (5, 4), (-1, 10)])
def test_ztest_rejects_impossible_counts(x1, n1):
    with pytest.raises(TrafficError, match="x1"):
        traffic_stats.two_proportion_ztest(x1, n1, 5, 10)


def test_required_sample_size_hand_case():
    # p1 = .5, p2 = .6, p̄ = .55: (1.959964·√(2·.55·.45) + 0.841621·√(.25 + .24))² / .1²
    # = (1.378956 + 0.589135)² / .01 = 387.34 → 388 per arm.
    assert traffic_stats.required_sample_size(0.5, 0.1, alpha=0.05, power=0.8) == 388
    assert traffic_stats.required_sample_size(0.5, 0.05) > 4 * 388 - 50  # ~1/mde² scaling
    assert traffic_stats.required_sample_size(0.5, 0.1, power=0.9) > 388


def test_required_sample_size_delivers_the_power():
    """At the computed n, the pooled test rejects about `power` of the time."""
    n = traffic_stats.required_sample_size(0.5, 0.1)
    rng = np.random.default_rng(1)
    trials = 2000
    x1 = rng.binomial(n, 0.5, trials)
    x2 = rng.binomial(n, 0.6, trials)
    rejected = [
        traffic_stats.two_proportion_ztest(a, n, b, n)["p_value"] < 0.05
        for a, b in zip(x1, x2, strict=True)
    ]
    assert np.mean(rejected) == pytest.approx(0.8, abs=0.03)


def test_required_sample_size_rejects_effect_outside_unit_interval():
    with pytest.raises(TrafficError, match="mde"):
        traffic_stats.required_sample_size(0.98, 0.05)
