"""Stage traffic: the candidate against production on this week's traffic and on slices.

Production = the `production` alias; candidate = `traffic.challenger` (a ref, or a family
name for the bundle of that family this run built, metrics/registry.json:shas). The logic
is gramops.monitoring.traffic; a candidate that is production is not compared. On a
captured request log (shift.source: log) there is no gold: the report is the two models'
agreement, with the logged answers used where present (gramops.monitoring.traffic_agreement).
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_csv, write_json, write_text
from gramops.core.stage import load_params, run
from gramops.monitoring import traffic
from gramops.monitoring.challenger import resolve_challenger
from gramops.monitoring.shift import latest_week
from gramops.monitoring.traffic_report import CANARY_FIELDS, canary_rows
from gramops.registry.store import Registry

log = logging.getLogger("stages.traffic")


def main() -> None:
    (params,) = load_params("traffic")
    registry = Registry(actor="stage:traffic")
    built = read_json(Path("metrics/registry.json")).get("shas", {})
    candidate_sha = resolve_challenger(registry, params.challenger, built)
    production_sha = registry.aliases().get("production")  # None before a first release

    def compare() -> dict:
        current = latest_week(read_jsonl(Path("data/shifted/traffic.jsonl")))
        reference = list(read_jsonl(Path("data/processed/test.jsonl")))
        with tempfile.TemporaryDirectory(prefix="gramops-traffic-") as tmp:
            return traffic.compare_registered(
                registry, production_sha, candidate_sha, current, reference, params, Path(tmp)
            )

    production = traffic.Model.of(registry, production_sha) if production_sha else None
    metrics, text = traffic.report(production, traffic.Model.of(registry, candidate_sha), compare)
    write_json(Path("metrics/traffic.json"), metrics)
    write_text(Path("metrics/TRAFFIC.md"), text)
    write_csv(Path("plots/canary.csv"), CANARY_FIELDS, canary_rows(metrics), lineterminator="\n")
    log.info("%s", traffic.summary_line(metrics))


if __name__ == "__main__":
    run(main)
