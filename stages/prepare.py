"""Stage prepare: the labelled verb corpus (train/dev/test JSONL) and its statistics."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import write_json, write_jsonl
from gramops.core.stage import load_params, run
from gramops.corpus.build import build_corpus

WORDNET = Path("data/raw/wordnet")
OUT = Path("data/processed")
STATS = Path("metrics/corpus.json")
log = logging.getLogger("stages.prepare")


def main() -> None:
    (params,) = load_params("prepare")
    corpus = build_corpus(WORDNET, params)
    for split, records in corpus.records.items():
        write_jsonl(OUT / f"{split}.jsonl", records)
        log.info("%s: %d records", split, len(records))
    write_json(STATS, corpus.stats)


if __name__ == "__main__":
    run(main)
