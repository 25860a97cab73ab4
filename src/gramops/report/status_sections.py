"""Sections of the status page that read a metrics file into rows a person reads.

The weekly drift trend (``metrics/drift.json:weeks``, with a small inline chart per
feature), the traffic replay's summary (``metrics/traffic.json``: shadow, A/B, canary, or
the agreement on a request log), the gate's rules in words, and the page's links into
MLflow. Everything here is plain data; the template lays it out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gramops.core.vocab import short

# The tags the mirror puts on its MLflow runs (gramops.tracking.runs and .models; the
# tracking room is not below this one, and tests/report checks the names agree).
TAG_SHA = "gramops.canonical_sha"
TAG_KIND = "gramops.kind"
TAG_STAGE = "gramops.stage"


@dataclass(frozen=True)
class MlflowLinks:
    """Addresses in an MLflow UI (``status.*`` params) for runs and model versions.

    Runs are found by the tags the mirror gives them, never by run id: ids are drawn at
    random by each MLflow store, and the page must be the same on every clone.
    """

    url: str
    experiment_id: str
    model: str

    @classmethod
    def of(cls, params: Any) -> MlflowLinks | None:
        """From ``params.yaml:status`` (``StatusParams``); None when no URL is set."""
        if not params.mlflow_url:
            return None
        return cls(params.mlflow_url, params.mlflow_experiment_id, params.mlflow_model)

    def _search(self, condition: str) -> str:
        return (
            f"{self.url}/#/experiments/{quote(self.experiment_id)}"
            f"?searchFilter={quote(condition, safe='')}"
        )

    def model_versions(self) -> str:
        """The registered model: every version, its tags (canonical SHA, semver), aliases."""
        return f"{self.url}/#/models/{quote(self.model, safe='')}"

    def entry_run(self, sha: str) -> str:
        """The run holding an entry as an MLflow Model, the source of its model version."""
        return self._search(f"tags.`{TAG_SHA}` = '{sha}'")

    def pipeline_runs(self) -> str:
        """Every pipeline run (a parent per execution, its stage results as children)."""
        return self._search(f"tags.`{TAG_KIND}` = 'pipeline'")

    def stage_runs(self, stage: str) -> str:
        return self._search(f"tags.`{TAG_STAGE}` = '{stage}'")


# -- the weekly drift trend ------------------------------------------------------------------

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 132, 30, 4
WEEK_KEY = re.compile(r"^week_(\d+)$")


@dataclass(frozen=True)
class Sparkline:
    """An inline SVG line: the values week by week and the feature's threshold."""

    points: str
    threshold_y: float
    dots: tuple[tuple[float, float, bool], ...]


@dataclass(frozen=True)
class TrendRow:
    feature: str
    statistic: str
    threshold: float
    values: tuple[float | None, ...]
    over: tuple[bool, ...]
    spark: Sparkline | None


@dataclass(frozen=True)
class WeeklyTrend:
    weeks: tuple[int, ...]
    rows: tuple[TrendRow, ...]


def sparkline(values: Sequence[float | None], threshold: float) -> Sparkline | None:
    """Coordinates for ``values`` (None: a week without data, skipped) with the threshold
    drawn across; the y scale always shows the threshold, so a flat line reads as calm."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return None
    top = max(threshold * 1.25, *(v for _i, v in known)) or 1.0
    span_x = SPARK_WIDTH - 2 * SPARK_PAD
    span_y = SPARK_HEIGHT - 2 * SPARK_PAD

    def x(i: int) -> float:
        return SPARK_PAD + (span_x * i / (len(values) - 1) if len(values) > 1 else span_x / 2)

    def y(v: float) -> float:
        return SPARK_PAD + span_y * (1 - v / top)

    dots = tuple((round(x(i), 1), round(y(v), 1), v >= threshold) for i, v in known)
    return Sparkline(
        points=" ".join(f"{px:.1f},{py:.1f}" for px, py, _over in dots),
        threshold_y=round(y(threshold), 1),
        dots=dots,
    )


def weekly_trend(drift: Mapping[str, Any]) -> WeeklyTrend:
    """Each feature's deciding statistic week by week against its threshold (rows in the
    order of the features table: furthest beyond its threshold this week first)."""
    weeks = {
        int(m.group(1)): values
        for key, values in drift.get("weeks", {}).items()
        if (m := WEEK_KEY.match(key))
    }
    order = sorted(weeks)
    rows = []
    for name in drift_order(drift.get("features", {})):
        feature = drift["features"][name]
        stat, threshold = feature["decided_by"], float(feature["threshold"])
        values = tuple(weeks[w].get(f"{name}_{stat}") for w in order)
        rows.append(
            TrendRow(
                feature=name,
                statistic=stat.upper(),
                threshold=threshold,
                values=values,
                over=tuple(v is not None and v >= threshold for v in values),
                spark=sparkline(values, threshold),
            )
        )
    return WeeklyTrend(weeks=tuple(order), rows=tuple(rows))


def drift_order(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Feature names, the one furthest beyond its threshold first (ties by name)."""

    def ratio(name: str) -> float:
        f = features[name]
        return f[f["decided_by"]] / f["threshold"] if f.get("threshold") else 0.0

    return sorted(features, key=lambda n: (-ratio(n), n))


# -- the traffic replay ----------------------------------------------------------------------


