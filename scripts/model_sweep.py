"""Measure a training change on dev and on a hold-out, over several seeds, without the test split.

`python scripts/model_sweep.py [--set train.hidden=32 ...] [--seeds 20261123,1,2]
[--holdout 0.15] [--lora]` trains the FP32 model (and the LoRA adapter on it) as the train
and finetune stages do, with params.yaml's values overridden by each ``--set``, and prints
per seed and on average: verb strict accuracy and pass rate on dev, and, with
``--holdout``, on that share of the verb (and tutor) training split, which is then left out
of training. The hold-out's ECE uses a temperature fitted on dev, as the evaluate stage
does, so it shows what dev-fitted calibration does on unseen records. Dev picks the
epoch, so dev overstates accuracy; the hold-out does not (it tracked the test split within
0.1 pt in issue 15). Needs `dvc repro prepare` first (data/processed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from gramops.core.fileio import read_jsonl
from gramops.core.params import FinetuneParams, TrainParams
from gramops.inference.calibration import answers, expected_calibration_error, fit_temperature
from gramops.inference.predictor import Predictor, tempered
from gramops.models.features import featurize
from gramops.models.lora import predict_proba_lora, train_lora
from gramops.models.mlp import encode_tags, predict_proba, train_mlp
from gramops.models.templates import template_records

CORPUS = Path("data/processed")


def split(name: str, domain: str) -> list[dict]:
    return [r for r in read_jsonl(CORPUS / f"{name}.jsonl") if r["domain"] == domain]


def holdout(records: list[dict], share: float) -> tuple[list[dict], list[dict]]:
    picked = np.random.default_rng(99).random(len(records)) < share
    kept = [r for r, p in zip(records, picked, strict=True) if not p]
    return kept, [r for r, p in zip(records, picked, strict=True) if p]


def score(predictor: Predictor, dev: list[dict], records: list[dict]) -> list[float]:
    """Strict accuracy, pass rate and ECE (15 bins, temperature fitted on ``dev``)."""
    if not records:
        return []
    out = predictor.predict(records)
    strict = np.mean([f == r["form"] for f, r in zip(out.forms, records, strict=True)])
    passed = np.mean([f in r["acceptable"] for f, r in zip(out.forms, records, strict=True)])
    temperature = fit_temperature(predictor.tag_proba(dev), dev)
    confidence, correct = answers(tempered(predictor.tag_proba(records), temperature), records)
    return [float(strict), float(passed), expected_calibration_error(confidence, correct, 15)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", default=[], help="params key=value overrides")
    parser.add_argument("--seeds", default="20261123,1,2")
    parser.add_argument("--holdout", type=float, default=0.0, help="share of train held out")
    parser.add_argument("--lora", action="store_true", help="also train the tutor adapter")
    args = parser.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())
    for item in args.set:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    train_p, tune_p = TrainParams(**params["train"]), FinetuneParams(**params["finetune"])
    features = train_p.features
    verb, verb_hold = holdout(split("train", "verb"), args.holdout)
    tutor, tutor_hold = holdout(split("train", "tutor"), args.holdout)
    dev, tutor_dev = split("dev", "verb"), split("dev", "tutor")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        train = verb + template_records(train_p.templates, seed)
        tags = encode_tags(r["tag"] for r in train)
        dev_x, dev_y = featurize(dev, features), encode_tags(r["tag"] for r in dev)
        weights = train_mlp(featurize(train, features), tags, dev_x, dev_y, train_p, seed).weights
        base = Predictor("fp32", features, lambda X, w=weights: predict_proba(w, X))
        row = score(base, dev, dev)[:2] + score(base, dev, verb_hold)
        if args.lora:
            adapter = train_lora(
                weights,
                featurize(tutor, features),
                encode_tags(r["tag"] for r in tutor),
                featurize(tutor_dev, features),
                encode_tags(r["tag"] for r in tutor_dev),
                tune_p,
                seed,
            ).adapter

            def lora_proba(X, w=weights, a=adapter):
                return predict_proba_lora(w, a, X, tune_p.alpha, tune_p.rank)

            lora = Predictor("lora", features, lora_proba)
            row += score(lora, tutor_dev, tutor_dev)[:1] + score(lora, tutor_dev, tutor_hold)[:1]
        rows.append(row)
        sys.stdout.write(f"seed {seed}: " + " ".join(f"{x:.4f}" for x in row) + "\n")
        sys.stdout.flush()
    names = ["dev strict", "dev pass"]
    names += ["hold strict", "hold pass", "hold ECE"] if args.holdout else []
    names += ["lora dev tutor", "lora hold tutor"][: 1 + bool(args.holdout)] if args.lora else []
    for name, values in zip(names, np.array(rows).T, strict=True):
        low, high = values.min(), values.max()
        sys.stdout.write(f"{name:>16}: mean {values.mean():.4f}  min {low:.4f}  max {high:.4f}\n")


if __name__ == "__main__":
    main()
