"""Two-proportion statistics of the A/B test and the canary: a z-test and a sample size.

The pooled two-proportion z-test is exact-equivalent to the 2x2 chi-square test without
continuity correction; the confidence interval of the difference comes from the unpooled
standard error (the pooled one is only valid under the null of no difference, which the
interval is not conditioned on).
"""

from __future__ import annotations

import math

from gramops.monitoring.stats import normal_quantile, rounded, upper_tail
from gramops.monitoring.traffic_replay import TrafficError


def two_proportion_ztest(
    x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05
) -> dict[str, float | None]:
    """Pooled z-test of p2 = p1 (arm 2 = challenger, arm 1 = champion).

    Returns ``z``, the two-sided ``p_value``, ``p_worse`` (one-sided: evidence that arm 2 is
    worse, used by the canary's abort rule), ``diff`` = p2 - p1 and its ``1 - alpha``
    confidence interval from the unpooled standard error. When both arms are all-pass or
    all-fail the pooled variance is 0 and there is no evidence of a difference: z = 0, p = 1.
    """
    for name, x, n in (("x1", x1, n1), ("x2", x2, n2)):
        if n <= 0:
            raise TrafficError(f"{name}: its arm has n = {n} requests; each arm needs at least 1")
        if not 0 <= x <= n:
            raise TrafficError(f"{name} = {x} passes out of n = {n}; it must be in [0, n]")
    if not 0.0 < alpha < 1.0:
        raise TrafficError(f"alpha is {alpha}; it must be in (0, 1)")
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = diff / se_pooled if se_pooled > 0 else 0.0
    se = math.sqrt(p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2)
    half = normal_quantile(1.0 - alpha / 2.0) * se
    return {
        "p1": rounded(p1),
        "p2": rounded(p2),
        "n1": n1,
        "n2": n2,
        "diff": rounded(diff),
        "z": rounded(z),
        "p_value": rounded(2.0 * upper_tail(abs(z))),
        "p_worse": rounded(upper_tail(-z)),
        "ci_low": rounded(diff - half),
        "ci_high": rounded(diff + half),
        "alpha": alpha,
    }


def required_sample_size(p: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Requests per arm for the pooled two-sided test to detect ``p`` → ``p + mde``.

    The textbook formula (Fleiss, no continuity correction), which uses the pooled variance
    under the null and the separate variances under the alternative, matching the test:
    n = (z_{1-α/2}·√(2·p̄(1-p̄)) + z_{power}·√(p1(1-p1) + p2(1-p2)))² / mde², p̄ = (p1+p2)/2.
    """
    if not 0.0 <= p <= 1.0:
        raise TrafficError(f"p is {p}; the baseline pass rate must be in [0, 1]")
    if mde == 0 or not 0.0 <= p + mde <= 1.0:
        raise TrafficError(
            f"mde is {mde}; it must be non-zero with p + mde = {p + mde} inside [0, 1]"
        )
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise TrafficError(f"alpha {alpha} and power {power} must both be in (0, 1)")
    p1, p2 = p, p + mde
    mean = (p1 + p2) / 2.0
    z_alpha = normal_quantile(1.0 - alpha / 2.0)
    z_power = normal_quantile(power)
    root = z_alpha * math.sqrt(2.0 * mean * (1.0 - mean)) + z_power * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    # The epsilon keeps float noise (e.g. 387.0000000001) from adding a whole request.
    return math.ceil(root**2 / mde**2 - 1e-9)
