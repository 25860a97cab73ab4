"""Stage cost: the counted CPU cost of every model the pipeline prices (metrics/cost.json).

Cost is counted (``gramops.monitoring.cost.count_work``: the work of one inference call
over the reference test split, from the model's tensor shapes) and converted to CPU time
with ``cost.calibration``, so the same architecture costs the same in every run; the CPU
time measured over the same call (median of ``cost.repeats``) is logged beside it, never
written to an output and never used by the gate. Nothing a traffic shift changes is an
input here: a shift variant never re-counts or re-times (stage cpqu combines these costs
with quality). Which entries are costed: gramops.monitoring.cost_entries.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_json
from gramops.core.stage import load_params, run
from gramops.monitoring import cost_entries
from gramops.monitoring.challenger import resolve_challenger
from gramops.monitoring.cost import entry_costs_json
from gramops.monitoring.shift import verb_domain
from gramops.registry.store import Registry

log = logging.getLogger("stages.cost")


def main() -> None:
    params, routing = load_params("cost", "traffic")
    test = verb_domain(read_jsonl(Path("data/processed/test.jsonl")))
    registry = Registry(actor="stage:cost")
    built = read_json(Path("metrics/registry.json"))["shas"]
    candidate = resolve_challenger(registry, routing.challenger, built)
    costed = cost_entries.costed_shas(built, candidate, registry.aliases())
    with tempfile.TemporaryDirectory(prefix="gramops-cost-") as tmp:
        results = cost_entries.entry_costs(registry, costed, test, params, Path(tmp))
    for counted, measured in results:
        log.info(
            "%s %s: %.1f CPU µs per 1k tokens counted, %.1f measured",
            counted.family,
            counted.sha[:12],
            counted.cpu_us_per_1k_tokens,
            measured,
        )
    costs = [counted for counted, _ in results]
    write_json(
        Path("metrics/cost.json"),
        entry_costs_json(costs, params.calibration, params.usd_per_cpu_hour),
    )


if __name__ == "__main__":
    run(main)
