"""Stage gate: the deploy decision for the candidate (promote, block or hold), nothing more.

Rules (thresholds in params.yaml:gate): no standing rollback; a quality floor;
non-inferiority against production on the reference test split and on this week's
traffic; no evidence of harm on any slice; if drift demands retraining, the candidate was
evaluated on the current distribution; a CpQU ceiling relative to production. The stage
reads the registry but never writes it: `gramops promote` acts on the verdict, and
metrics/gate.json records the registry state judged so a stale verdict is detectable.
"""

import logging
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_json, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import short
from gramops.monitoring import gate
from gramops.registry.auditlog import rolled_back
from gramops.registry.store import Registry, RegistryError

log = logging.getLogger("stages.gate")


def _reference(entry: dict) -> tuple[int, int]:
    verb = entry["metrics"]["verb"]
    return round(verb["pass_rate"] * verb["count"]), verb["count"]


def _cpqu(costs: dict[str, Any], sha: str) -> float | None:
    rows = {row["sha"]: row for row in costs["entries"].values()}
    # rows carry the full SHA; files written before the cost change carry 12 hex digits
    return (rows.get(sha) or rows.get(short(sha)) or {}).get("cpqu")


def _candidate_facts(
    registry: Registry, replay: dict, drift: dict, costs: dict, candidate: str, production: str
) -> dict[str, Any]:
    """What the gate compares: the candidate against production, from the metrics files."""
    current = replay["replay"]
    return {
        "candidate_reference": _reference(registry.entry(candidate)),
        "candidate_traffic": (current["challenger"]["passed"], current["challenger"]["n"]),
        "production_traffic": (current["champion"]["passed"], current["champion"]["n"]),
        "drift_retrain": drift["retrain"],
        "candidate_evaluated_on_current": current["challenger"]["n"] > 0,
        "candidate_cpqu": _cpqu(costs, candidate),
        "production_cpqu": _cpqu(costs, production),
        "candidate_rolled_back": rolled_back(registry.history()).get(candidate),
        "slices": replay.get("slices", {}),
    }


def main() -> None:
    (params,) = load_params("gate")
    replay = read_json(Path("metrics/traffic.json"))
    drift = read_json(Path("metrics/drift.json"))
    costs = read_json(Path("metrics/cpqu.json"))
    built = read_json(Path("metrics/registry.json")).get("shas", {})
    registry = Registry(actor="stage:gate")
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
            "candidate_reference": _reference(registry.entry(candidate)),
            "drift_retrain": drift["retrain"],
            "candidate_rolled_back": rolled_back(registry.history()).get(candidate),
        }
    elif candidate is None:
        facts = {}
    else:
        facts = _candidate_facts(registry, replay, drift, costs, candidate, production)
    inputs = gate.GateInputs(
        production=production,
        production_reference=_reference(registry.entry(production)) if production else (0, 0),
        candidate=candidate,
        **facts,
    )
    result = gate.decide(inputs, params)
    # the registry state judged: `gramops promote` and `gate --check` refuse a stale verdict
    result["registry"] = state
    log.info("gate: %s; %s", result["decision"], "; ".join(result["reasons"]))
    write_json(Path("metrics/gate.json"), result)


def _known(registry: Registry, sha: str) -> bool:
    try:
        return registry.resolve(sha) == sha
    except RegistryError:
        return False


if __name__ == "__main__":
    run(main)
