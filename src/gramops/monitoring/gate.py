"""The deploy gate: may the candidate replace production?

The gate decides; it changes nothing. People and CI act on its verdict (``gramops
promote``), so the decision only has to be true of the inputs it names: the candidate and
production SHAs and the registry state it judged.

Every rule is evaluated and reported, even after one has failed, so a blocked pull request
shows all that is wrong at once rather than one problem per CI run. The decision is
``promote`` iff every rule passes, ``block`` otherwise, and ``hold`` when there is no
candidate (``traffic.challenger`` resolves to production itself). Production's own absolute
rule (the quality floor) is evaluated in every case, under ``production_rules``, so a
production model that fails it is visible even when nothing is being promoted.

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

This module is pure (numbers and params in, a JSON-ready dict out); the gate stage reads
the metrics files and the registry and writes the decision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Protocol

from gramops.core.errors import GramopsError
from gramops.core.vocab import short

_ROUND = 6
# The standard normal from the stdlib: scipy.stats costs about a second of import in the
# stage that loads this module, for a quantile and a tail probability.
_NORMAL = NormalDist()


def _tail(x: float) -> float:
    """P(Z > x) for a standard normal, via erfc so small tails keep their precision."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


class GateError(GramopsError, ValueError):
    """Gate inputs that cannot be tested (impossible counts)."""


class GateThresholds(Protocol):
    """What :func:`decide` needs from ``params.yaml:gate`` (the pydantic ``GateParams``)."""

    quality_floor: float
    margin: float
    alpha: float
    cpqu_ceiling: float
    slice_min_n: int
    slice_margin: float


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), _ROUND)


def _check_counts(x: int, n: int, what: str) -> None:
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
    _check_counts(x_c, n_c, "candidate")
    _check_counts(x_p, n_p, "production")
    if not 0 < alpha < 0.5:
        raise GateError(f"alpha must be within (0, 0.5), got {alpha}")
    if margin < 0:
        raise GateError(f"the non-inferiority margin cannot be negative, got {margin}")
    threshold = -margin
    if n_c == 0 or n_p == 0:
        return {
            "value": None,
            "bound": None,
            "threshold": _r(threshold),
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
        bound = diff - _NORMAL.inv_cdf(1 - alpha) * se
        z = (diff + margin) / se
        p_value = _tail(z)
    return {
        "value": _r(diff),
        "bound": _r(bound),
        "threshold": _r(threshold),
        "z": _r(z),
        "p_value": _r(p_value),
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
    _check_counts(x_c, n_c, "candidate")
    _check_counts(x_p, n_p, "production")
    if n_c == 0 or n_p == 0:
        raise GateError(f"a slice bound needs records on both sides (n = {n_c} and {n_p})")
    if not 0 < alpha < 0.5:
        raise GateError(f"alpha must be within (0, 0.5), got {alpha}")
    z = _NORMAL.inv_cdf(1 - alpha)
    p_c, p_p = x_c / n_c, x_p / n_p
    _, u_c = wilson(x_c, n_c, z)
    l_p, _ = wilson(x_p, n_p, z)
    return p_c - p_p + math.hypot(u_c - p_c, p_p - l_p)


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
        value = _r(self.value) if isinstance(self.value, float) else self.value
        threshold = _r(self.threshold) if isinstance(self.threshold, float) else self.threshold
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
            _check_counts(x_c, n_c, f"slice {name} candidate {metric}")
            _check_counts(x_p, n_p, f"slice {name} production {metric}")
            counts.append((x_c, n_c, x_p, n_p))
            rows.append(
                {
                    "slice": name,
                    "metric": SLICE_METRICS[metric],
                    "n_candidate": n_c,
                    "n_production": n_p,
                    "candidate": _r(x_c / n_c) if n_c else None,
                    "production": _r(x_p / n_p) if n_p else None,
                    "diff": _r(x_c / n_c - x_p / n_p) if n_c and n_p else None,
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
                "confidence": _r(1 - level),
                "bound": _r(bound),
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


def _quality_floor(who: str, counts: tuple[int, int], floor: float) -> Rule:
    x, n = counts
    _check_counts(x, n, f"{who} on the reference split")
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


def _drift(inputs: GateInputs) -> Rule:
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


def _not_rolled_back(inputs: GateInputs) -> Rule:
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
        _not_rolled_back(inputs),
        _quality_floor("candidate", inputs.candidate_reference, params.quality_floor),
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
        ),
        slices,
        _drift(inputs),
        _cpqu_ceiling(inputs, params.cpqu_ceiling),
    ]
    return evaluated, table


def decide(inputs: GateInputs, params: GateThresholds) -> dict[str, Any]:
    """The gate's decision as written to ``metrics/gate.json`` (without the registry state,
    which the stage adds).

    ``reasons`` explains the decision: the details of failed rules for ``block``, why there
    is nothing to do for ``hold``, a one-line summary for ``promote``; a production model
    failing its own floor is named in every case.
    """
    production_rules = (
        []
        if inputs.production is None
        else [_quality_floor("production", inputs.production_reference, params.quality_floor)]
    )
    candidate = inputs.candidate if inputs.candidate != inputs.production else None
    evaluated: list[Rule] = []
    table: list[dict[str, Any]] = []
    if inputs.production is None and candidate is not None:
        # a first release: nothing to compare with, so the comparative rules do not apply
        evaluated = [
            _not_rolled_back(inputs),
            _quality_floor("candidate", inputs.candidate_reference, params.quality_floor),
            _drift(inputs),
        ]
        failed = [rule for rule in evaluated if not rule.passed]
        decision = "block" if failed else "promote"
        reasons = [f"{rule.name}: {rule.detail}" for rule in failed] or [
            f"no production yet (a first release): all {len(evaluated)} rules that need no "
            "production passed; non-inferiority, slices and cost have nothing to compare with"
        ]
    elif candidate is None:
        decision = "hold"
        reasons = [
            f"no candidate: traffic.challenger resolves to production {short(inputs.production)}; "
            "nothing to compare or promote"
        ]
    else:
        evaluated, table = rules(inputs, params)
        failed = [rule for rule in evaluated if not rule.passed]
        if failed:
            decision = "block"
            reasons = [f"{rule.name}: {rule.detail}" for rule in failed]
        else:
            decision = "promote"
            reasons = [f"all {len(evaluated)} rules passed"]
    reasons += [
        f"production {rule.name}: {rule.detail}" for rule in production_rules if not rule.passed
    ]
    return {
        "decision": decision,
        "candidate": candidate,
        "production": inputs.production,
        "rules": [rule.to_dict() for rule in evaluated],
        "production_rules": [rule.to_dict() for rule in production_rules],
        "slices": table,
        "reasons": reasons,
    }
