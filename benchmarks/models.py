"""Models: INT8 vs FP32 size, throughput (verbs per second, one core) and pass rate; LoRA overhead.

Reads the pipeline's bundles (``models/fp32``, ``models/int8``, ``models/lora``) and the
reference test split (``data/processed/test.jsonl``), so run ``dvc repro`` first (``make
bench`` does). BLAS is pinned to one thread before numpy loads, as in the stages.

Throughput is whole-request inference as ``gramops predict`` does it (featurize, forward
pass, inflect the predicted tag), and the forward pass alone on the same features, over
the verb-domain test split, best of ``--repeat``, each model timed in turn within every
repeat so all see the same machine load. The pass
rate is the share of predicted forms that are grammatical in context.

    .venv/bin/python benchmarks/models.py [--repeat 5] [--repo .]
"""

from __future__ import annotations

import os

# one core, like the stages: must be set before numpy is first imported
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402 (after the thread pinning above)
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import WEIGHTS, Row, pin_one_core, print_table, verb_test_records  # noqa: E402

from gramops.inference.evaluate import pass_rate  # noqa: E402
from gramops.inference.predictor import Predictor, load_predictor  # noqa: E402
from gramops.models.features import featurize  # noqa: E402


def model_pass_rate(predictor: Predictor, records: list[dict]) -> float:
    return pass_rate(records, predictor.predict(records).forms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    pin_one_core()
    models = args.repo / "models"
    records = verb_test_records(args.repo)
    predictors = {
        "fp32": load_predictor(models / "fp32"),
        "int8": load_predictor(models / "int8"),
        "lora": load_predictor(models / "lora", base_dir=models / "fp32"),
    }
    # the model alone: the same features, the forward pass only
    features = featurize(records, predictors["fp32"].features)
    best = dict.fromkeys(predictors, float("inf"))
    forward = dict.fromkeys(predictors, float("inf"))
    for _ in range(args.repeat):
        for family, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict(records)
            best[family] = min(best[family], time.perf_counter() - start)
            start = time.perf_counter()
            predictor.proba(features)
            forward[family] = min(forward[family], time.perf_counter() - start)
    rates = {family: model_pass_rate(p, records) for family, p in predictors.items()}
    vps = {family: len(records) / best[family] for family in predictors}
    size = {f: (models / f / w).stat().st_size for f, w in WEIGHTS.items()}

    rows = [
        Row("FP32 weights", f"{size['fp32'] / 1e6:.1f} MB"),
        Row(
            "INT8 weights",
            f"{size['int8'] / 1e6:.1f} MB ({size['int8'] / size['fp32']:.1%} of FP32)",
            "<= 30%",
            size["int8"] <= 0.3 * size["fp32"],
        ),
        Row("LoRA adapter", f"{size['lora'] / 1e6:.1f} MB"),
    ]
    for family in predictors:
        rows.append(
            Row(
                f"{family} throughput, one core ({len(records):,} verbs)",
                f"{vps[family]:,.0f} verbs/s",
            )
        )
    rows.append(Row("INT8 throughput / FP32", f"{vps['int8'] / vps['fp32']:.2f}x"))
    for family in predictors:
        rows.append(
            Row(f"{family} forward pass only", f"{len(records) / forward[family]:,.0f} verbs/s")
        )
    delta = rates["int8"] - rates["fp32"]
    rows.append(Row("pass rate FP32 / INT8", f"{rates['fp32']:.4f} / {rates['int8']:.4f}"))
    rows.append(
        Row(
            "INT8 pass-rate delta",
            f"{delta * 100:+.2f} pt",
            "within ±0.5 pt",
            abs(delta) <= 0.005,
        )
    )
    overhead = best["lora"] / best["fp32"] - 1
    rows.append(Row("LoRA inference overhead over FP32, whole request", f"{overhead:+.1%}"))
    overhead = forward["lora"] / forward["fp32"] - 1
    rows.append(Row("LoRA inference overhead over FP32, forward pass", f"{overhead:+.1%}"))
    ok = print_table("Models", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
