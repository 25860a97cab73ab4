"""Write src/gramops/corpus/verb_lexicon.txt from the WordNet the pull_corpus stage fetched.

  python scripts/verb_lexicon.py [WORDNET_DIR]     # default: data/raw/wordnet

Run it when the pinned corpus changes; tests/data/test_verb_lexicon.py fails until then.
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
        f"{LEXICON_FILE}: {len(lexicon.verbs)} verbs, {len(lexicon.irregular)} irregular forms "
        f"from {wordnet}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
