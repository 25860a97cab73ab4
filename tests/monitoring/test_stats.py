"""The standard normal helpers against scipy, including far tails, and the rounding."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from gramops.monitoring.stats import normal_quantile, rounded, upper_tail


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95, 0.975, 0.9999, 1e-6])
def test_quantile_matches_scipy(p):
    assert normal_quantile(p) == pytest.approx(norm.ppf(p), abs=1e-9)


@pytest.mark.parametrize("x", [-3.0, 0.0, 0.739313, 1.959964, 5.0])
def test_upper_tail_matches_scipy(x):
    assert upper_tail(x) == pytest.approx(norm.sf(x), rel=1e-12)


def test_far_tails_keep_their_precision():
    # 1 - cdf(10) is 0 in floating point; the tail itself is about 7.6e-24
    assert 1.0 - norm.cdf(10.0) == 0.0
    assert upper_tail(10.0) == pytest.approx(norm.sf(10.0), rel=1e-12)
    assert upper_tail(-math.inf) == 1.0 and upper_tail(math.inf) == 0.0


def test_reported_figures_are_plain_floats_at_six_decimals():
    value = rounded(np.float64(2) / 3)
    assert value == 0.666667 and type(value) is float
    assert rounded(None) is None
