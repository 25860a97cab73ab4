"""Stage quantize: INT8 per-row symmetric post-training quantization of the FP32 model."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.stage import load_params, run
from gramops.core.vocab import short
from gramops.models.bundle import load_weights, read_metadata, save_bundle
from gramops.models.identity import canonical_sha
from gramops.models.manifest import int8_metadata
from gramops.models.provenance import code_record
from gramops.models.quantize import quantize_int8

PARENT = Path("models/fp32")
OUT = Path("models/int8")
log = logging.getLogger("stages.quantize")


def main() -> None:
    (params,) = load_params("quantize")
    parent_sha = canonical_sha(PARENT)
    parent_config = read_metadata(PARENT, "config.json")
    parent_manifest = read_metadata(PARENT, "train_manifest.json")
    qweights = quantize_int8(load_weights(PARENT / "model.safetensors", parent_config))
    config, manifest = int8_metadata(
        params, parent_config, parent_manifest, parent_sha, code_record("quantize")
    )
    save_bundle(OUT, "model.safetensors", qweights, config, manifest)
    ratio = (OUT / "model.safetensors").stat().st_size / (
        PARENT / "model.safetensors"
    ).stat().st_size
    log.info("INT8 weights are %.1f%% of FP32 bytes; parent %s", 100 * ratio, short(parent_sha))


if __name__ == "__main__":
    run(main)
