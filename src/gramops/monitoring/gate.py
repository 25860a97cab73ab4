"""The deploy gate: may the candidate replace production?

The gate decides; it changes nothing. People and CI act on its verdict (``gramops
promote``), so the decision only has to be true of the inputs it names: the candidate and
production SHAs and the registry state it judged.

The decision is ``promote`` iff every rule (:mod:`gramops.monitoring.gate_rules`) passes,
``block`` otherwise, and ``hold`` when there is no candidate (``traffic.challenger``
resolves to production itself). Production's own absolute rule (the quality floor) is
evaluated in every case, under ``production_rules``, so a production model that fails it
is visible even when nothing is being promoted.

:func:`decide` is pure (numbers and params in, a JSON-ready dict out);
:func:`gate_inputs` gathers those numbers from the metrics files and the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.monitoring.gate_rules import (
    GateInputs,
    GateThresholds,
    Rule,
    drift_rule,
    not_rolled_back_rule,
    quality_floor_rule,
    rules,
)
from gramops.registry.auditlog import rolled_back
from gramops.registry.store import Registry, RegistryError


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
        else [quality_floor_rule("production", inputs.production_reference, params.quality_floor)]
    )
    candidate = inputs.candidate if inputs.candidate != inputs.production else None
    evaluated: list[Rule] = []
    table: list[dict[str, Any]] = []
    if inputs.production is None and candidate is not None:
        # a first release: nothing to compare with, so the comparative rules do not apply
        evaluated = [
            not_rolled_back_rule(inputs),
            quality_floor_rule("candidate", inputs.candidate_reference, params.quality_floor),
            drift_rule(inputs),
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


def reference_counts(entry: Mapping[str, Any]) -> tuple[int, int]:
    """``(passed, n)`` on the verb-domain reference split, from a registry entry's metrics."""
    verb = entry["metrics"]["verb"]
    return round(verb["pass_rate"] * verb["count"]), verb["count"]


def cpqu_of(costs: Mapping[str, Any], sha: str) -> float | None:
    """``sha``'s CpQU in ``metrics/cpqu.json``, or None when it has none."""
    rows = {row["sha"]: row for row in costs["entries"].values()}
    # rows carry the full SHA; files written before the cost change carry 12 hex digits
    return (rows.get(sha) or rows.get(short(sha)) or {}).get("cpqu")


def gate_inputs(
    registry: Registry,
    replay: Mapping[str, Any],
    drift: Mapping[str, Any],
    costs: Mapping[str, Any],
    built: Mapping[str, str],
) -> tuple[GateInputs, dict[str, Any]]:
    """What the gate compares, from ``metrics/traffic.json`` (``replay``), ``drift.json``,
    ``cpqu.json`` (``costs``), ``registry.json:shas`` (``built``) and the registry; and the
    registry state judged, which the verdict records so a stale one is detectable.

    Refuses SHAs the registry does not hold and a traffic comparison made against another
    production than the registry's: a verdict on them would judge the wrong models.
    """
    state = registry.state()
    production = state["production"]
    named = {f"metrics/registry.json shas.{family}": sha for family, sha in built.items()}
    named["metrics/traffic.json candidate"] = replay.get("candidate")
    missing = [
        f"{where} = {sha}" for where, sha in named.items() if sha and not _known(registry, sha)
    ]
    if missing:
        raise GramopsError(
            f"not registered in {registry.url}: {'; '.join(missing)}; run `dvc repro` (register "
            "adds them) or restore the registry files"
        )
    if replay.get("production") != production:
        raise GramopsError(
            f"metrics/traffic.json compared against production {replay.get('production')}, "
            f"but the registry's production is {production}: run `dvc repro traffic` first"
        )
    candidate = replay["candidate"]
    if production is None:  # a first release: the candidate on its own
        facts = {
            "candidate_reference": reference_counts(registry.entry(candidate)),
            "drift_retrain": drift["retrain"],
            "candidate_rolled_back": rolled_back(registry.history()).get(candidate),
        }
    elif candidate is None:
        facts = {}
    else:
        facts = _candidate_facts(registry, replay, drift, costs, candidate, production)
    inputs = GateInputs(
        production=production,
        production_reference=reference_counts(registry.entry(production)) if production else (0, 0),
        candidate=candidate,
        **facts,
    )
    return inputs, state


def _candidate_facts(
    registry: Registry,
    replay: Mapping[str, Any],
    drift: Mapping[str, Any],
    costs: Mapping[str, Any],
    candidate: str,
    production: str,
) -> dict[str, Any]:
    """What the gate compares: the candidate against production, from the metrics files."""
    if replay.get("gold", True):
        current = replay["replay"]
        traffic = {
            "candidate_traffic": (current["challenger"]["passed"], current["challenger"]["n"]),
            "production_traffic": (current["champion"]["passed"], current["champion"]["n"]),
            "candidate_evaluated_on_current": current["challenger"]["n"] > 0,
        }
    else:  # a request log: the candidate answered it, but no answer can be scored
        traffic = {
            "traffic_gold": False,
            "candidate_evaluated_on_current": replay["agreement"]["n_requests"] > 0,
        }
    return {
        "candidate_reference": reference_counts(registry.entry(candidate)),
        **traffic,
        "drift_retrain": drift["retrain"],
        "candidate_cpqu": cpqu_of(costs, candidate),
        "production_cpqu": cpqu_of(costs, production),
        "candidate_rolled_back": rolled_back(registry.history()).get(candidate),
        "slices": replay.get("slices", {}),
    }


def _known(registry: Registry, sha: str) -> bool:
    try:
        return registry.resolve(sha) == sha
    except RegistryError:
        return False
