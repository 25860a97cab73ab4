"""The gate's rules: each compares one fact about the candidate with its threshold.

Every rule is evaluated and reported, even after one has failed, so a blocked pull request
shows all that is wrong at once rather than one problem per CI run. The statistics behind
non-inferiority and the slice rule are :mod:`gramops.monitoring.gate_stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gramops.monitoring.gate_stats import (
    GateError,
    check_counts,
    harm_upper_bound,
    noninferiority,
)
from gramops.monitoring.stats import rounded


class GateThresholds(Protocol):
    """What :func:`decide` needs from ``params.yaml:gate`` (the pydantic ``GateParams``)."""

    quality_floor: float
    margin: float
    alpha: float
    cpqu_ceiling: float
    slice_min_n: int
    slice_margin: float


@dataclass(frozen=True)
class GateInputs:
    """Everything the gate compares, already read from the registry and metrics files.

    Pass counts are ``(passed, n)``. ``candidate`` is None when there is nothing to compare
    (the configured candidate is production); the candidate fields are then not read.
    ``production`` is None before a first release: the candidate is then judged on the
    rules that need no production (a standing rollback, the quality floor, drift). A
    CpQU is None when it is unknown: the model was not measured here, or its pass rate is 0
    (infinite CpQU, written as null in JSON). ``slices`` is ``metrics/traffic.json:slices``.
    """

    production: str | None
    production_reference: tuple[int, int]
    candidate: str | None
    candidate_reference: tuple[int, int] = (0, 0)
    candidate_traffic: tuple[int, int] = (0, 0)
    production_traffic: tuple[int, int] = (0, 0)
    # False when the current traffic is a request log: no gold, so no pass counts on it
    traffic_gold: bool = True
    drift_retrain: bool = False
    candidate_evaluated_on_current: bool = False
    candidate_cpqu: float | None = None
    production_cpqu: float | None = None
    # set when production was rolled back away from the candidate and nobody has moved
    # production back to it since: a description of that rollback (time, actor)
    candidate_rolled_back: str | None = None
    slices: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """One gate rule's outcome, with enough detail to act on it."""

    name: str
    value: float | bool | None
    threshold: float | bool | None
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        value = rounded(self.value) if isinstance(self.value, float) else self.value
        threshold = rounded(self.threshold) if isinstance(self.threshold, float) else self.threshold
        return {
            "name": self.name,
            "value": value,
            "threshold": threshold,
            "verdict": "pass" if self.passed else "fail",
            "detail": self.detail,
        }


# What the slice rule judges in each slice: the counts' key and the name in reports.
SLICE_METRICS = {"passed": "pass rate", "strict": "strict accuracy"}


def slice_table(
    slices: Mapping[str, Mapping[str, Mapping[str, int]]], params: GateThresholds
) -> list[dict[str, Any]]:
    """Every (slice, metric), judged or not, with its rates, difference, bound and verdict.

    ``slices`` is ``metrics/traffic.json:slices``: slice name -> ``{"candidate": {"n",
    "passed", "strict"}, "production": {...}}``. Verdicts: ``pass``, ``fail`` (evidence of
    harm beyond the margin) or ``not judged`` (fewer than ``slice_min_n`` records on a side).
    """
    if not 0 < params.alpha < 0.5:
        raise GateError(f"gate.alpha must be within (0, 0.5), got {params.alpha}")
    rows: list[dict[str, Any]] = []
    counts: list[tuple[int, int, int, int]] = []
    for name in sorted(slices):
        sides = slices[name]
        try:
            cand, prod = sides["candidate"], sides["production"]
            pairs = {m: (cand[m], cand["n"], prod[m], prod["n"]) for m in SLICE_METRICS}
        except (KeyError, TypeError) as exc:
            raise GateError(
                f"slice {name!r}: needs candidate and production counts n, passed, strict "
                f"(missing {exc}); re-run the traffic stage"
            ) from None
        for metric, (x_c, n_c, x_p, n_p) in pairs.items():
            check_counts(x_c, n_c, f"slice {name} candidate {metric}")
            check_counts(x_p, n_p, f"slice {name} production {metric}")
            counts.append((x_c, n_c, x_p, n_p))
            rows.append(
                {
                    "slice": name,
                    "metric": SLICE_METRICS[metric],
                    "n_candidate": n_c,
                    "n_production": n_p,
                    "candidate": rounded(x_c / n_c) if n_c else None,
                    "production": rounded(x_p / n_p) if n_p else None,
                    "diff": rounded(x_c / n_c - x_p / n_p) if n_c and n_p else None,
                    "confidence": None,
                    "bound": None,
                    "verdict": "not judged",
                }
            )
    judged = [i for i, (_, n_c, _, n_p) in enumerate(counts) if min(n_c, n_p) >= params.slice_min_n]
    if judged:
        level = params.alpha / len(judged)
        for i in judged:
            bound = harm_upper_bound(*counts[i], level)
            rows[i] |= {
                "confidence": rounded(1 - level),
                "bound": rounded(bound),
                "verdict": "fail" if bound < -params.slice_margin else "pass",
            }
    return rows


