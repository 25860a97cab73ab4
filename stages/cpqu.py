"""Stage cpqu: cost and cost per unit of quality for every registry entry.

Cost is counted (``gramops.monitoring.cost.count_work``: the work of one inference call over the
reference test split, from the model's tensor shapes) and converted to CPU time with
``cost.calibration``, so the same architecture costs the same in every run; the CPU time
measured over the same call (median of ``cost.repeats``) is logged beside it, never
written to an output (it differs every run, and the outputs must not) and never used by
the gate; benchmarks/cost_calibration.py tables both side by side. Quality is the pass rate on the
reference test split and on this week's traffic.

Costed are the models this run built (metrics/registry.json), the gate's candidate
(traffic.challenger) and those holding production or staging, whose bytes the pipeline
needs anyway; every other entry gets a row with its
quality and no cost, so the tracked outputs never depend on what else a store holds.
"""

import csv
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import short
from gramops.models.bundle import read_metadata, weights_spec
from gramops.models.features import featurize
from gramops.monitoring import cost
from gramops.monitoring.challenger import load_registered, resolve_challenger
from gramops.registry.auditlog import registration_order
from gramops.registry.store import Registry

CORPUS = Path("data/processed")
TRAFFIC = Path("data/shifted/traffic.jsonl")
log = logging.getLogger("stages.cpqu")


def _pass_rate(predictor, records) -> float:
    forms = predictor.predict(records).forms
    return sum(f in r["acceptable"] for f, r in zip(forms, records, strict=True)) / len(records)


def _shapes(bundle: Path, base: Path | None) -> cost.TensorShapes:
    """Tensor shapes from config.json (a LoRA model: its base's and the adapter's)."""
    shapes = dict(weights_spec(read_metadata(bundle, "config.json"), bundle))
    if base is not None:
        shapes.update(weights_spec(read_metadata(base, "config.json"), base))
    return shapes


def main() -> None:
    params, routing = load_params("cost", "traffic")
    test = [r for r in read_jsonl(CORPUS / "test.jsonl") if r["domain"] == "verb"]
    tokens = sum(len(r["tokens"]) for r in test)
    requests = list(read_jsonl(TRAFFIC))
    latest = max(r["week"] for r in requests)
    current = [r for r in requests if r["week"] == latest]
    registry = Registry(actor="stage:cpqu")
    built = read_json(Path("metrics/registry.json"))["shas"]
    aliases = registry.aliases()
    # the gate compares the candidate's CpQU with production's: both are always costed
    candidate = resolve_challenger(registry, routing.challenger, built)
    costed = {*built.values(), candidate}
    costed |= {aliases[a] for a in ("production", "staging") if a in aliases}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gramops-cpqu-") as tmp:
        for sha in registration_order(registry.history()):
            entry = registry.entry(sha)
            semver = (registry.semvers_of(sha) or [None])[-1]
            reference = entry["metrics"]["verb"]["pass_rate"]
            parent = entry.get("parent_sha")
            if sha not in costed:
                rows.append(cost.CostRow.not_costed(sha, semver, entry, reference))
                continue
            workdir = Path(tmp) / short(sha)
            _, predictor = load_registered(registry, sha, workdir)
            bundle = workdir / short(sha)
            base = workdir / short(parent) if entry["family"] == "lora" else None
            load = cost.workload(featurize(test, predictor.features), tokens)
            work = cost.count_work(entry["family"], _shapes(bundle, base), load)
            seconds = cost.median(
                cost.measure_cpu_seconds(lambda p=predictor: p.predict(test), params.repeats)
            )
            rows.append(
                cost.CostRow.counted(
                    sha,
                    semver,
                    entry,
                    work,
                    load,
                    calibration=params.calibration,
                    usd_per_cpu_hour=params.usd_per_cpu_hour,
                    pass_rate=reference,
                    traffic_pass_rate=_pass_rate(predictor, current),
                    measured_cpu_s=seconds,
                )
            )
            log.info(
                "%s: %.1f CPU µs per 1k tokens counted, %.1f measured",
                rows[-1].label,
                rows[-1].cpu_us_per_1k_tokens,
                rows[-1].measured_cpu_us_per_1k_tokens,
            )
    write_json(
        Path("metrics/cpqu.json"),
        cost.costs_json(rows, params.calibration, params.usd_per_cpu_hour),
    )
    Path("metrics/COSTS.md").write_text(
        cost.costs_markdown(rows, params.calibration, params.usd_per_cpu_hour), encoding="utf-8"
    )
    Path("plots").mkdir(exist_ok=True)
    with Path("plots/cost_quality.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cost.SCATTER_FIELDS)
        writer.writeheader()
        writer.writerows(cost.scatter_rows(rows))


if __name__ == "__main__":
    run(main)
