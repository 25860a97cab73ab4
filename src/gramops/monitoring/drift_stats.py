"""Drift statistics between a reference histogram and a current one, with a no-shift baseline.

Empty bins (epsilon): shares are floored at ``epsilon`` and renormalised to sum to one,
on both sides, before any statistic. Without a floor one empty bin makes PSI and KL
infinite; flooring then renormalising keeps both inputs proper distributions, so KL and
JS are exactly ``scipy.stats.entropy`` and ``scipy.spatial.distance.jensenshannon`` of
the adjusted shares, and identical histograms still give exactly 0. A bin empty on both
sides stays 0 (it carries no information, and flooring it would rescale every other
share, e.g. through an always-empty OTHER bin). Shares already above ``epsilon`` are only
rescaled, by a factor within ``bins * epsilon`` of 1. Evidently instead puts ``1e-4`` (or
the smallest share / 1e6) into empty bins without renormalising; on histograms with no
share below ``epsilon`` the two agree exactly.

Statistics (natural log throughout):

- PSI = Σ (c − r) · ln(c / r)
- KL = KL(ref ‖ cur) = Σ r · ln(r / c)
- JS distance = sqrt(½ KL(r ‖ m) + ½ KL(c ‖ m)), m = (r + c) / 2

A fixed threshold ignores sample size: over 10 bins and a few hundred requests, sampling
noise alone reaches PSI 0.1. So each statistic also gets its no-shift distribution at the
observed sizes: ``null_samples`` pairs of multinomial draws from the reference shares, one
of the reference's size and one of the current size (a parametric bootstrap of the binned
reference rows). A feature is *significant* only when its statistic is at or above the
threshold (large enough to matter) AND above the ``null_quantile`` quantile of that
distribution (not noise). The reference side is resampled too because the observed
statistic compares two samples; with a reference much larger than the current sample this
reduces to resampling the current side alone.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

STATISTICS = ("psi", "kl", "js")


def adjusted_proportions(
    reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both histograms as shares floored at ``epsilon`` and renormalised, row-wise.

    Works on ``(bins,)`` or ``(samples, bins)`` counts. A bin empty on BOTH sides stays 0
    on both and is left out of the floor: it carries no information, and flooring it
    would only rescale every other share (an always-present, always-empty OTHER bin would
    shrink KL by a factor ``1 + epsilon``). Such bins contribute 0 to every statistic, as
    ``scipy.special.rel_entr(0, 0)`` does. See the module docstring for the rest.
    """
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    if r.shape[-1] != c.shape[-1]:
        raise ValueError(
            f"reference has {r.shape[-1]} bins and current {c.shape[-1]}: bin them alike"
        )
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    if (r < 0).any() or (c < 0).any():
        raise ValueError("counts must be non-negative")
    both_empty = (r == 0) & (c == 0)
    shares = []
    for counts in (r, c):
        total = counts.sum(axis=-1, keepdims=True)
        if (total <= 0).any():
            raise ValueError("a histogram is empty: there is nothing to compare")
        share = np.where(both_empty, 0.0, np.maximum(counts / total, epsilon))
        shares.append(share / share.sum(axis=-1, keepdims=True))
    return shares[0], shares[1]


def _weighted_log_ratio(
    weight: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Σ weight · ln(a / b) over bins, skipping bins where ``a`` is 0 (empty on both sides)."""
    present = a > 0
    ratio = np.divide(a, b, out=np.ones_like(a), where=present)
    return np.sum(weight * np.log(ratio), axis=-1)


def _psi(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    return _weighted_log_ratio(q - p, q, p)


def _kl(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    return _weighted_log_ratio(p, p, q)


def _js(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    m = (p + q) / 2
    # scipy's summation order; the clip guards a -0.0 from rounding
    divergence = (_weighted_log_ratio(p, p, m) + _weighted_log_ratio(q, q, m)) / 2
    return np.sqrt(np.maximum(divergence, 0.0))


_STAT_FUNCS = {"psi": _psi, "kl": _kl, "js": _js}


def psi(reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float) -> float:
    """Population stability index of two histograms over the same bins (natural log)."""
    return float(_psi(*adjusted_proportions(reference_counts, current_counts, epsilon)))


def kl(reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float) -> float:
    """KL(reference ‖ current), natural log: the information lost describing ref by cur."""
    return float(_kl(*adjusted_proportions(reference_counts, current_counts, epsilon)))


def js_distance(reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float) -> float:
    """Jensen-Shannon distance (natural log): symmetric and bounded by sqrt(ln 2)."""
    return float(_js(*adjusted_proportions(reference_counts, current_counts, epsilon)))


def statistics(
    reference_counts: ArrayLike, current_counts: ArrayLike, epsilon: float
) -> dict[str, float]:
    """PSI, KL and JS of one pair of histograms, sharing the epsilon adjustment."""
    p, q = adjusted_proportions(reference_counts, current_counts, epsilon)
    return {name: float(f(p, q)) for name, f in _STAT_FUNCS.items()}


def null_quantiles(
    reference_counts: ArrayLike,
    n_current: int,
    *,
    epsilon: float,
    quantile: float,
    samples: int,
    rng: np.random.Generator,
    n_reference: int | None = None,
) -> dict[str, float]:
    """Each statistic's ``quantile`` under no shift, at these sample sizes.

    Draws ``samples`` reference-sized (``n_reference``, default the reference's own size)
    and current-sized multinomial samples from the reference proportions (see the module
    docstring) and computes every statistic between each pair in one vectorised pass.
    """
    r = np.asarray(reference_counts, dtype=np.int64)
    n_ref = int(r.sum()) if n_reference is None else n_reference
    if n_current < 1 or n_ref < 1:
        raise ValueError("both samples need at least one row for a no-shift baseline")
    share = r / r.sum()
    ref_draws = rng.multinomial(n_ref, share, size=samples)
    cur_draws = rng.multinomial(n_current, share, size=samples)
    p, q = adjusted_proportions(ref_draws, cur_draws, epsilon)
    return {name: float(np.quantile(f(p, q), quantile)) for name, f in _STAT_FUNCS.items()}
