"""Stage train: the FP32 base model on the reference (verb) domain, early-stopped on dev."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_csv, write_json
from gramops.core.stage import load_params, run
from gramops.models.bundle import save_bundle
from gramops.models.features import featurize
from gramops.models.manifest import fp32_metadata
from gramops.models.mlp import encode_tags, noisy_labels, train_mlp
from gramops.models.provenance import code_record, corpus_record
from gramops.models.templates import template_records
from gramops.models.training import HISTORY_FIELDS, history_rows

CORPUS = Path("data/processed")
OUT = Path("models/fp32")
log = logging.getLogger("stages.train")


def _split(name: str) -> list[dict]:
    return [r for r in read_jsonl(CORPUS / f"{name}.jsonl") if r["domain"] == "verb"]


def main() -> None:
    base, params = load_params("base", "train")
    real, dev = _split("train"), _split("dev")
    train = real + template_records(params.templates, base.seed)
    sizes = (len(real), params.templates, len(dev))
    log.info("training on %d verb-domain records + %d templates, stopping on %d dev", *sizes)
    result = train_mlp(
        featurize(train, params.features),
        noisy_labels(encode_tags(r["tag"] for r in train), params.label_noise, base.seed),
        featurize(dev, params.features),
        encode_tags(r["tag"] for r in dev),
        params,
        base.seed,
    )
    counts = {"train": len(real), "templates": params.templates, "dev": len(dev)}
    corpus = corpus_record(CORPUS, "verb", counts)
    config, manifest = fp32_metadata(params, base.seed, result, corpus, code_record("train"))
    save_bundle(OUT, "model.safetensors", result.weights, config, manifest)
    write_json(Path("metrics/train.json"), result.metrics())
    write_csv(
        Path("plots/train_history.csv"),
        HISTORY_FIELDS,
        history_rows(result.history),
        lineterminator="\n",
    )
    log.info(
        "best epoch %d of %d, dev tag accuracy %.4f",
        result.best_epoch,
        len(result.history),
        result.best_dev_accuracy,
    )


if __name__ == "__main__":
    run(main)
