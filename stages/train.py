"""Stage train: the FP32 base model on the reference (verb) domain, early-stopped on dev."""

import logging
from dataclasses import asdict
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import TAGS
from gramops.models.bundle import save_bundle
from gramops.models.features import featurize
from gramops.models.mlp import encode_tags, noisy_labels, train_mlp
from gramops.models.provenance import code_record, corpus_record

CORPUS = Path("data/processed")
OUT = Path("models/fp32")
log = logging.getLogger("stages.train")


def _split(name: str) -> list[dict]:
    return [r for r in read_jsonl(CORPUS / f"{name}.jsonl") if r["domain"] == "verb"]


def main() -> None:
    base, params = load_params("base", "train")
    train, dev = _split("train"), _split("dev")
    log.info("training on %d verb-domain records, early stopping on %d", len(train), len(dev))
    X_train, X_dev = featurize(train, params.features), featurize(dev, params.features)
    result = train_mlp(
        X_train,
        noisy_labels(encode_tags(r["tag"] for r in train), params.label_noise, base.seed),
        X_dev,
        encode_tags(r["tag"] for r in dev),
        params,
        base.seed,
    )
    history = [asdict(e) for e in result.history]
    config = {
        "family": "fp32",
        "architecture": {
            "type": "mlp",
            "input_dim": X_train.shape[1],
            "hidden": params.hidden,
            "activation": "relu",
            "tags": list(TAGS),
        },
        "features": params.features.model_dump(),
    }
    manifest = {
        "family": "fp32",
        "seed": base.seed,
        "params": {"train": params.model_dump()},
        "corpus": corpus_record(CORPUS, "verb", {"train": len(train), "dev": len(dev)}),
        "code": code_record("train"),
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "best_dev_accuracy": result.best_dev_accuracy,
            "history": history,
        },
        "parent_sha": None,
    }
    save_bundle(OUT, "model.safetensors", result.weights, config, manifest)
    write_json(
        Path("metrics/train.json"),
        {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "dev_tag_accuracy": round(result.best_dev_accuracy, 6),
            "parameters": int(sum(w.size for w in result.weights.values())),
        },
    )
    rows = "".join(f"{e['epoch']},{e['train_loss']:.6f},{e['dev_accuracy']:.6f}\n" for e in history)
    Path("plots").mkdir(exist_ok=True)
    Path("plots/train_history.csv").write_text("epoch,train_loss,dev_accuracy\n" + rows)
    log.info(
        "best epoch %d of %d, dev tag accuracy %.4f",
        result.best_epoch,
        len(history),
        result.best_dev_accuracy,
    )


if __name__ == "__main__":
    run(main)
