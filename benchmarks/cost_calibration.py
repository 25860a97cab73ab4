"""Cost calibration: fit this machine's `cost.calibration` constants from timed inference.

The cpqu stage prices a model by its *counted* work (``gramops.monitoring.cost.count_work``:
multiply-accumulates, bytes of weights read, active features, sort comparisons, calls),
converted to CPU time with per-machine constants. This script measures them once per
machine: it times whole-request inference (featurize, forward pass, inflect; CPU time,
one core, median of ``--repeat`` after a warm-up) of the pipeline's three models
(``models/fp32``, ``models/int8``, ``models/lora``) and of same-code variants with other
hidden widths (random weights: cost does not depend on values, and a second width is what
separates the cost of a MAC from the cost of an active feature; kept near the real width
because the per-byte cost of transposing ``W1`` grows with width, 2.6 ns per value at 48
and 5 at 256 on the project machine), over batches of several
sizes cut from the verb-domain test split. It fits the constants by non-negative least
squares on relative error, prints counted against measured per model and batch, and the
``params.yaml`` lines to paste. Run ``dvc repro`` first (``make bench`` does).

    .venv/bin/python benchmarks/cost_calibration.py [--repeat 7] [--repo .]
"""

from __future__ import annotations

import os

# one core, like the stages: must be set before numpy is first imported
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402 (after the thread pinning above)
import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from dataclasses import astuple, dataclass, fields  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from common import WEIGHTS, Row, machine, pin_one_core, print_table, verb_test_records  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

from gramops.core.params import CostCalibration  # noqa: E402
from gramops.inference.predictor import Predictor, load_predictor  # noqa: E402
from gramops.models.bundle import load_weights, read_metadata  # noqa: E402
from gramops.models.features import featurize  # noqa: E402
from gramops.models.lora import init_lora, predict_proba_lora  # noqa: E402
from gramops.models.mlp import init_weights, predict_proba  # noqa: E402
from gramops.models.quantize import predict_proba_int8, quantize_int8  # noqa: E402
from gramops.monitoring import cost  # noqa: E402

# order of the constants: the fields of cost.Work, each turned into a rate
TERMS = [f.name for f in fields(cost.Work)]
RATE_KEYS = {
    "macs": "macs_per_us",
    "weight_bytes": "weight_bytes_per_us",
    "active_features": "features_per_us",
    "sort_compares": "sort_compares_per_us",
}


@dataclass(frozen=True)
class Subject:
    """A model to time: its family, hidden width, tensors (for counting) and predictor."""

    name: str
    family: str
    hidden: int
    tensors: dict[str, np.ndarray]
    predictor: Predictor


def real_models(models: Path) -> list[Subject]:
    out = []
    for family, weights in WEIGHTS.items():
        bundle = models / family
        config = read_metadata(bundle, "config.json")
        tensors = load_weights(bundle / weights, config)
        base = models / "fp32" if family == "lora" else None
        if base is not None:
            tensors = {**load_weights(base / WEIGHTS["fp32"], read_metadata(base, "config.json")),
                       **tensors}  # fmt: skip
        predictor = load_predictor(bundle, base_dir=base)
        out.append(Subject(family, family, config["architecture"]["hidden"], tensors, predictor))
    return out