def pct(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


def _model(summary: Mapping[str, Any] | None) -> str:
    if not summary:
        return "none"
    semvers = ", ".join(summary.get("semvers") or []) or "untagged"
    return f"{summary.get('family', '?')} {semvers} ({short(str(summary.get('sha', '')))})"


@dataclass(frozen=True)
class TrafficSummary:
    """``metrics/traffic.json`` in sentences and two small tables.

    ``strategies`` rows: (strategy, production, candidate, result). ``canary`` rows: (share
    of traffic, requests to the candidate, candidate pass, production pass, p (worse)).
    """

    note: str | None
    headline: str | None = None
    strategies: tuple[tuple[str, str | None, str | None, str], ...] = ()
    canary: tuple[tuple[str, int, str | None, str | None, str], ...] = ()
    verdict: str | None = None


def traffic_summary(traffic: Mapping[str, Any]) -> TrafficSummary:
    if "note" in traffic:
        return TrafficSummary(note=str(traffic["note"]))
    production, candidate = _model(traffic.get("champion")), _model(traffic.get("challenger"))
    headline = (
        f"Candidate {candidate} against production {production} on week "
        f"{traffic.get('week', '?')} of traffic ({traffic.get('requests', '?')} requests)."
    )
    if "agreement" in traffic:
        a = traffic["agreement"]
        return TrafficSummary(
            note=None,
            headline=headline + " A request log has no gold forms: the models' agreement.",
            strategies=(
                (
                    "agreement",
                    None,
                    None,
                    f"the answers differ on {a['disagreements']} of {a['n_requests']} "
                    f"requests (agreement {pct(a['agreement_rate'])})",
                ),
            ),
        )
    replay, shadow, ab, canary = (traffic[k] for k in ("replay", "shadow", "ab", "canary"))
    test = ab["test"]
    p = "n/a" if test["p_value"] is None else f"{test['p_value']:.3f}"
    ab_result = (
        f"difference {test['diff']:+.4f}, {100 * (1 - test['alpha']):.0f}% CI "
        f"[{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], p = {p}: "
        + ("significant" if ab["significant"] else "not significant")
        + ("" if ab["adequately_powered"] else f" (needs {ab['required_per_arm']} per arm)")
    )
    if canary["completed"]:
        ramp = "reached 100% without a significant regression"
    else:
        ramp = f"aborted at {pct(canary['stopped_at'])}: the candidate was significantly worse"
    strategies = (
        (
            f"replay: every request ({replay['champion']['n']})",
            pct(replay["champion"]["pass_rate"]),
            pct(replay["challenger"]["pass_rate"]),
            "pass rate when both models answer every request",
        ),
        (
            f"shadow: {shadow['n_shadowed']} mirrored ({pct(shadow['fraction'])})",
            pct(shadow["champion_pass_rate"]),
            pct(shadow["challenger_pass_rate"]),
            f"the answers differ on {shadow['disagreements']} ({pct(shadow['disagreement_rate'])})",
        ),
        (
            f"A/B: {ab['champion']['n']} vs {ab['challenger']['n']} requests",
            pct(ab["champion"]["pass_rate"]),
            pct(ab["challenger"]["pass_rate"]),
            ab_result,
        ),
        ("canary ramp", None, None, ramp),
    )
    steps = tuple(
        (
            pct(s["fraction"]) or "",
            int(s["n_challenger"]),
            pct(s["challenger_pass_rate"]),
            pct(s["champion_pass_rate"]),
            "–" if s["p_worse"] is None else f"{s['p_worse']:.3f}",
        )
        for s in canary["steps"]
    )
    return TrafficSummary(
        note=None,
        headline=headline,
        strategies=strategies,
        canary=steps,
        verdict="pass" if canary["completed"] else "fail",
    )


# -- the gate's rules ------------------------------------------------------------------------

# How a rule whose value and threshold are yes/no facts reads: (value if true, if false),
# (threshold if true, if false). A bare "yes"/"no" in those cells says nothing.
BOOLEAN_RULES = {
    "drift": (
        ("evaluated on this week's traffic", "not evaluated on this week's traffic"),
        ("required: drift demands retraining", "not required: no retraining demanded"),
    ),
    "not_rolled_back": (
        ("a rollback stands against it", "no standing rollback"),
        ("none may stand", "none may stand"),
    ),
}


@dataclass(frozen=True)
class RuleRow:
    rule: str
    verdict: str
    value: str | None
    threshold: str | None
    detail: str


def _cell(rule: str, value: Any, which: int) -> str | None:
    if isinstance(value, bool):
        words = BOOLEAN_RULES.get(rule)
        if words:
            return words[which][0 if value else 1]
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return None if value is None else str(value)


def gate_rule_rows(gate: Mapping[str, Any]) -> tuple[RuleRow, ...]:
    """The candidate's rules, then those production itself is held to (``production: ``)."""
    return tuple(
        RuleRow(
            rule=f"{who}{r['name']}",
            verdict=str(r["verdict"]),
            value=_cell(r["name"], r.get("value"), 0),
            threshold=_cell(r["name"], r.get("threshold"), 1),
            detail=str(r["detail"]),
        )
        for who, key in (("", "rules"), ("production: ", "production_rules"))
        for r in gate.get(key, [])
    )
