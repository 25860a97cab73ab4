"""Stage cpqu: cost per unit of quality for every registry entry.

Cost is measured here (CPU seconds per 1,000 tokens, median of repeated runs over the
reference test split) and priced with `cost.usd_per_cpu_hour`; quality is the pass rate on
the reference test split and on this week's traffic. Measurements are reports, never
part of a model's identity.
"""

import csv
import logging
import tempfile
from pathlib import Path

from gramops import cost
from gramops.jsonio import read_jsonl, write_json
from gramops.monitoring import load_registered
from gramops.registry import Registry
from gramops.stage import load_params, run

CORPUS = Path("data/processed")
TRAFFIC = Path("data/shifted/traffic.jsonl")
log = logging.getLogger("stages.cpqu")


def _pass_rate(predictor, records) -> float:
    forms = predictor.predict(records).forms
    return sum(f in r["acceptable"] for f, r in zip(forms, records, strict=True)) / len(records)


def main() -> None:
    (params,) = load_params("cost")
    test = [r for r in read_jsonl(CORPUS / "test.jsonl") if r["domain"] == "verb"]
    tokens = sum(len(r["tokens"]) for r in test)
    requests = list(read_jsonl(TRAFFIC))
    latest = max(r["week"] for r in requests)
    current = [r for r in requests if r["week"] == latest]
    registry = Registry(actor="stage:cpqu")
    order = [r["sha"] for r in registry.history() if r["op"] == "register"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="gramops-cpqu-") as tmp:
        for sha in order:
            entry = registry.entry(sha)
            semver = (registry.semvers_of(sha) or ["untagged"])[-1]
            reference = entry["metrics"]["verb"]["pass_rate"]
            parent = entry.get("parent_sha")
            if not registry.objects_present(sha) or (
                parent and not registry.objects_present(parent)
            ):
                log.info(
                    "%s %s: bytes not in this object store, cost not measured", semver, sha[:12]
                )
                rows.append(cost.CostRow.unmeasured(semver, sha, entry, reference))
                continue
            _, predictor = load_registered(registry, sha, Path(tmp) / sha[:12])
            seconds = cost.median(
                cost.measure_cpu_seconds(lambda p=predictor: p.predict(test), params.repeats)
            )
            rows.append(
                cost.CostRow.from_measurement(
                    semver,
                    sha,
                    entry,
                    reference,
                    _pass_rate(predictor, current),
                    cost.cpu_per_1k_tokens(seconds, tokens),
                    params.usd_per_cpu_hour,
                )
            )
            log.info(
                "%s %s: %.4f CPU s per 1k tokens", semver, sha[:12], rows[-1].cpu_s_per_1k_tokens
            )
    write_json(
        Path("metrics/cpqu.json"),
        {
            "usd_per_cpu_hour": params.usd_per_cpu_hour,
            "entries": {row.semver: row.to_dict() for row in rows},
        },
    )
    Path("metrics/COSTS.md").write_text(
        cost.costs_markdown(rows, params.usd_per_cpu_hour), encoding="utf-8"
    )
    scatter = cost.scatter_rows(rows)
    Path("plots").mkdir(exist_ok=True)
    with Path("plots/cost_quality.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["label", "usd_per_1k_tokens", "pass_rate"])
        writer.writeheader()
        writer.writerows(scatter)


if __name__ == "__main__":
    run(main)
