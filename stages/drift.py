"""Stage drift: reference vs live traffic, per feature, per week; a retrain decision.

Reference = the training distribution: the verb-domain train split for tag, lemma, length
and verb position; for lemma rank and model confidence, the verb-domain dev split, held
out like live traffic (its lemmas are unseen by training at the same rate, the split
being by synset), so that neither drifts at intensity 0 by construction.
"""

import csv
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import TAGS, short
from gramops.monitoring.challenger import (
    CATEGORICAL,
    HELD_OUT,
    NUMERIC,
    features,
    load_registered,
    resolve_challenger,
)
from gramops.monitoring.drift import drift_report
from gramops.monitoring.shift import lemma_ranks
from gramops.registry.store import Registry
from gramops.report.plots import drift_histograms_png

CORPUS = Path("data/processed")
TRAFFIC = Path("data/shifted/traffic.jsonl")
PLOTS = Path("plots/drift")
KINDS = {**dict.fromkeys(CATEGORICAL, "categorical"), **dict.fromkeys(NUMERIC, "numeric")}
log = logging.getLogger("stages.drift")


def _verb(split: str) -> list[dict]:
    return [r for r in read_jsonl(CORPUS / f"{split}.jsonl") if r["domain"] == "verb"]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    base, shift, params, routing = load_params("base", "shift", "drift", "traffic")
    train, dev = _verb("train"), _verb("dev")
    ranks = lemma_ranks(train)
    traffic = list(read_jsonl(TRAFFIC))
    registry = Registry(actor="stage:drift")
    # Prediction drift is production's; before a first release there is none, and the
    # candidate (traffic.challenger) stands in for it
    model = "production"
    if "production" not in registry.aliases():
        built = read_json(Path("metrics/registry.json"))["shas"]
        model = resolve_challenger(registry, routing.challenger, built)
        log.info("no production model yet: confidence drift of the candidate %s", short(model))
    with tempfile.TemporaryDirectory(prefix="gramops-drift-") as tmp:
        sha, predictor = load_registered(registry, model, Path(tmp))
        held_out = features(dev, ranks, predictor.predict(dev).confidence)
        confidence = predictor.predict(traffic).confidence
    reference = features(train, ranks, predictor.predict(train).confidence)
    reference.update({name: held_out[name] for name in HELD_OUT})
    log.info("model %s; reference: %d train, %d dev records", short(sha), len(train), len(dev))
    weeks, report = {}, {}
    for week in range(1, shift.weeks + 1):
        idx = [i for i, r in enumerate(traffic) if r["week"] == week]
        current = features([traffic[i] for i in idx], ranks, confidence[idx])
        report = drift_report(
            reference, current, KINDS, params, base.seed, categories={"tag": TAGS}
        )
        weeks[f"week_{week:02d}"] = {
            "intensity": round(shift.intensity * week / shift.weeks, 6),
            "status": report["status"],
            "retrain": report["retrain"],
            **{
                f"{name}_{f['decided_by']}": f[f["decided_by"]]
                for name, f in report["features"].items()
            },
        }
        log.info("week %d: %s%s", week, report["status"], " (retrain)" if report["retrain"] else "")
    write_json(
        Path("metrics/drift.json"),
        {
            "production": {
                "sha": short(sha),
                "semvers": registry.semvers_of(sha),
                **({} if model == "production" else {"note": "no production yet: the candidate"}),
            },
            "reference": {
                "domain": "verb",
                "train_records": len(train),
                "dev_records": len(dev),
                "dev_features": list(HELD_OUT),
            },
            "current": {"week": shift.weeks, "records": len(idx)},
            "features": report["features"],
            "status": report["status"],
            "retrain": report["retrain"],
            "reasons": report["reasons"],
            "weeks": weeks,
        },
    )
    for name, rows in report["histograms"].items():
        _write_rows(
            PLOTS / f"{name}.csv",
            [
                {"bin": row["bin"], "series": series, "share": row[series]}
                for row in rows
                for series in ("reference", "current")
            ],
        )
    _write_rows(
        Path("plots/drift_weekly.csv"),
        [
            {
                "week": int(key.split("_")[1]),
                **{k: v for k, v in week.items() if k not in ("status", "retrain")},
            }
            for key, week in weeks.items()
        ],
    )
    drift_histograms_png(report["histograms"], report["features"], Path("plots/drift.png"))
    for reason in report["reasons"]:
        log.info("%s", reason)


if __name__ == "__main__":
    run(main)
