"""The gate's statistics: a non-inferiority test and a bound on harm, for pass counts.

Non-inferiority (overall). The standard one-sided test for "not worse by more than a
margin": with d = p_c - p_p and the unpooled standard error
``se = sqrt(p_c(1-p_c)/n_c + p_p(1-p_p)/n_p)``, H0: d <= -margin is rejected at level
alpha iff ``(d + margin) / se > z_{1-alpha}``, i.e. iff the lower bound
``d - z_{1-alpha} * se`` of the two-sided (1 - 2 alpha) confidence interval of d lies above
``-margin``. The candidate passes only when that holds. This is deliberately stricter than
"not significantly worse": a small sample that cannot show anything then blocks, because
absence of evidence of harm is not evidence of no harm. The unpooled SE is used because
the null is not "equal rates", so pooling the two samples has no justification.

Slices (rule ``slices``). The overall rate hides a collapse on a small group of sentences
(a tag, irregular verbs, a domain): the overall pass rate can stay within a point while
strict accuracy on 60 records of one tag falls from 1.00 to 0.39. Each slice is judged on
pass rate and on strict accuracy. Slices are small, so the overall rule's burden of proof
(show you are not worse) would block every same-quality model on noise; here the burden is
reversed: a slice fails only on *evidence of harm*, when the one-sided upper confidence
bound of d = candidate - production lies below ``-slice_margin``.

- Minimum size: a slice is judged only when both models have at least ``slice_min_n``
  records in it; smaller slices are listed as not judged (their rates are noise).
- Interval: Newcombe's hybrid score interval for a difference of proportions (Newcombe
  1998, method 10): with Wilson score limits ``(l, u)`` of each rate at z,
  ``upper = d + sqrt((u_c - p_c)^2 + (p_p - l_p)^2)``. Unlike the Wald interval it keeps a
  sensible width at rates of 0 or 1 (a slice at 100% for both models does not get a zero
  width bound) and holds its coverage at the sizes slices have.
- Multiplicity: with k judged (slice, metric) pairs, each bound uses z = z_{1 - alpha/k}
  (Bonferroni), so the k bounds hold simultaneously with probability >= 1 - alpha and the
  chance that a same-quality candidate is blocked on some slice by noise stays <= alpha.
  Holm's step-down would be slightly more powerful, but its decisions do not correspond to
  confidence bounds a reviewer can read off the report; Bonferroni's do.
- The two models answer the same records, but the interval treats them as independent
  samples. Two models' errors on the same records are positively correlated, which makes
  the unpaired interval wider than a paired one: conservative in the direction this rule
  wants (it errs toward not blocking on noise).
"""

from __future__ import annotations

import math
from typing import Any

from gramops.core.errors import GramopsError
from gramops.monitoring.stats import normal_quantile, rounded, upper_tail


class GateError(GramopsError, ValueError):
    """Gate inputs that cannot be tested (impossible counts)."""


def check_counts(x: int, n: int, what: str) -> None:
    """Refuse ``x`` passes out of ``n`` unless 0 <= x <= n, naming ``what`` was counted."""
    if not 0 <= x <= n:
        raise GateError(f"{what}: {x} passed out of {n} is impossible (need 0 <= passed <= n)")


def noninferiority(
    x_c: int, n_c: int, x_p: int, n_p: int, margin: float, alpha: float
) -> dict[str, Any]:
    """Is the candidate (``x_c`` of ``n_c`` passed) not worse than production (``x_p`` of
    ``n_p``) by more than ``margin``? See the module docstring for the exact rule.

    Returns ``value`` (the observed difference p_c - p_p), ``bound`` (lower (1 - 2 alpha)
    confidence bound of the difference), ``threshold`` (-margin), ``z`` and ``p_value`` of the
    one-sided test, and ``verdict`` ("pass" iff bound > threshold). With no samples on
    either side nothing can be shown, so the verdict is "fail" with None statistics. When
    both rates are 0 or 1 the SE is 0: the bound is the difference itself and ``z`` and
    ``p_value`` are None.
    """
    check_counts(x_c, n_c, "candidate")
    check_counts(x_p, n_p, "production")
    if not 0 < alpha < 0.5:
        raise GateError(f"alpha must be within (0, 0.5), got {alpha}")
    if margin < 0:
        raise GateError(f"the non-inferiority margin cannot be negative, got {margin}")
    threshold = -margin
    if n_c == 0 or n_p == 0:
        return {
            "value": None,
            "bound": None,
            "threshold": rounded(threshold),
            "z": None,
            "p_value": None,
            "verdict": "fail",
        }
    p_c, p_p = x_c / n_c, x_p / n_p
    diff = p_c - p_p
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_p * (1 - p_p) / n_p)
    if se == 0:
        # all-pass or all-fail on both sides: no sampling spread to test against
        bound, z, p_value = diff, None, None
    else:
        bound = diff - normal_quantile(1 - alpha) * se
        z = (diff + margin) / se
        p_value = upper_tail(z)
    return {
        "value": rounded(diff),
        "bound": rounded(bound),
        "threshold": rounded(threshold),
        "z": rounded(z),
        "p_value": rounded(p_value),
        "verdict": "pass" if bound > threshold else "fail",
    }


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score limits of a proportion ``x / n`` at normal quantile ``z`` (n > 0)."""
    p = x / n
    centre = (x + z * z / 2) / (n + z * z)
    half = z * math.sqrt(p * (1 - p) * n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def harm_upper_bound(x_c: int, n_c: int, x_p: int, n_p: int, alpha: float) -> float:
    """One-sided upper (1 - alpha) bound of p_c - p_p, Newcombe's hybrid score method.

    The rule built on it fails a slice when this bound is below -margin: even the most
    favourable difference the data allow is a loss larger than the margin.
    """
    check_counts(x_c, n_c, "candidate")
    check_counts(x_p, n_p, "production")
    if n_c == 0 or n_p == 0:
        raise GateError(f"a slice bound needs records on both sides (n = {n_c} and {n_p})")
    if not 0 < alpha < 0.5:
        raise GateError(f"alpha must be within (0, 0.5), got {alpha}")
    z = normal_quantile(1 - alpha)
    p_c, p_p = x_c / n_c, x_p / n_p
    _, u_c = wilson(x_c, n_c, z)
    l_p, _ = wilson(x_p, n_p, z)
    return p_c - p_p + math.hypot(u_c - p_c, p_p - l_p)
