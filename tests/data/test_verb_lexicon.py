"""The verb lexicon shipped with the package (verbs, irregular forms, valency, semantic class:
what requests are checked against and what the model features read) is exactly what the
pinned WordNet 3.0 gives: `scripts/verb_lexicon.py` rewrites it when the corpus changes."""

from __future__ import annotations

from pathlib import Path

from gramops.corpus.lexicon import LEXICON_FILE, lexicon_text
from gramops.corpus.wordnet import read_verb_lexicon


def test_the_packaged_lexicon_is_the_pulled_corpus_verbs(processed_dir: Path) -> None:
    wordnet = processed_dir.parent / "raw" / "wordnet"
    assert LEXICON_FILE.read_text(encoding="utf-8") == lexicon_text(read_verb_lexicon(wordnet)), (
        "src/gramops/corpus/verb_lexicon.txt is stale: run `python scripts/verb_lexicon.py`"
    )
