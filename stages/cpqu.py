"""Stage cpqu: cost and cost per unit of quality for every registry entry.

Cost is counted (``gramops.monitoring.cost.count_work``: the work of one inference call
over the reference test split, from the model's tensor shapes) and converted to CPU time
with ``cost.calibration``, so the same architecture costs the same in every run; the CPU
time measured over the same call (median of ``cost.repeats``) is logged beside it, never
written to an output (it differs every run, and the outputs must not) and never used by
the gate; benchmarks/cost_calibration.py tables both side by side. Quality is the pass
rate on the reference test split and on this week's traffic. Which entries get a cost:
gramops.monitoring.cost_entries.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_csv, write_json, write_text
from gramops.core.stage import load_params, run
from gramops.monitoring import cost, cost_entries
from gramops.monitoring.challenger import resolve_challenger
from gramops.monitoring.shift import latest_week, verb_domain
from gramops.registry.store import Registry

log = logging.getLogger("stages.cpqu")


def main() -> None:
    params, routing = load_params("cost", "traffic")
    test = verb_domain(read_jsonl(Path("data/processed/test.jsonl")))
    current = latest_week(read_jsonl(Path("data/shifted/traffic.jsonl")))
    registry = Registry(actor="stage:cpqu")
    built = read_json(Path("metrics/registry.json"))["shas"]
    aliases = registry.aliases()
    candidate = resolve_challenger(registry, routing.challenger, built)
    costed = cost_entries.costed_shas(built, candidate, aliases)
    with tempfile.TemporaryDirectory(prefix="gramops-cpqu-") as tmp:
        rows = cost_entries.cost_rows(registry, costed, test, current, params, Path(tmp))
    for row in (row for row in rows if row.costed):
        log.info(
            "%s: %.1f CPU µs per 1k tokens counted, %.1f measured",
            row.label,
            row.cpu_us_per_1k_tokens,
            row.measured_cpu_us_per_1k_tokens,
        )
    calibration, usd = params.calibration, params.usd_per_cpu_hour
    write_json(Path("metrics/cpqu.json"), cost.costs_json(rows, calibration, usd))
    write_text(Path("metrics/COSTS.md"), cost.costs_markdown(rows, calibration, usd))
    write_csv(Path("plots/cost_quality.csv"), cost.SCATTER_FIELDS, cost.scatter_rows(rows))


if __name__ == "__main__":
    run(main)
