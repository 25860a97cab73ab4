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

The same file is what the model features know of a verb beyond its sentence
(:func:`gramops.models.cues.lexicon_features`), so it is part of what builds a model. Valency
decides the commonest slip after ``be``: ``the children were ___`` (laugh) can only be
progressive, because ``laugh`` takes no object and has no passive, while ``the prisoners
were ___`` (deny) is passive. WordNet lists each verb sense's sentence frames ("Somebody
----s", "Somebody ----s something"); a lemma is ``intr`` when none of its senses has a frame
with an object, ``trans`` when all have one, ``mostly-intr`` or ``mostly-trans`` in between.
The semantic class is the lexicographer file of the lemma's first (most frequent) sense:
``verb.stative`` verbs (``contain``, ``belong``) are mostly described in the present,
``verb.motion`` ones mostly narrated in the past. The tense spellings are the lemmas' past
(``walked``, ``sat``) and third-person present (``walks``, ``sits``) forms that are no other
tense's form: another finite verb of the sentence in one of them sets its time.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.corpus.inflection import forms

LEXICON_FILE = Path(__file__).with_name("verb_lexicon.txt")
_VERBS, _EXCEPTIONS = "[verbs]", "[exceptions]"
# morphy(7WN), verbs: (suffix, replacement), tried in this order
_DETACHMENTS = (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""))
_DETACHMENTS += (("ing", "e"), ("ing", ""))
VALENCIES = ("intr", "mostly-intr", "mostly-trans", "trans")
UNKNOWN = "unknown"


@dataclass(frozen=True, eq=False)  # hashed by identity: one per process, cached lookups
class VerbLexicon:
    """WordNet's verb lemmas (lowercase, multiword joined by ``_`` as WordNet writes them),
    its irregular forms, each mapped to the lemmas it inflects, and each lemma's valency and
    semantic class."""

    verbs: frozenset[str]
    irregular: Mapping[str, tuple[str, ...]]
    valencies: Mapping[str, str]
    classes: Mapping[str, str]

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

    def valency(self, lemma: str) -> str:
        """The lemma's valency class, or ``unknown`` for a verb WordNet does not list."""
        return self.valencies.get(lemma.lower(), UNKNOWN)

    def semantic_class(self, lemma: str) -> str:
        """The lemma's first sense's lexicographer file (``verb.stative``), or ``unknown``."""
        return self.classes.get(lemma.lower(), UNKNOWN)

    def tense_spellings(self) -> tuple[frozenset[str], frozenset[str]]:
        """(past-only, present-3sg-only) spellings of the one-word lemmas."""
        return _tense_spellings(self)


@cache
def _tense_spellings(lexicon: VerbLexicon) -> tuple[frozenset[str], frozenset[str]]:
    past: set[str] = set()
    present: set[str] = set()
    for lemma in sorted(lexicon.verbs):
        if "_" not in lemma:
            table = forms(lemma)
            past.update(table["VBD"])
            present.update(table["VBZ"])
    both = past & present
    return frozenset(past - both), frozenset(present - both)


@lru_cache(maxsize=4096)
def _close(lexicon: VerbLexicon, word: str) -> str | None:
    single = _single_words(lexicon)
    matches = difflib.get_close_matches(word, single, n=1, cutoff=0.8)
    return matches[0] if matches else None


@cache
def _single_words(lexicon: VerbLexicon) -> tuple[str, ...]:
    return tuple(sorted(v for v in lexicon.verbs if "_" not in v))


def lexicon_text(lexicon: VerbLexicon) -> str:
    """The lexicon as ``verb_lexicon.txt`` holds it: one ``verb valency class``, then one
    ``form lemma...`` per line, sorted, under a header saying where it came from."""
    header = (
        "# Princeton WordNet 3.0: every verb lemma of data.verb with its valency (its senses'\n"
        "# frames) and semantic class (its first sense's lexicographer file), then verb.exc's\n"
        "# irregular forms (form lemma...). Written by scripts/verb_lexicon.py from\n"
        "# data/raw/wordnet; WordNet's licence: WORDNET_LICENSE, beside this file.\n"
    )
    verbs = [
        f"{verb} {lexicon.valency(verb)} {lexicon.semantic_class(verb)}"
        for verb in sorted(lexicon.verbs)
    ]
    irregular = [f"{form} {' '.join(lemmas)}" for form, lemmas in lexicon.irregular.items()]
    return header + "\n".join([_VERBS, *verbs, _EXCEPTIONS, *irregular]) + "\n"


def parse_lexicon(text: str, where: str) -> VerbLexicon:
    verbs: list[str] = []
    irregular: dict[str, tuple[str, ...]] = {}
    valencies: dict[str, str] = {}
    classes: dict[str, str] = {}
    section = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if line in (_VERBS, _EXCEPTIONS):
            section = line
        elif section == _VERBS and len(fields) == 3 and fields[1] in (*VALENCIES, UNKNOWN):
            verb, valency, semantic_class = fields
            verbs.append(verb)
            if valency != UNKNOWN:
                valencies[verb] = valency
            if semantic_class != UNKNOWN:
                classes[verb] = semantic_class
        elif section == _EXCEPTIONS and len(fields) >= 2:
            irregular[fields[0]] = tuple(fields[1:])
        else:
            raise GramopsError(
                f"{where}:{number}: expected 'verb valency class' under {_VERBS} (valency one "
                f"of {', '.join(VALENCIES)}, {UNKNOWN}) or 'form lemma...' under "
                f"{_EXCEPTIONS}; rewrite the file with scripts/verb_lexicon.py"
            )
    return VerbLexicon(frozenset(verbs), irregular, valencies, classes)


@cache
def packaged_lexicon() -> VerbLexicon:
    """The lexicon shipped with the package (read once per process)."""
    if not LEXICON_FILE.is_file():
        raise GramopsError(
            f"{LEXICON_FILE} is missing: the package was installed without its data; "
            "reinstall it, or rebuild the file with scripts/verb_lexicon.py"
        )
    return parse_lexicon(LEXICON_FILE.read_text(encoding="utf-8"), str(LEXICON_FILE))
