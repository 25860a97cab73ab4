"""Stage finetune: a LoRA adapter on the frozen FP32 weights for the tutor domain."""

import logging
from dataclasses import asdict
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json
from gramops.core.params import FeatureParams
from gramops.core.stage import load_params, run
from gramops.models.bundle import load_weights, read_metadata, save_bundle
from gramops.models.features import featurize
from gramops.models.identity import canonical_sha
from gramops.models.mlp import LORA_TARGETS, encode_tags, train_lora
from gramops.models.provenance import code_record, corpus_record

CORPUS = Path("data/processed")
PARENT = Path("models/fp32")
OUT = Path("models/lora")
log = logging.getLogger("stages.finetune")


def main() -> None:
    base, params = load_params("base", "finetune")
    parent_sha = canonical_sha(PARENT)
    parent_config = read_metadata(PARENT, "config.json")
    spec = FeatureParams(**parent_config["features"])

    def split(name: str) -> list[dict]:
        return [r for r in read_jsonl(CORPUS / f"{name}.jsonl") if r["domain"] == params.domain]

    train, dev = split("train"), split("dev")
    log.info(
        "adapting to %d %s-domain records, early stopping on %d",
        len(train),
        params.domain,
        len(dev),
    )
    result = train_lora(
        load_weights(PARENT / "model.safetensors", parent_config),
        featurize(train, spec),
        encode_tags(r["tag"] for r in train),
        featurize(dev, spec),
        encode_tags(r["tag"] for r in dev),
        params,
        base.seed,
    )
    history = [asdict(e) for e in result.history]
    config = {
        "family": "lora",
        "architecture": parent_config["architecture"],
        "features": parent_config["features"],
        "lora": {"rank": params.rank, "alpha": params.alpha, "targets": list(LORA_TARGETS)},
        "base_sha": parent_sha,
    }
    manifest = {
        "family": "lora",
        "seed": base.seed,
        "params": {"finetune": params.model_dump()},
        "corpus": corpus_record(CORPUS, params.domain, {"train": len(train), "dev": len(dev)}),
        "code": code_record("finetune"),
        "training": {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "base_dev_accuracy": result.base_dev_accuracy,
            "best_dev_accuracy": result.best_dev_accuracy,
            "history": history,
        },
        "parent_sha": parent_sha,
    }
    save_bundle(OUT, "adapter.safetensors", result.adapter, config, manifest)
    write_json(
        Path("metrics/finetune.json"),
        {
            "best_epoch": result.best_epoch,
            "epochs_run": len(history),
            "base_dev_tag_accuracy": round(result.base_dev_accuracy, 6),
            "dev_tag_accuracy": round(result.best_dev_accuracy, 6),
            "adapter_parameters": int(sum(w.size for w in result.adapter.values())),
        },
    )
    log.info(
        "adapter dev tag accuracy %.4f (base %.4f), best epoch %d",
        result.best_dev_accuracy,
        result.base_dev_accuracy,
        result.best_epoch,
    )


if __name__ == "__main__":
    run(main)
