"""Stage evaluate (one per model): calibrate on dev, then eval_report.json, metrics,
confusion and reliability plot data on test."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import sys
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_jsonl, write_csv, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import FAMILIES
from gramops.inference.evaluate import evaluate_model, summary_metrics
from gramops.inference.predictor import load_predictor
from gramops.models.bundle import read_metadata

CORPUS = Path("data/processed")
BASE = Path("models/fp32")
log = logging.getLogger("stages.evaluate")


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in FAMILIES:
        raise GramopsError(f"usage: evaluate.py MODEL, MODEL one of {', '.join(FAMILIES)}")
    name = sys.argv[1]
    (params,) = load_params("evaluate")
    bundle = Path("models") / name
    predictor = load_predictor(bundle, base_dir=BASE if name == "lora" else None)
    own = read_metadata(bundle, "train_manifest.json")["corpus"]["domain"]
    dev = [r for r in read_jsonl(CORPUS / "dev.jsonl") if r["domain"] == own]
    test = list(read_jsonl(CORPUS / "test.jsonl"))
    by_domain = {d: [r for r in test if r["domain"] == d] for d in params.domains}
    evaluation = evaluate_model(predictor, dev, by_domain, params)
    report = {"model": name, "split": "test", **evaluation.sections}
    for domain, result in report["domains"].items():
        log.info(
            "%s on %s test (%d): strict %.4f, pass rate %.4f, ECE %.4f (uncalibrated %.4f)",
            *(name, domain, result["count"], result["strict_accuracy"], result["pass_rate"]),
            *(result["calibration"]["ece"], result["calibration"]["ece_uncalibrated"]),
        )
    write_json(bundle / "eval_report.json", report)
    write_json(Path("metrics/eval") / f"{name}.json", summary_metrics(report))
    confusion = ["domain", "actual", "predicted"]
    write_csv(Path("plots/confusion") / f"{name}.csv", confusion, evaluation.confusion)
    fields = ["domain", "bin", "confidence", "accuracy", "count"]
    write_csv(Path("plots/calibration") / f"{name}.csv", fields, evaluation.reliability)


if __name__ == "__main__":
    run(main)
