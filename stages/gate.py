"""Stage gate: promote the challenger to production, or block it, with every reason.

Rules (thresholds in params.yaml:gate): a quality floor; non-inferiority against
production by a z-test on the reference test split and on this week's traffic; if drift
demands retraining, the challenger must have been evaluated on the current distribution;
a CpQU ceiling relative to production. A promotion moves the `production` alias through
the registry (audited in index.jsonl) and, when configured, notifies a webhook.
"""

import logging
from pathlib import Path

from gramops import gate
from gramops.jsonio import read_json, write_json
from gramops.notify import post_json
from gramops.registry import Registry
from gramops.stage import load_params, run

log = logging.getLogger("stages.gate")


def _reference(entry: dict) -> tuple[int, int]:
    verb = entry["metrics"]["verb"]
    return round(verb["pass_rate"] * verb["count"]), verb["count"]


def main() -> None:
    (params,) = load_params("gate")
    replay = read_json(Path("metrics/traffic.json"))
    costs = {row["sha"]: row for row in read_json(Path("metrics/cpqu.json"))["entries"].values()}
    drift = read_json(Path("metrics/drift.json"))
    registry = Registry(actor="stage:gate")
    champion = registry.resolve(replay["champion"]["sha"])
    challenger = registry.resolve(replay["challenger"]["sha"])
    current = replay["replay"]
    inputs = gate.GateInputs(
        champion=champion,
        challenger=challenger,
        challenger_reference=_reference(registry.entry(challenger)),
        champion_reference=_reference(registry.entry(champion)),
        challenger_traffic=(current["challenger"]["passed"], current["challenger"]["n"]),
        champion_traffic=(current["champion"]["passed"], current["champion"]["n"]),
        drift_retrain=drift["retrain"],
        challenger_evaluated_on_current=current["challenger"]["n"] > 0,
        challenger_cpqu=costs.get(challenger[:12], {}).get("cpqu"),
        champion_cpqu=costs.get(champion[:12], {}).get("cpqu"),
        challenger_rolled_back=gate.rolled_back(registry.history()).get(challenger),
    )
    result = gate.decide(inputs, params)
    if result["decision"] == "promote":
        new, previous = registry.set_alias("production", challenger)
        result["moved"] = {"alias": "production", "from": previous, "to": new}
        log.info("promoted %s to production (was %s)", new[:12], (previous or "unset")[:12])
        if params.notify_url:
            post_json(
                params.notify_url,
                {
                    "event": "promote",
                    "alias": "production",
                    "sha": new,
                    "previous": previous,
                    "actor": registry.actor,
                    "semvers": registry.semvers_of(new),
                },
            )
    else:
        log.info("gate: %s; %s", result["decision"], "; ".join(result["reasons"]))
    write_json(Path("metrics/gate.json"), result)


if __name__ == "__main__":
    run(main)
