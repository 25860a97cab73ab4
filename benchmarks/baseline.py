"""Our MLP beside a stronger baseline from a well-kept library, on the same splits.

scikit-learn's multinomial logistic regression (L2, lbfgs) on exactly the features the
pipeline's FP32 model reads (``params.yaml: train.features``, the same training records
and template sentences), chosen by dev strict accuracy over a small grid of C, against
``gramops.models.mlp.train_mlp`` with ``params.yaml: train``. Both answer through the same
form decision (tags spelling alike pooled, ``be`` agreeing), so the figures differ only
by the classifier. Single-threaded; training time includes neither featurization nor
data loading.

Runs in the separate scikit-learn environment, not the project's:

    bash benchmarks/setup_sklearn.sh
    PYTHONPATH=src benchmarks/.venv-sklearn/bin/python benchmarks/baseline.py
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

from gramops.core.params import TrainParams
from gramops.inference.predictor import pooled, tag_forms
from gramops.models.features import featurize
from gramops.models.mlp import encode_tags, predict_proba, train_mlp
from gramops.models.templates import template_records


def split(corpus: Path, name: str, domain: str) -> list[dict]:
    with (corpus / f"{name}.jsonl").open(encoding="utf-8") as lines:
        return [r for r in map(json.loads, lines) if r["domain"] == domain]


def scores(proba: np.ndarray, records: list[dict]) -> tuple[float, float]:
    forms = [pooled(p, tag_forms(r))[0] for p, r in zip(proba, records, strict=True)]
    strict = np.mean([f == r["form"] for f, r in zip(forms, records, strict=True)])
    passed = np.mean([f in r["acceptable"] for f, r in zip(forms, records, strict=True)])
    return float(strict), float(passed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/processed"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--grid", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0])
    args = parser.parse_args()
    raw = yaml.safe_load(args.params.read_text(encoding="utf-8"))
    params, seed = TrainParams(**raw["train"]), raw["base"]["seed"]
    train = split(args.corpus, "train", "verb") + template_records(params.templates, seed)
    dev, test = split(args.corpus, "dev", "verb"), split(args.corpus, "test", "verb")
    X_train, X_dev, X_test = (featurize(s, params.features) for s in (train, dev, test))
    y_train, y_dev = encode_tags(r["tag"] for r in train), encode_tags(r["tag"] for r in dev)

    started = time.process_time()
    mlp = train_mlp(X_train, y_train, X_dev, y_dev, params, seed)
    rows = [("gramops MLP", time.process_time() - started, mlp.weights, None)]
    best = None
    for c in args.grid:
        started = time.process_time()
        model = LogisticRegression(C=c, max_iter=3000).fit(X_train, y_train)
        seconds = time.process_time() - started
        dev_strict = scores(model.predict_proba(X_dev), dev)[0]
        print(f"  logistic regression C={c:g}: dev strict {dev_strict:.4f} ({seconds:.1f} s)")
        if best is None or dev_strict > best[0]:
            best = (dev_strict, c, seconds, model)
    rows.append((f"logistic regression (C={best[1]:g})", best[2], None, best[3]))

    print(f"\n{len(train)} training records ({params.templates} templates), verb-domain splits")
    print("| model | dev strict | dev pass | test strict | test pass | train CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, seconds, weights, model in rows:

        def proba(X, weights=weights, model=model):
            return predict_proba(weights, X) if model is None else model.predict_proba(X)

        figures = (*scores(proba(X_dev), dev), *scores(proba(X_test), test))
        cells = " | ".join(f"{v:.4f}" for v in figures)
        print(f"| {name} | {cells} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
