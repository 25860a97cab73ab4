"""The deploy gate: should the challenger replace production?

Every rule is evaluated and reported, even after one has failed, so a blocked pull request
shows all that is wrong at once rather than one problem per CI run. The decision is
``promote`` iff every rule passes, ``block`` otherwise, and ``hold`` when the challenger
already is production (there is nothing to promote; the rules are still listed so the
report always has the same shape).

Non-inferiority is the standard one-sided test for "not worse by more than a margin":
with d = p_c - p_p and the unpooled standard error
``se = sqrt(p_c(1-p_c)/n_c + p_p(1-p_p)/n_p)``, H0: d <= -margin is rejected at level
alpha iff ``(d + margin) / se > z_{1-alpha}``, i.e. iff the lower bound
``d - z_{1-alpha} * se`` of the two-sided (1 - 2 alpha) confidence interval of d lies above
``-margin``. The challenger passes only when that holds. This is deliberately stricter than
"not significantly worse": a small sample that cannot show anything then blocks, because
absence of evidence of harm is not evidence of no harm. The unpooled SE is used because
the null is not "equal rates", so pooling the two samples has no justification.

This module is pure (numbers and params in, a JSON-ready dict out); the gate stage reads
the metrics files and moves the alias.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

from gramops.errors import GramopsError

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


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), _ROUND)


def _check_counts(x: int, n: int, what: str) -> None:
    if not 0 <= x <= n:
        raise GateError(f"{what}: {x} passed out of {n} is impossible (need 0 <= passed <= n)")


def noninferiority(
    x_c: int, n_c: int, x_p: int, n_p: int, margin: float, alpha: float
) -> dict[str, Any]:
    """Is the challenger (``x_c`` of ``n_c`` passed) not worse than production (``x_p`` of
    ``n_p``) by more than ``margin``? See the module docstring for the exact rule.

    Returns ``value`` (the observed difference p_c - p_p), ``bound`` (lower (1 - 2 alpha)
    confidence bound of the difference), ``threshold`` (-margin), ``z`` and ``p_value`` of the
    one-sided test, and ``verdict`` ("pass" iff bound > threshold). With no samples on
    either side nothing can be shown, so the verdict is "fail" with None statistics. When
    both rates are 0 or 1 the SE is 0: the bound is the difference itself and ``z`` and
    ``p_value`` are None.
    """
    _check_counts(x_c, n_c, "challenger")
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


@dataclass(frozen=True)
class GateInputs:
    """Everything the gate compares, already read from the registry and metrics files.

    Pass counts are ``(passed, n)``. A CpQU is None when it is unknown: the model was not
    measured here, or its pass rate is 0 (infinite CpQU, written as null in JSON).
    """

    champion: str
    challenger: str
    challenger_reference: tuple[int, int]
    champion_reference: tuple[int, int]
    challenger_traffic: tuple[int, int]
    champion_traffic: tuple[int, int]
    drift_retrain: bool
    challenger_evaluated_on_current: bool
    challenger_cpqu: float | None
    champion_cpqu: float | None
    # set when production was rolled back away from the challenger and nobody has moved
    # production back to it since: a description of that rollback (time, actor)
    challenger_rolled_back: str | None = None


def rolled_back(records: Iterable[dict[str, Any]], alias: str = "production") -> dict[str, str]:
    """SHA -> description of the rollback that took ``alias`` away from it, still in force.

    A rollback is a human verdict on a model: the gate must not promote it again on its own
    at the next ``dvc repro``. Any later explicit move of the alias to that SHA (``gramops
    promote``) lifts the verdict.
    """
    verdicts: dict[str, str] = {}
    for record in records:
        if record.get("alias") != alias:
            continue
        if record.get("op") == "rollback" and record.get("previous"):
            verdicts[record["previous"]] = (
                f"rolled back from {alias} at {record.get('time')} by {record.get('actor')}"
            )
        elif record.get("op") == "alias" and record.get("new"):
            verdicts.pop(record["new"], None)
    return verdicts


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


def _quality_floor(inputs: GateInputs, floor: float) -> Rule:
    x, n = inputs.challenger_reference
    _check_counts(x, n, "challenger on the reference split")
    if n == 0:
        return Rule(
            "quality_floor", None, floor, False, "challenger has no reference evaluation (n = 0)"
        )
    rate = x / n
    passed = rate >= floor
    return Rule(
        "quality_floor",
        rate,
        floor,
        passed,
        f"challenger reference pass rate {rate:.4f} {'>=' if passed else '<'} floor {floor:.4f}",
    )


def _noninferiority_rule(
    name: str,
    where: str,
    challenger: tuple[int, int],
    champion: tuple[int, int],
    params: GateThresholds,
) -> Rule:
    test = noninferiority(*challenger, *champion, params.margin, params.alpha)
    passed = test["verdict"] == "pass"
    confidence = 1 - 2 * params.alpha
    if test["bound"] is None:
        detail = (
            f"no {where} results to compare (challenger n = {challenger[1]}, "
            f"production n = {champion[1]}): non-inferiority cannot be shown"
        )
    else:
        detail = (
            f"{where}: pass rate difference {test['value']:+.4f} "
            f"({challenger[0]}/{challenger[1]} vs {champion[0]}/{champion[1]}); "
            f"lower {confidence:.0%} bound {test['bound']:+.4f} "
            f"{'>' if passed else '<='} -margin {-params.margin:+.4f}"
        )
        if not passed:
            detail += ": the challenger may be worse than production by more than the margin"
    return Rule(name, test["value"], test["threshold"], passed, detail)


def _drift(inputs: GateInputs) -> Rule:
    """Value: was the challenger evaluated on the current distribution; threshold: is that
    required (drift demands retraining)."""
    evaluated, required = inputs.challenger_evaluated_on_current, inputs.drift_retrain
    if not required:
        detail = "drift does not demand retraining"
    elif evaluated:
        detail = "drift demands retraining; the challenger was evaluated on the current traffic"
    else:
        detail = (
            "drift demands retraining but the challenger was not evaluated on the current "
            "distribution: evaluate it on this week's traffic before promoting"
        )
    return Rule("drift", evaluated, required, evaluated or not required, detail)


def _cpqu_ceiling(inputs: GateInputs, ceiling: float) -> Rule:
    challenger, champion = inputs.challenger_cpqu, inputs.champion_cpqu
    if (
        challenger is None
        or champion is None
        or not (math.isfinite(challenger) and math.isfinite(champion))
    ):
        missing = [
            who
            for who, value in (("challenger", challenger), ("production", champion))
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
    if champion <= 0:
        return Rule(
            "cpqu_ceiling",
            None,
            ceiling,
            False,
            f"production CpQU is {champion}: a ratio against it is undefined",
        )
    ratio = challenger / champion
    passed = ratio <= ceiling
    return Rule(
        "cpqu_ceiling",
        ratio,
        ceiling,
        passed,
        f"challenger CpQU is {ratio:.3f}x production's "
        f"({challenger:.3g} vs {champion:.3g}); ceiling {ceiling:g}x",
    )


def _not_rolled_back(inputs: GateInputs) -> Rule:
    verdict = inputs.challenger_rolled_back
    if verdict is None:
        return Rule(
            "not_rolled_back",
            False,
            False,
            True,
            "no rollback from production stands against the challenger",
        )
    return Rule(
        "not_rolled_back",
        True,
        False,
        False,
        f"the challenger was {verdict}; the gate does not re-promote it on its own: promote "
        "it explicitly (`gramops promote REF`) or set traffic.challenger to another model",
    )


def rules(inputs: GateInputs, params: GateThresholds) -> list[Rule]:
    """Every rule, in the order a reviewer reads them: a human verdict, quality, safety,
    freshness, cost."""
    return [
        _not_rolled_back(inputs),
        _quality_floor(inputs, params.quality_floor),
        _noninferiority_rule(
            "noninferiority_reference",
            "reference test split",
            inputs.challenger_reference,
            inputs.champion_reference,
            params,
        ),
        _noninferiority_rule(
            "noninferiority_traffic",
            "current traffic",
            inputs.challenger_traffic,
            inputs.champion_traffic,
            params,
        ),
        _drift(inputs),
        _cpqu_ceiling(inputs, params.cpqu_ceiling),
    ]


def decide(inputs: GateInputs, params: GateThresholds) -> dict[str, Any]:
    """The gate's decision as written to ``metrics/gate.json``.

    ``reasons`` explains the decision: the details of failed rules for ``block``, why there
    is nothing to do for ``hold``, a one-line summary for ``promote``.
    """
    evaluated = rules(inputs, params)
    failed = [rule for rule in evaluated if not rule.passed]
    if inputs.challenger == inputs.champion:
        decision = "hold"
        reasons = [f"challenger {inputs.challenger[:12]} already is production: nothing to promote"]
    elif failed:
        decision = "block"
        reasons = [f"{rule.name}: {rule.detail}" for rule in failed]
    else:
        decision = "promote"
        reasons = [f"all {len(evaluated)} rules passed"]
    return {
        "decision": decision,
        "champion": inputs.champion,
        "challenger": inputs.challenger,
        "rules": [rule.to_dict() for rule in evaluated],
        "reasons": reasons,
    }
