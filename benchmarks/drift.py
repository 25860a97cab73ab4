"""PSI + KL + JS on 1M reference and 1M current rows: gramops.monitoring.drift against Evidently.

Two features: one numeric (normal, the current mean and spread moved) and one categorical
with 2,000 categories (Zipf-like, the current order of the 200 most frequent shuffled).

Identical binning on both sides: gramops bins the numeric feature by reference deciles
and Evidently receives those bin codes as a categorical column (its own numeric path
would use Sturges bins over the combined data, which moves PSI); the categorical feature
is passed to both as is. Evidently only differs from gramops where a share is 0 or below
epsilon, so the data are drawn with every category's share well above epsilon and
the script checks that no floor applies; values must then agree to 1e-9.

gramops is timed from raw values (quantile edges, binning, counts, statistics) and,
separately, for the whole ``drift_report`` (adds the no-shift bootstrap). Evidently is
timed for ``Report.run`` on the pre-binned data (the binning is not charged to it), plus
once on raw input, its usual use, for context. Best of ``--repeat`` runs each.

Runs in the separate Evidently environment, not the project's:

    bash benchmarks/setup_evidently.sh
    PYTHONPATH=src benchmarks/.venv-evidently/bin/python benchmarks/drift.py
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gramops.core.params import DriftParams
from gramops.monitoring import drift

METHODS = {"psi": "psi", "kl": "kl_div", "js": "jensenshannon"}


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def make_data(rows: int, categories: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Seeded rows; categories as object arrays of str, as parsed JSONL or a DataFrame
    column holds them (Evidently gets the same objects in its DataFrame)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"lemma{i:05d}" for i in range(categories)])
    weights = (np.arange(categories) + 20.0) ** -0.8
    weights /= weights.sum()
    shifted = weights.copy()
    top = min(200, categories)
    shifted[:top] = rng.permutation(shifted[:top])
    return {
        "reference": {
            "x": rng.normal(0.0, 1.0, rows),
            "lemma": names[rng.choice(categories, rows, p=weights)].astype(object),
        },
        "current": {
            "x": rng.normal(0.1, 1.1, rows),
            "lemma": names[rng.choice(categories, rows, p=shifted)].astype(object),
        },
    }


def floor_applies(reference: np.ndarray, current: np.ndarray, epsilon: float) -> bool:
    """True when a bin used by either side has a share below epsilon on some side."""
    used = (reference > 0) | (current > 0)
    low = (reference / reference.sum() < epsilon) | (current / current.sum() < epsilon)
    return bool((used & low).any())


def gramops_statistics(data: dict[str, dict[str, np.ndarray]], params: DriftParams) -> dict:
    """Bin both features from raw values and compute PSI, KL and JS."""
    ref, cur = data["reference"], data["current"]
    counts = {}
    codes = {}
    for name, kind in (("x", "numeric"), ("lemma", "categorical")):
        binning, ref_counts = drift.fit_binning(ref[name], kind, params)
        cur_codes = binning.codes(cur[name])
        counts[name] = (ref_counts, np.bincount(cur_codes, minlength=binning.n_bins))
        codes[name] = binning
    return {
        "stats": {n: drift.statistics(r, c, params.epsilon) for n, (r, c) in counts.items()},
        "floors": {n: floor_applies(r, c, params.epsilon) for n, (r, c) in counts.items()},
        "x_binning": codes["x"],
    }


def evidently_frames(
    data: dict[str, dict[str, np.ndarray]], x_binning: drift.Binning | None
) -> dict[str, pd.DataFrame]:
    """Evidently's input: x as gramops bin codes (identical bins) or raw (its own bins)."""
    return {
        side: pd.DataFrame(
            {
                "x": data[side]["x"] if x_binning is None else x_binning.codes(data[side]["x"]),
                "lemma": data[side]["lemma"],
            }
        )
        for side in ("reference", "current")
    }


