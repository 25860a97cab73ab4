"""Regenerate src/gramops/corpus/verbs.tsv (each WordNet verb's valency and semantic
class) from the pulled WordNet database: `python scripts/verb_lexicon.py [data/raw/wordnet]`.

Run it after `dvc repro pull_corpus` when the WordNet source changes; the file is
committed, because serving reads it without the database.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gramops.corpus.verb_lexicon import (
    read_lexnames,
    semantic_classes,
    valency_classes,
    write_lexicon,
)
from gramops.corpus.verbs import VERBS_FILE
from gramops.corpus.wordnet import read_first_senses, read_synsets


def main(argv: list[str]) -> int:
    wordnet = Path(argv[0] if argv else "data/raw/wordnet")
    synsets = read_synsets(wordnet / "data.verb")
    classes = semantic_classes(
        synsets, read_first_senses(wordnet / "index.verb"), read_lexnames(wordnet / "lexnames")
    )
    valencies = valency_classes(synsets)
    write_lexicon(VERBS_FILE, valencies, classes)
    print(f"{VERBS_FILE}: {len(valencies)} verbs")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
