"""Stage drift: reference vs live traffic, per feature and week; a retrain decision."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
import tempfile
from pathlib import Path

from gramops.core.fileio import read_json, read_jsonl, write_csv, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import short
from gramops.models.features import featurize
from gramops.monitoring import drift_weekly as weekly
from gramops.monitoring.challenger import confidence_model, load_registered
from gramops.monitoring.shift import lemma_ranks, verb_domain
from gramops.registry.store import Registry
from gramops.report.plot_data import drift_plot_files
from gramops.report.plots import drift_histograms_png

CORPUS = Path("data/processed")
BUILT = Path("metrics/registry.json")
log = logging.getLogger("stages.drift")


def main() -> None:
    base, shift, params, routing = load_params("base", "shift", "drift", "traffic")
    train, dev = (verb_domain(read_jsonl(CORPUS / f"{split}.jsonl")) for split in ("train", "dev"))
    ranks = lemma_ranks(train)
    traffic = list(read_jsonl(Path("data/shifted/traffic.jsonl")))
    registry = Registry(actor="stage:drift")
    model = confidence_model(registry, routing.challenger, lambda: read_json(BUILT)["shas"])
    if model != "production":
        log.info("no production model yet: confidence drift of the candidate %s", short(model))
    with tempfile.TemporaryDirectory(prefix="gramops-drift-") as tmp:
        sha, predictor = load_registered(registry, model, Path(tmp))
        # confidence alone: predict() also inflects every form, which drift never reads
        on_train, on_dev, confidence = (
            predictor.proba(featurize(r, predictor.features)).max(1) for r in (train, dev, traffic)
        )
    reference = weekly.reference_features(train, dev, ranks, on_train, on_dev)
    log.info("model %s; reference: %d train, %d dev records", short(sha), len(train), len(dev))
    weeks = []
    for week in weekly.weekly_reports(
        reference, traffic, ranks, confidence, weekly.week_count(traffic), params, base.seed
    ):
        weeks.append(week)
        retrain = " (retrain)" if week.report["retrain"] else ""
        log.info("week %d: %s%s", week.number, week.report["status"], retrain)
    summary = weekly.model_summary(sha, registry.semvers_of(sha), model != "production")
    metrics = weekly.drift_json(weeks, shift, summary, len(train), len(dev))
    write_json(Path("metrics/drift.json"), metrics)
    current = weeks[-1].report
    for name, (fields, rows) in drift_plot_files(current, metrics["weeks"], params).items():
        write_csv(Path("plots") / name, fields, rows)
    drift_histograms_png(current, params, weeks[-1].number, Path("plots/drift.png"))
    for reason in metrics["reasons"]:
        log.info("%s", reason)


if __name__ == "__main__":
    run(main)
