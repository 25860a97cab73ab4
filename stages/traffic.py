"""Stage traffic: the candidate against production on this week's traffic and on slices.

Production = the `production` alias; candidate = `traffic.challenger` (a ref, or a family
name for the bundle of that family this run built, metrics/registry.json:shas). When the
candidate is production there is nothing to compare and the report says so. Otherwise both
models answer every request offline (shadow, A/B and canary then see only the answers
their routing would have served) and every record of the reference test split (per-slice
counts for the gate's slice rule).
"""

import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import short
from gramops.monitoring import traffic
from gramops.monitoring.challenger import load_registered, resolve_challenger
from gramops.registry.store import Registry

TRAFFIC = Path("data/shifted/traffic.jsonl")
REFERENCE = Path("data/processed/test.jsonl")
log = logging.getLogger("stages.traffic")


def main() -> None:
    (params,) = load_params("traffic")
    registry = Registry(actor="stage:traffic")
    built = read_json(Path("metrics/registry.json")).get("shas", {})
    candidate_sha = resolve_challenger(registry, params.challenger, built)
    # None before a first release: the candidate is then judged on its own
    production_sha = registry.aliases().get("production")

    def model(sha: str) -> traffic.Model:
        return traffic.Model(sha, registry.entry(sha)["family"], registry.semvers_of(sha))

    def compare() -> dict:
        requests = list(read_jsonl(TRAFFIC))
        latest = max(r["week"] for r in requests)
        current = [r for r in requests if r["week"] == latest]
        reference = list(read_jsonl(REFERENCE))
        with tempfile.TemporaryDirectory(prefix="gramops-traffic-") as tmp:
            _, production = load_registered(registry, production_sha, Path(tmp))
            _, candidate = load_registered(registry, candidate_sha, Path(tmp))
            forms = {
                name: (predictor.predict(current).forms, predictor.predict(reference).forms)
                for name, predictor in (("production", production), ("candidate", candidate))
            }
        return traffic.comparison(
            current,
            forms["production"][0],
            forms["candidate"][0],
            reference,
            forms["production"][1],
            forms["candidate"][1],
            params,
        )

    production = model(production_sha) if production_sha else None
    metrics, text = traffic.report(production, model(candidate_sha), compare)
    write_json(Path("metrics/traffic.json"), metrics)
    Path("metrics/TRAFFIC.md").write_text(text, encoding="utf-8")
    Path("plots").mkdir(exist_ok=True)
    Path("plots/canary.csv").write_text(traffic.canary_csv(metrics), encoding="utf-8")
    if "note" in metrics:
        log.info("%s", metrics["note"])
    else:
        log.info(
            "production %s vs candidate %s: A/B p=%s, canary %s",
            short(production_sha),
            short(candidate_sha),
            metrics["ab"]["test"]["p_value"],
            "completed" if metrics["canary"]["completed"] else "aborted",
        )


if __name__ == "__main__":
    run(main)
