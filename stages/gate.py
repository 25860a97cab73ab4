"""Stage gate: the deploy decision for the candidate (promote, block or hold), nothing more.

Rules (thresholds in params.yaml:gate): no standing rollback; a quality floor;
non-inferiority against production on the reference test split and on this week's
traffic; no evidence of harm on any slice; if drift demands retraining, the candidate was
evaluated on the current distribution; a CpQU ceiling relative to production. The stage
reads the registry but never writes it: `gramops promote` acts on the verdict, and
metrics/gate.json records the registry state judged so a stale verdict is detectable.
Beside the verdict it writes the headline metrics (metrics/summary.json,
gramops.report.summary), repeated from the files it judged: one stage fewer to run.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import read_json, write_json, write_text
from gramops.core.stage import load_params, run
from gramops.monitoring import gate
from gramops.registry.store import Registry
from gramops.report.summary import headline, summary_text

log = logging.getLogger("stages.gate")


def main() -> None:
    (params,) = load_params("gate")
    replay = read_json(Path("metrics/traffic.json"))
    drift = read_json(Path("metrics/drift.json"))
    costs = read_json(Path("metrics/cpqu.json"))
    registered = read_json(Path("metrics/registry.json"))
    registry = Registry(actor="stage:gate")
    inputs, state = gate.gate_inputs(registry, replay, drift, costs, registered.get("shas", {}))
    result = gate.decide(inputs, params)
    # the registry state judged: `gramops promote` and `gate --check` refuse a stale verdict
    result["registry"] = state
    log.info("gate: %s; %s", result["decision"], "; ".join(result["reasons"]))
    write_json(Path("metrics/gate.json"), result)
    shift = read_json(Path("metrics/shift.json"))
    write_text(
        Path("metrics/summary.json"),
        summary_text(headline(registered, result, drift, costs, shift)),
    )


if __name__ == "__main__":
    run(main)
