"""Write src/gramops/corpus/verb_lexicon.txt from the WordNet the pull_corpus stage fetched.

  python scripts/verb_lexicon.py [WORDNET_DIR]     # default: data/raw/wordnet

The one file holds WordNet's verbs and irregular forms (requests are checked against them)
and each verb's valency and semantic class (the model features read them), so serving and
training need no WordNet database. Run it when the pinned corpus changes;
tests/data/test_verb_lexicon.py fails until then. The features read the file: a changed
file retrains the models (train and finetune declare src/gramops/corpus).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gramops.corpus.lexicon import LEXICON_FILE, lexicon_text
from gramops.corpus.wordnet import read_verb_lexicon


def main(argv: list[str]) -> int:
    wordnet = Path(argv[0] if argv else "data/raw/wordnet")
    lexicon = read_verb_lexicon(wordnet)
    LEXICON_FILE.write_text(lexicon_text(lexicon), encoding="utf-8")
    sys.stdout.write(
        f"{LEXICON_FILE}: {len(lexicon.verbs)} verbs ({len(lexicon.valencies)} with a valency, "
        f"{len(lexicon.classes)} with a semantic class), {len(lexicon.irregular)} irregular "
        f"forms from {wordnet}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
