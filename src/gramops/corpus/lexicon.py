"""The verbs WordNet knows, for checking a request's lemma before a model inflects it.

A model inflects whatever lemma it is given (``went`` -> ``wents``), so the lemma is checked
first against WordNet 3.0's verbs (every lemma of ``data.verb``) and its verb exception list
(``verb.exc``: irregular forms such as ``went`` -> ``go``). Both must be at hand wherever a
model answers, on a fresh clone and in a server that never ran the pipeline, so they ship
with the package as ``verb_lexicon.txt``: derived from the pinned, hash-verified corpus by
``scripts/verb_lexicon.py`` (:func:`gramops.corpus.wordnet.read_verb_lexicon`; WordNet's
licence is ``WORDNET_LICENSE`` beside it), and compared with the corpus ``pull_corpus``
fetched by ``tests/data/test_verb_lexicon.py``. Reading it needs no WordNet parser, so a
server's import closure stays small.

Base forms of regular inflections follow WordNet's own ``morphy`` detachment rules for verbs
(``-s``, ``-ies``, ``-es``, ``-ed``, ``-ing``), plus the doubled final consonant
(``stopped`` -> ``stop``) that morphy leaves to the exception list.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from gramops.core.errors import GramopsError

LEXICON_FILE = Path(__file__).with_name("verb_lexicon.txt")
_VERBS, _EXCEPTIONS = "[verbs]", "[exceptions]"
# morphy(7WN), verbs: (suffix, replacement), tried in this order
_DETACHMENTS = (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""))
_DETACHMENTS += (("ing", "e"), ("ing", ""))


@dataclass(frozen=True, eq=False)  # hashed by identity: one per process, cached lookups
class VerbLexicon:
    """WordNet's verb lemmas (lowercase, multiword joined by ``_`` as WordNet writes them)
    and its irregular forms, each mapped to the lemmas it inflects."""

    verbs: frozenset[str]
    irregular: Mapping[str, tuple[str, ...]]

    def is_verb(self, word: str) -> bool:
        return word in self.verbs

    def base_forms(self, word: str) -> tuple[str, ...]:
        """The verbs ``word`` is an inflected form of (``went`` -> go, ``walked`` -> walk)."""
        found = [lemma for lemma in self.irregular.get(word, ()) if lemma in self.verbs]
        for suffix, replacement in _DETACHMENTS:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                stem = word[: -len(suffix)] + replacement
                candidates = [stem]
                if suffix in ("ed", "ing") and len(stem) > 2 and stem[-1] == stem[-2]:
                    candidates.append(stem[:-1])  # stopped -> stop
                found += [c for c in candidates if c in self.verbs]
        return tuple(dict.fromkeys(found))

    def close_to(self, word: str) -> str | None:
        """The one-word verb spelled most like ``word``, if any is close."""
        return _close(self, word)


@lru_cache(maxsize=4096)
def _close(lexicon: VerbLexicon, word: str) -> str | None:
    single = _single_words(lexicon)
    matches = difflib.get_close_matches(word, single, n=1, cutoff=0.8)
    return matches[0] if matches else None


@cache
def _single_words(lexicon: VerbLexicon) -> tuple[str, ...]:
    return tuple(sorted(v for v in lexicon.verbs if "_" not in v))


def lexicon_text(lexicon: VerbLexicon) -> str:
    """The lexicon as ``verb_lexicon.txt`` holds it: one verb, then one ``form lemma...``
    per line, sorted, under a header saying where it came from."""
    header = (
        "# Princeton WordNet 3.0: every verb lemma of data.verb, then verb.exc's irregular\n"
        "# forms (form lemma...). Written by scripts/verb_lexicon.py from data/raw/wordnet;\n"
        "# WordNet's licence: WORDNET_LICENSE, beside this file.\n"
    )
    irregular = [f"{form} {' '.join(lemmas)}" for form, lemmas in lexicon.irregular.items()]
    lines = [_VERBS, *sorted(lexicon.verbs), _EXCEPTIONS, *irregular]
    return header + "\n".join(lines) + "\n"


def parse_lexicon(text: str, where: str) -> VerbLexicon:
    verbs: list[str] = []
    irregular: dict[str, tuple[str, ...]] = {}
    section = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        if line in (_VERBS, _EXCEPTIONS):
            section = line
        elif section == _VERBS and len(line.split()) == 1:
            verbs.append(line.strip())
        elif section == _EXCEPTIONS and len(line.split()) >= 2:
            form, *lemmas = line.split()
            irregular[form] = tuple(lemmas)
        else:
            raise GramopsError(
                f"{where}:{number}: expected a verb under {_VERBS} or 'form lemma...' under "
                f"{_EXCEPTIONS}; rewrite the file with scripts/verb_lexicon.py"
            )
    return VerbLexicon(frozenset(verbs), irregular)


@cache
def packaged_lexicon() -> VerbLexicon:
    """The lexicon shipped with the package (read once per process)."""
    if not LEXICON_FILE.is_file():
        raise GramopsError(
            f"{LEXICON_FILE} is missing: the package was installed without its data; "
            "reinstall it, or rebuild the file with scripts/verb_lexicon.py"
        )
    return parse_lexicon(LEXICON_FILE.read_text(encoding="utf-8"), str(LEXICON_FILE))
