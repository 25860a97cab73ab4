"""Drift of each feature and overall: statistics, significance, status and the report.

A feature drifts when its statistic (:mod:`gramops.monitoring.drift_stats`: PSI for
numeric features, KL for categorical ones) is at or above its threshold AND above its
no-shift baseline at the observed sample sizes; bins come from the reference only
(:mod:`gramops.monitoring.drift_binning`). A significant major drift asks for retraining.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gramops.core.params import DriftParams
from gramops.monitoring.drift_binning import Binning, Kind, fit_binning
from gramops.monitoring.drift_stats import null_quantiles, statistics

logger = logging.getLogger(__name__)

Status = Literal["none", "moderate", "major"]
STATUS_ORDER: tuple[Status, ...] = ("none", "moderate", "major")

_ROUND = 6


def _r(value: float) -> float:
    return round(float(value), _ROUND)


# -------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class FeatureDrift:
    """Every statistic of one feature, its no-shift quantiles, status and significance."""

    name: str
    kind: Kind
    n_reference: int
    n_current: int
    psi: float
    kl: float
    js: float
    null: dict[str, float]
    decided_by: Literal["psi", "kl"]
    threshold: float
    status: Status
    significant: bool
    histogram: list[dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the histogram (that goes to plot files)."""
        return {
            "kind": self.kind,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "bins": len(self.histogram),
            "psi": _r(self.psi),
            "kl": _r(self.kl),
            "js": _r(self.js),
            "null": {k: _r(v) for k, v in self.null.items()},
            "decided_by": self.decided_by,
            "threshold": self.threshold,
            "status": self.status,
            "significant": self.significant,
        }


def status_of(kind: Kind, psi_value: float, kl_value: float, params: DriftParams) -> Status:
    """Threshold band of one feature, ignoring sample size.

    Numeric features: PSI < psi_moderate none, < psi_major moderate, else major.
    Categorical features: KL ≥ kl_threshold is major (the one KL line in params), else none.
    """
    if kind == "numeric":
        if psi_value < params.psi_moderate:
            return "none"
        return "moderate" if psi_value < params.psi_major else "major"
    return "major" if kl_value >= params.kl_threshold else "none"


def histogram_rows(
    labels: Sequence[str], reference_counts: ArrayLike, current_counts: ArrayLike
) -> list[dict[str, Any]]:
    """Rows ``{"bin", "reference", "current"}`` of raw shares (no epsilon), for plots/CSV."""
    r = np.asarray(reference_counts, dtype=np.float64)
    c = np.asarray(current_counts, dtype=np.float64)
    r_share, c_share = r / r.sum(), c / c.sum()
    return [
        {"bin": label, "reference": _r(a), "current": _r(b)}
        for label, a, b in zip(labels, r_share, c_share, strict=True)
    ]


def _feature_rng(seed: int, name: str) -> np.random.Generator:
    # one stream per feature (crc32: stable across processes, unlike hash()), so adding a
    # feature does not change the baselines of the others
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def compare(
    name: str,
    binning: Binning,
    reference_counts: ArrayLike,
    current_counts: ArrayLike,
    params: DriftParams,
    seed: int,
) -> FeatureDrift:
    """All statistics, the no-shift baseline and the status of one feature's histograms."""
    r = np.asarray(reference_counts, dtype=np.int64)
    c = np.asarray(current_counts, dtype=np.int64)
    if r.shape != (binning.n_bins,) or c.shape != (binning.n_bins,):
        raise ValueError(
            f"{name}: expected {binning.n_bins} counts per histogram, got {r.shape} and {c.shape}"
        )
    stats = statistics(r, c, params.epsilon)
    null = null_quantiles(
        r,
        int(c.sum()),
        epsilon=params.epsilon,
        quantile=params.null_quantile,
        samples=params.null_samples,
        rng=_feature_rng(seed, name),
    )
    decided_by: Literal["psi", "kl"] = "psi" if binning.kind == "numeric" else "kl"
    threshold = params.psi_moderate if decided_by == "psi" else params.kl_threshold
    value = stats[decided_by]
    status = status_of(binning.kind, stats["psi"], stats["kl"], params)
    significant = value >= threshold and value > null[decided_by]
    logger.debug("%s: %s (null %s), status %s", name, stats, null, status)
    return FeatureDrift(
        name=name,
        kind=binning.kind,
        n_reference=int(r.sum()),
        n_current=int(c.sum()),
        psi=stats["psi"],
        kl=stats["kl"],
        js=stats["js"],
        null=null,
        decided_by=decided_by,
        threshold=threshold,
        status=status,
        significant=significant,
        histogram=histogram_rows(binning.labels, r, c),
    )