def _slices(inputs: GateInputs, params: GateThresholds) -> tuple[Rule, list[dict[str, Any]]]:
    threshold = -params.slice_margin
    if not inputs.slices:
        return (
            Rule(
                "slices",
                None,
                threshold,
                False,
                "no slice results in metrics/traffic.json: re-run the traffic stage",
            ),
            [],
        )
    table = slice_table(inputs.slices, params)
    judged = [row for row in table if row["verdict"] != "not judged"]
    failed = [row for row in judged if row["verdict"] == "fail"]
    skipped = sorted({row["slice"] for row in table if row["verdict"] == "not judged"})
    worst = min((row["bound"] for row in judged), default=None)
    not_judged = (
        f"; not judged (fewer than {params.slice_min_n} records): {', '.join(skipped)}"
        if skipped
        else ""
    )
    if not judged:
        detail = f"no slice has {params.slice_min_n} records on both sides{not_judged}"
    elif failed:
        detail = "evidence of harm beyond the margin on " + "; ".join(
            f"{row['slice']} {row['metric']} {row['candidate']:.3f} vs {row['production']:.3f} "
            f"(n = {row['n_candidate']}): upper {row['confidence']:.2%} bound "
            f"{row['bound']:+.4f} < -margin {threshold:+.4f}"
            for row in failed
        )
        detail += not_judged
    else:
        detail = (
            f"{len(judged)} slice metrics judged (Bonferroni, upper bounds at "
            f"{judged[0]['confidence']:.2%}); lowest upper bound {worst:+.4f} >= -margin "
            f"{threshold:+.4f}: no evidence of harm on any slice{not_judged}"
        )
    return Rule("slices", worst, threshold, not failed, detail), table


def quality_floor_rule(who: str, counts: tuple[int, int], floor: float) -> Rule:
    """An absolute floor on the reference pass rate: candidate and production alike."""
    x, n = counts
    check_counts(x, n, f"{who} on the reference split")
    if n == 0:
        detail = f"{who} has no reference evaluation (n = 0)"
        return Rule("quality_floor", None, floor, False, detail)
    rate = x / n
    passed = rate >= floor
    return Rule(
        "quality_floor",
        rate,
        floor,
        passed,
        f"{who} reference pass rate {rate:.4f} {'>=' if passed else '<'} floor {floor:.4f}",
    )


def _noninferiority_rule(
    name: str,
    where: str,
    candidate: tuple[int, int],
    production: tuple[int, int],
    params: GateThresholds,
) -> Rule:
    test = noninferiority(*candidate, *production, params.margin, params.alpha)
    passed = test["verdict"] == "pass"
    confidence = 1 - 2 * params.alpha
    if test["bound"] is None:
        detail = (
            f"no {where} results to compare (candidate n = {candidate[1]}, "
            f"production n = {production[1]}): non-inferiority cannot be shown"
        )
    else:
        detail = (
            f"{where}: pass rate difference {test['value']:+.4f} "
            f"({candidate[0]}/{candidate[1]} vs {production[0]}/{production[1]}); "
            f"lower {confidence:.0%} bound {test['bound']:+.4f} "
            f"{'>' if passed else '<='} -margin {-params.margin:+.4f}"
        )
        if not passed:
            detail += ": the candidate may be worse than production by more than the margin"
    return Rule(name, test["value"], test["threshold"], passed, detail)