def width_variants(real: list[Subject], hidden: int, seed: int) -> list[Subject]:
    """The three families at another hidden width, random weights, the same code path."""
    features = real[0].predictor.features
    lora = real[2].tensors
    rank = lora["W1.lora_A"].shape[0]
    alpha = rank * 2.0
    rng = np.random.default_rng(seed)
    fp32 = init_weights(2**features.hash_bits, hidden, 50.0, rng)
    int8 = quantize_int8(fp32)
    adapter = init_lora(fp32, rank, 50.0, rng)
    return [
        Subject(
            f"fp32 h{hidden}", "fp32", hidden, fp32,
            Predictor("fp32", features, lambda X: predict_proba(fp32, X)),
        ),
        Subject(
            f"int8 h{hidden}", "int8", hidden, int8,
            Predictor("int8", features, lambda X: predict_proba_int8(int8, X)),
        ),
        Subject(
            f"lora h{hidden}", "lora", hidden, {**fp32, **adapter},
            Predictor(
                "lora", features,
                lambda X: predict_proba_lora(fp32, adapter, X, alpha, rank),
            ),
        ),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--widths", type=int, nargs="+", default=[48, 80])
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[0, 400, 120, 40],
        help="requests per call; 0 is the whole split (the stage's workload)",
    )
    args = parser.parse_args()
    pin_one_core()
    models = args.repo / "models"
    records = verb_test_records(args.repo)
    real = real_models(models)
    subjects = real + [s for w in args.widths for s in width_variants(real, w, seed=w)]

    points = []  # (subject, batch size, workload, work, measured µs)
    for size in args.batches:
        batch = records[: size or len(records)]
        X = featurize(batch, real[0].predictor.features)
        load = cost.workload(X, sum(len(r["tokens"]) for r in batch))
        for subject in subjects:
            work = cost.count_work(subject.family, cost.tensor_shapes(subject.tensors), load)
            seconds = cost.median(
                cost.measure_cpu_seconds(
                    lambda p=subject.predictor, b=batch: p.predict(b), args.repeat
                )
            )
            points.append((subject, load, work, seconds * 1e6))

    A = np.array([astuple(work) for _, _, work, _ in points], dtype=np.float64)
    y = np.array([us for *_, us in points])
    # relative error: a 40-request batch matters as much as the whole split
    coef, _ = nnls(A / y[:, None], np.ones_like(y))
    fitted = A @ coef
    unidentified = [t for t, c in zip(TERMS, coef, strict=True) if c <= 0]

    print(f"\n## Counted vs measured CPU time per 1k tokens\n\n{machine()}\n")
    print("| model | hidden | requests | tokens | counted µs/1k | measured µs/1k | error |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (subject, load, _, us), fit in zip(points, fitted, strict=True):
        print(
            f"| {subject.name} | {subject.hidden} | {load.requests} | {load.tokens} "
            f"| {fit * 1000 / load.tokens:.1f} | {us * 1000 / load.tokens:.1f} "
            f"| {fit / us - 1:+.1%} |"
        )
    errors = np.abs(fitted / y - 1)
    whole = len(records)
    stage = [i for i, (s, load, *_) in enumerate(points) if s in real and load.requests == whole]
    rows = [
        Row("points fitted (models x batches)", f"{len(points)}"),
        Row(
            "largest |counted / measured - 1|, all points",
            f"{errors.max():.1%}",
            "<= 25%",
            bool(errors.max() <= 0.25),
        ),
        Row(
            "... the stage's workload (real models, whole split)",
            ", ".join(f"{points[i][0].name} {fitted[i] / y[i] - 1:+.1%}" for i in stage),
            "<= 10% each",
            bool(all(errors[i] <= 0.10 for i in stage)),
        ),
        Row(
            "every constant identified (non-zero)",
            "yes" if not unidentified else f"no: {', '.join(unidentified)}",
            "yes",
            not unidentified,
        ),
    ]
    ok = print_table("Cost calibration fit", rows)
    if unidentified:
        print(f"\n{', '.join(unidentified)} got no cost from the fit; add --widths/--batches.")
        return 1

    values = dict(zip(TERMS, coef, strict=True))
    calibration = CostCalibration(
        **{key: float(f"{1 / values[term]:.4g}") for term, key in RATE_KEYS.items()},
        us_per_call=float(f"{values['calls']:.4g}"),
        machine=(
            f"{os.cpu_count()} cores {platform.machine()} {platform.processor() or ''}".strip()
            + f", fitted {datetime.date.today().isoformat()} by benchmarks/cost_calibration.py"
        ),
    )
    print("\nparams.yaml, section cost:\n\n  calibration:")
    for key, value in calibration.model_dump().items():
        if isinstance(value, str):
            # unquoted where YAML allows, as `dvc exp run -S` writes params.yaml
            plain = yaml.safe_load(f"k: {value}") == {"k": value}
            print(f"    {key}: {value}" if plain else f"    {key}: {value!r}")
        else:
            print(f"    {key}: {value:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