def evidently_run(frames: dict[str, pd.DataFrame], binned: bool) -> dict[str, dict[str, float]]:
    """Build Evidently datasets and run a report of PSI, KL and JS on both columns."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = (
        DataDefinition(categorical_columns=["x", "lemma"])
        if binned
        else DataDefinition(numerical_columns=["x"], categorical_columns=["lemma"])
    )
    metrics = [
        ValueDrift(column=column, method=method)
        for column in ("x", "lemma")
        for method in METHODS.values()
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(frames["current"], data_definition=definition),
        Dataset.from_pandas(frames["reference"], data_definition=definition),
    )
    by_method = {v: k for k, v in METHODS.items()}
    values: dict[str, dict[str, float]] = {"x": {}, "lemma": {}}
    for item in snapshot.dict()["metrics"]:
        config = item["config"]
        values[config["column"]][by_method[config["method"]]] = float(item["value"])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--categories", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()

    try:
        import evidently
    except ImportError:
        raise SystemExit(
            "evidently is not installed here: run `bash benchmarks/setup_evidently.sh` and "
            "`PYTHONPATH=src benchmarks/.venv-evidently/bin/python benchmarks/drift.py`"
        ) from None
    warnings.filterwarnings("ignore")  # Evidently's deprecation chatter

    params = DriftParams(
        bins=10,
        top_lemmas=args.categories,
        epsilon=1e-4,
        psi_moderate=0.1,
        psi_major=0.25,
        kl_threshold=0.1,
        null_quantile=0.99,
        null_samples=200,
    )
    data = make_data(args.rows, args.categories, args.seed)
    print(
        f"{args.rows:,} reference + {args.rows:,} current rows; numeric x ({params.bins} "
        f"reference-quantile bins), categorical lemma ({args.categories:,} categories); "
        f"best of {args.repeat}"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"evidently {evidently.__version__}, {platform.processor() or platform.machine()}"
    )

    t_ours, ours = best_of(args.repeat, lambda: gramops_statistics(data, params))
    kinds: dict[str, drift.Kind] = {"x": "numeric", "lemma": "categorical"}
    t_report, _ = best_of(
        args.repeat,
        lambda: drift.drift_report(data["reference"], data["current"], kinds, params, args.seed),
    )
    binned = evidently_frames(data, ours["x_binning"])
    t_evidently, theirs = best_of(args.repeat, lambda: evidently_run(binned, binned=True))
    raw = evidently_frames(data, None)
    t_raw, theirs_raw = best_of(1, lambda: evidently_run(raw, binned=False))

    print()
    print(f"{'feature':8} {'stat':4} {'gramops':>14} {'evidently':>14} {'|diff|':>9}")
    largest = 0.0
    for feature in ("x", "lemma"):
        for stat in METHODS:
            a, b = ours["stats"][feature][stat], theirs[feature][stat]
            largest = max(largest, abs(a - b))
            print(f"{feature:8} {stat:4} {a:14.10f} {b:14.10f} {abs(a - b):9.1e}")
    if any(ours["floors"].values()):
        print("note: a share fell below epsilon; the two epsilon rules then differ")
    print()
    print(f"gramops PSI+KL+JS from raw values  {t_ours:8.3f} s")
    print(f"gramops drift_report (+ no-shift)  {t_report:8.3f} s")
    print(f"Evidently report, identical bins   {t_evidently:8.3f} s")
    print(f"Evidently report, raw input        {t_raw:8.3f} s  (its own Sturges bins on x)")
    print()
    print(
        f"speed-up vs Evidently (identical bins): {t_evidently / t_ours:6.1f}x statistics, "
        f"{t_evidently / t_report:6.1f}x drift_report"
    )
    print(
        f"speed-up vs Evidently (raw input):      {t_raw / t_ours:6.1f}x statistics, "
        f"{t_raw / t_report:6.1f}x drift_report"
    )
    print(
        f"largest |difference| under identical binning: {largest:.2e} "
        f"({'OK' if largest <= 1e-9 else 'ABOVE'} 1e-9)"
    )
    raw_x = ", ".join(f"{s} {theirs_raw['x'][s]:.6f}" for s in METHODS)
    ours_x = ", ".join(f"{s} {ours['stats']['x'][s]:.6f}" for s in METHODS)
    print(f"x with Evidently's own bins: {raw_x}; with reference deciles: {ours_x}")


if __name__ == "__main__":
    main()
