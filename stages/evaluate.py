"""Stage evaluate (one per model): eval_report.json, metrics and confusion plot data."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import sys
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_jsonl, write_csv, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import FAMILIES, TAGS
from gramops.inference.evaluate import confusion_rows, score, summary_metrics
from gramops.inference.predictor import load_predictor

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
    test = list(read_jsonl(CORPUS / "test.jsonl"))
    report = {"model": name, "split": "test", "domains": {}}
    rows = []
    for domain in params.domains:
        records = [r for r in test if r["domain"] == domain]
        prediction = predictor.predict(records)
        report["domains"][domain] = score(records, prediction.tags, prediction.forms, TAGS)
        rows.extend(confusion_rows(records, prediction.tags))
        result = report["domains"][domain]
        log.info(
            "%s on %s test (%d): strict %.4f, pass rate %.4f",
            name,
            domain,
            result["count"],
            result["strict_accuracy"],
            result["pass_rate"],
        )
    write_json(bundle / "eval_report.json", report)
    write_json(Path("metrics/eval") / f"{name}.json", summary_metrics(report))
    write_csv(Path("plots/confusion") / f"{name}.csv", ["domain", "actual", "predicted"], rows)


if __name__ == "__main__":
    run(main)
