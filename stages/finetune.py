"""Stage finetune: a LoRA adapter on the frozen FP32 weights for the tutor domain."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json
from gramops.core.params import FeatureParams
from gramops.core.stage import load_params, run
from gramops.models.bundle import load_weights, read_metadata, save_bundle
from gramops.models.features import featurize
from gramops.models.identity import canonical_sha
from gramops.models.lora import train_lora
from gramops.models.manifest import lora_metadata
from gramops.models.mlp import encode_tags
from gramops.models.provenance import code_record, corpus_record

CORPUS = Path("data/processed")
PARENT = Path("models/fp32")
OUT = Path("models/lora")
log = logging.getLogger("stages.finetune")


def _split(name: str, domain: str) -> list[dict]:
    return [r for r in read_jsonl(CORPUS / f"{name}.jsonl") if r["domain"] == domain]


def main() -> None:
    base, params = load_params("base", "finetune")
    parent_sha = canonical_sha(PARENT)
    parent_config = read_metadata(PARENT, "config.json")
    spec = FeatureParams(**parent_config["features"])
    train, dev = _split("train", params.domain), _split("dev", params.domain)
    sizes = (len(train), params.domain, len(dev))
    log.info("adapting to %d %s-domain records, early stopping on %d", *sizes)
    result = train_lora(
        load_weights(PARENT / "model.safetensors", parent_config),
        featurize(train, spec),
        encode_tags(r["tag"] for r in train),
        featurize(dev, spec),
        encode_tags(r["tag"] for r in dev),
        params,
        base.seed,
    )
    corpus = corpus_record(CORPUS, params.domain, {"train": len(train), "dev": len(dev)})
    config, manifest = lora_metadata(
        params, base.seed, parent_config, parent_sha, result, corpus, code_record("finetune")
    )
    save_bundle(OUT, "adapter.safetensors", result.adapter, config, manifest)
    write_json(Path("metrics/finetune.json"), result.metrics())
    log.info(
        "adapter dev tag accuracy %.4f (base %.4f), best epoch %d",
        result.best_dev_accuracy,
        result.base_dev_accuracy,
        result.best_epoch,
    )


if __name__ == "__main__":
    run(main)