def _no_gold_traffic_rule() -> Rule:
    """The traffic rule on a request log: not judged (no gold), so it cannot block."""
    return Rule(
        "noninferiority_traffic",
        None,
        None,
        True,
        "not judged: the current traffic is a request log, whose gold answers are unknown; "
        "quality is judged on the labelled reference split (noninferiority_reference, "
        "slices), and metrics/TRAFFIC.md shows where the two models' answers differ",
    )


def drift_rule(inputs: GateInputs) -> Rule:
    """Value: was the candidate evaluated on the current distribution; threshold: is that
    required (drift demands retraining)."""
    evaluated, required = inputs.candidate_evaluated_on_current, inputs.drift_retrain
    if not required:
        detail = "drift does not demand retraining"
    elif evaluated:
        detail = "drift demands retraining; the candidate was evaluated on the current traffic"
    else:
        detail = (
            "drift demands retraining but the candidate was not evaluated on the current "
            "distribution: evaluate it on this week's traffic before promoting"
        )
    return Rule("drift", evaluated, required, evaluated or not required, detail)


def _cpqu_ceiling(inputs: GateInputs, ceiling: float) -> Rule:
    candidate, production = inputs.candidate_cpqu, inputs.production_cpqu
    if (
        candidate is None
        or production is None
        or not (math.isfinite(candidate) and math.isfinite(production))
    ):
        missing = [
            who
            for who, value in (("candidate", candidate), ("production", production))
            if value is None or not math.isfinite(value)
        ]
        return Rule(
            "cpqu_ceiling",
            None,
            ceiling,
            False,
            f"CpQU unknown for {' and '.join(missing)} (not measured in this object store, "
            "or a pass rate of 0): cost cannot be compared; run the cpqu stage where the "
            "model bytes are available",
        )
    if production <= 0:
        return Rule(
            "cpqu_ceiling",
            None,
            ceiling,
            False,
            f"production CpQU is {production}: a ratio against it is undefined",
        )
    ratio = candidate / production
    passed = ratio <= ceiling
    return Rule(
        "cpqu_ceiling",
        ratio,
        ceiling,
        passed,
        f"candidate CpQU is {ratio:.3f}x production's "
        f"({candidate:.3g} vs {production:.3g}); ceiling {ceiling:g}x",
    )


def not_rolled_back_rule(inputs: GateInputs) -> Rule:
    """A standing rollback is a human verdict: the gate never overrules it on its own."""
    verdict = inputs.candidate_rolled_back
    if verdict is None:
        return Rule(
            "not_rolled_back",
            False,
            False,
            True,
            "no rollback from production stands against the candidate",
        )
    return Rule(
        "not_rolled_back",
        True,
        False,
        False,
        f"the candidate was {verdict}; the gate does not clear it on its own: when every "
        "other rule passes, a person promoting it again (`gramops promote REF -m REASON`) "
        "lifts the rollback; or set traffic.challenger to another model",
    )


def rules(inputs: GateInputs, params: GateThresholds) -> tuple[list[Rule], list[dict[str, Any]]]:
    """Every candidate rule, in the order a reviewer reads them (a human verdict, quality,
    safety, freshness, cost), and the slice table the ``slices`` rule judged."""
    slices, table = _slices(inputs, params)
    evaluated = [
        not_rolled_back_rule(inputs),
        quality_floor_rule("candidate", inputs.candidate_reference, params.quality_floor),
        _noninferiority_rule(
            "noninferiority_reference",
            "reference test split",
            inputs.candidate_reference,
            inputs.production_reference,
            params,
        ),
        _noninferiority_rule(
            "noninferiority_traffic",
            "current traffic",
            inputs.candidate_traffic,
            inputs.production_traffic,
            params,
        )
        if inputs.traffic_gold
        else _no_gold_traffic_rule(),
        slices,
        drift_rule(inputs),
        _cpqu_ceiling(inputs, params.cpqu_ceiling),
    ]
    return evaluated, table
