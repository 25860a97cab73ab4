"""Stage cpqu: cost per unit of quality for every registry entry (metrics/cpqu.json).

Combines, never measures: the counted cost of each costed entry comes from stage cost
(metrics/cost.json); quality is the pass rate on the reference test split (recorded at
registration) and on this week's traffic, the one input a shift changes. Every registry
entry gets a row (gramops.monitoring.cost_entries).
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_csv, write_json, write_text
from gramops.core.params import CostCalibration
from gramops.core.stage import run
from gramops.monitoring import cost, cost_entries
from gramops.monitoring.shift import latest_week
from gramops.registry.store import Registry

log = logging.getLogger("stages.cpqu")


def main() -> None:
    counted = read_json(Path("metrics/cost.json"))
    costs = cost.read_entry_costs(counted)
    current = latest_week(read_jsonl(Path("data/shifted/traffic.jsonl")))
    registry = Registry(actor="stage:cpqu")
    with tempfile.TemporaryDirectory(prefix="gramops-cpqu-") as tmp:
        rows = cost_entries.cost_rows(registry, costs, current, Path(tmp))
    for row in (row for row in rows if row.costed):
        price, per_quality = row.usd_per_1b_tokens, row.cpqu
        log.info("%s: %.4g USD per 1B tokens, CpQU %.4g", row.label, price, per_quality)
    calibration = CostCalibration(**counted["calibration"])
    usd = counted["usd_per_cpu_hour"]
    write_json(Path("metrics/cpqu.json"), cost.costs_json(rows, calibration, usd))
    write_text(Path("metrics/COSTS.md"), cost.costs_markdown(rows, calibration, usd))
    write_csv(Path("plots/cost_quality.csv"), cost.SCATTER_FIELDS, cost.scatter_rows(rows))


if __name__ == "__main__":
    run(main)