def _percentile_name(q: float) -> str:
    pct = q * 100
    return f"{pct:g}th percentile"


def decide(features: Iterable[FeatureDrift], params: DriftParams) -> tuple[Status, bool, list[str]]:
    """Overall status, retrain decision and the reasons a person reads.

    Only significant features count: the overall status is the worst status among them,
    and a significant *major* drift asks for retraining (a moderate one is reported, to
    watch). Features over a threshold but within no-shift noise are named as such, so a
    reader sees why a large-looking value did not trigger anything.
    """
    overall: Status = "none"
    retrain = False
    reasons: list[str] = []
    noise = _percentile_name(params.null_quantile)
    for f in features:
        value = f.psi if f.decided_by == "psi" else f.kl
        what = f"{f.name}: {f.decided_by.upper()} {value:.4f}"
        baseline = f"no-shift {noise} {f.null[f.decided_by]:.4f} at n={f.n_current}"
        if f.significant:
            if STATUS_ORDER.index(f.status) > STATUS_ORDER.index(overall):
                overall = f.status
            if f.status == "major":
                retrain = True
            reasons.append(f"{what} ≥ {f.threshold:g} and above the {baseline}: {f.status} drift")
        elif value >= f.threshold:
            reasons.append(f"{what} ≥ {f.threshold:g} but within the {baseline}: not counted")
    if not reasons:
        reasons.append("no feature moved beyond its threshold")
    elif not retrain:
        reasons.append("no significant major drift: no retraining needed")
    return overall, retrain, reasons


# ------------------------------------------------------------------------------ report


def report_from_counts(
    histograms: Mapping[str, tuple[Binning, ArrayLike, ArrayLike]],
    params: DriftParams,
    seed: int,
) -> dict[str, Any]:
    """The drift report from ready histograms ``{name: (binning, ref counts, cur counts)}``.

    The entry point for streamed traffic: fit binnings on the reference, feed current
    chunks through :class:`HistogramAccumulator`, then call this.
    """
    if not histograms:
        raise ValueError("no features to compare")
    results = [
        compare(name, binning, r, c, params, seed)
        for name, (binning, r, c) in sorted(histograms.items())
    ]
    overall, retrain, reasons = decide(results, params)
    logger.info("drift: %s, retrain=%s", overall, retrain)
    return {
        "features": {f.name: f.to_dict() for f in results},
        "histograms": {f.name: f.histogram for f in results},
        "status": overall,
        "retrain": retrain,
        "reasons": reasons,
        "settings": {
            "epsilon": params.epsilon,
            "bins": params.bins,
            "top_categories": params.top_lemmas,
            "null_quantile": params.null_quantile,
            "null_samples": params.null_samples,
            "seed": seed,
        },
    }


def drift_report(
    reference: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    kinds: Mapping[str, Kind],
    params: DriftParams,
    seed: int,
    *,
    categories: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """Compare every feature in ``kinds`` between in-memory reference and current columns.

    Bins come from the reference only (quantiles, or top-K categories unless a fixed list
    is given in ``categories``, e.g. the Penn tags). Returns JSON-ready plain data:
    ``features`` (statistics, no-shift quantiles, status, significance per feature),
    ``histograms`` (rows for reference-vs-current plots), ``status``, ``retrain``,
    ``reasons`` and the ``settings`` used.
    """
    fixed = categories or {}
    missing = sorted(
        f"{name} ({side})"
        for side, data in (("reference", reference), ("current", current))
        for name in kinds
        if name not in data
    )
    if missing:
        raise ValueError(f"features missing from the data: {', '.join(missing)}")
    histograms: dict[str, tuple[Binning, NDArray[np.int64], NDArray[np.int64]]] = {}
    for name, kind in kinds.items():
        if kind == "categorical" and name in fixed:
            binning = Binning.categorical(fixed[name])
            ref_counts = binning.counts(reference[name])
        else:
            binning, ref_counts = fit_binning(reference[name], kind, params)
        histograms[name] = (binning, ref_counts, binning.counts(current[name]))
    return report_from_counts(histograms, params, seed)
