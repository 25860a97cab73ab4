"""The rows of the drift files `dvc plots show` draws, shaped so each chart reads on its own.

A chart is read by a person who has not opened params.yaml or metrics/drift.json: every
row carries what its chart has to say beside the bars and lines. Histogram rows carry a
caption (the deciding statistic, its thresholds and the verdict); weekly trend rows carry
the thresholds their statistic is judged against, read from params.yaml ``drift:``, so the
templates in .dvc/plots/ draw threshold rules without knowing a number.

The ``OTHER`` bin of a categorical feature (every lemma outside the top K) holds most of
the traffic; drawn, it flattens every other bar to nothing. The charts leave it out and
the caption states its shares; the CSV keeps every bin, ``OTHER`` included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gramops.core.params import DriftParams

OTHER = "OTHER"
HISTOGRAM_FIELDS = ("bin", "series", "share", "caption")
TREND_FIELDS = ("week", "feature", "statistic", "value", "moderate", "major", "intensity")
# The panel each deciding statistic is drawn in (metrics/drift.json: decided_by).
PANELS = {
    "psi": "PSI: numeric features",
    "kl": "KL divergence: categorical features",
}
# What each drift feature measures, for the titles of the static drift.png panels (the
# `dvc plots show` titles say the same in dvc.yaml).
FEATURE_TITLES = {
    "tag": "Verb tag (Penn)",
    "lemma": "Verb lemma (the most frequent in training)",
    "length": "Sentence length (tokens)",
    "verb_position": "Verb position (index / length)",
    "lemma_rank": "Lemma frequency rank in training (1 = most frequent)",
    "confidence": "Model confidence (probability of its tag)",
}
# ' | ' splits a caption into the lines a chart header shows.
LINE_BREAK = " | "


def _verdict(feature: Mapping[str, Any]) -> str:
    if feature["status"] == "none":
        return "no drift"
    if feature["significant"]:
        return f"{feature['status']} drift"
    return f"{feature['status']} band, within no-shift noise: not counted"


def _bands(feature: Mapping[str, Any], params: DriftParams) -> str:
    if feature["decided_by"] == "psi":
        return f"moderate ≥ {params.psi_moderate:g}, major ≥ {params.psi_major:g}"
    return f"drift ≥ {params.kl_threshold:g}"


def histogram_caption(
    feature: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], params: DriftParams
) -> str:
    """``KL 0.017 (drift ≥ 0.1): no drift | OTHER, not drawn: 88.8% reference, 87.1% current``:
    the statistic that decides the feature, its thresholds, the verdict, and the shares of
    the undrawn ``OTHER`` bin when it holds any traffic."""
    stat = feature["decided_by"]
    lines = [f"{stat.upper()} {feature[stat]:.3f} ({_bands(feature, params)}): {_verdict(feature)}"]
    other = next((row for row in rows if row["bin"] == OTHER), None)
    if other is not None and (other["reference"] or other["current"]):
        lines.append(
            f"{OTHER}, not drawn: {other['reference']:.1%} reference, "
            f"{other['current']:.1%} current"
        )
    return LINE_BREAK.join(lines)


def histogram_rows(
    report: Mapping[str, Any], params: DriftParams
) -> dict[str, list[dict[str, Any]]]:
    """Feature -> the rows of its ``plots/drift/<feature>.csv``: each bin's share in the
    reference and in the current week, with the feature's caption (:data:`HISTOGRAM_FIELDS`)."""
    files = {}
    for name, rows in report["histograms"].items():
        caption = histogram_caption(report["features"][name], rows, params)
        files[name] = [
            {"bin": row["bin"], "series": series, "share": row[series], "caption": caption}
            for row in rows
            for series in ("reference", "current")
        ]
    return files


def trend_rows(weeks: Mapping[str, Mapping[str, Any]], params: DriftParams) -> list[dict[str, Any]]:
    """Rows of ``plots/drift_trend.csv``: one per week and feature, from ``metrics/drift.json``
    ``weeks`` (columns ``<feature>_<psi|kl>``), with the thresholds of its statistic (KL has
    one, left in ``major``: at or above it a categorical feature drifts)."""
    thresholds = {
        "psi": (params.psi_moderate, params.psi_major),
        "kl": (None, params.kl_threshold),
    }
    rows = []
    for key, week in weeks.items():
        for column, value in week.items():
            feature, _, stat = column.rpartition("_")
            if stat not in PANELS or not feature:
                continue
            moderate, major = thresholds[stat]
            rows.append(
                {
                    "week": int(key.rpartition("_")[2]),
                    "feature": feature,
                    "statistic": PANELS[stat],
                    "value": value,
                    "moderate": moderate,
                    "major": major,
                    "intensity": week.get("intensity"),
                }
            )
    return sorted(rows, key=lambda r: (r["statistic"], r["feature"], r["week"]))


def weekly_table(weeks: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Field names and rows of ``plots/drift_weekly.csv``, the weekly trend as a table: each
    week's intensity and deciding statistics from ``metrics/drift.json`` ``weeks``."""
    rows = [
        {
            "week": int(key.rpartition("_")[2]),
            **{k: v for k, v in week.items() if k not in ("status", "retrain")},
        }
        for key, week in weeks.items()
    ]
    return list(rows[0]), rows


def drift_plot_files(
    report: Mapping[str, Any], weeks: Mapping[str, Mapping[str, Any]], params: DriftParams
) -> dict[str, tuple[Sequence[str], list[dict[str, Any]]]]:
    """Path under plots/ -> (fields, rows) of every drift file: the current week's
    histograms (``drift/<feature>.csv``) and the weekly trend, as a chart's rows
    (``drift_trend.csv``) and as a table (``drift_weekly.csv``)."""
    files: dict[str, tuple[Sequence[str], list[dict[str, Any]]]] = {
        f"drift/{name}.csv": (HISTOGRAM_FIELDS, rows)
        for name, rows in histogram_rows(report, params).items()
    }
    files["drift_trend.csv"] = (TREND_FIELDS, trend_rows(weeks, params))
    files["drift_weekly.csv"] = weekly_table(weeks)
    return files
