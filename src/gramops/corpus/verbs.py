"""What WordNet knows of a verb beyond its example sentences: its valency, its semantic
class, and the spellings that show a tense.

Valency decides the commonest slip after ``be``: ``the children were ___`` (laugh) can
only be progressive, because ``laugh`` takes no object and has no passive, while ``the
prisoners were ___`` (deny) is passive. WordNet 3.0 lists each verb sense's sentence
frames ("Somebody ----s", "Somebody ----s something"); a lemma is ``intr`` when none of
its senses has a frame with an object, ``trans`` when all have one, and ``mostly-intr``
or ``mostly-trans`` in between. The semantic class is the lexicographer file of the
lemma's first (most frequent) sense: ``verb.stative`` verbs (``contain``, ``belong``)
are mostly described in the present, ``verb.motion`` ones mostly narrated in the past.
Both are derived once from ``data.verb``, ``index.verb`` and ``lexnames`` into
``verbs.tsv`` beside this module (:mod:`gramops.corpus.verb_lexicon`, run by
``python scripts/verb_lexicon.py``; WordNet's license,
``WORDNET_LICENSE``, covers the derived file), so serving reads them without the
database.

The tense spellings are the lexicon lemmas' past (``walked``, ``sat``) and third-person
present (``walks``, ``sits``) forms that are no other tense's form: another finite verb
of the sentence in one of them sets the sentence's time ("He walked in and ___ down").
"""

from __future__ import annotations

import functools
from pathlib import Path

from gramops.corpus.inflection import forms

VERBS_FILE = Path(__file__).with_name("verbs.tsv")
VALENCIES = ("intr", "mostly-intr", "mostly-trans", "trans")
UNKNOWN = "unknown"


@functools.cache
def lexicon(path: Path = VERBS_FILE) -> dict[str, tuple[str, str]]:
    """lemma -> (valency, semantic class), from the shipped ``verbs.tsv``."""
    table = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or fields[1] not in VALENCIES:
            raise ValueError(
                f"{path}:{lineno}: expected 'lemma<TAB>valency<TAB>class' with a valency "
                f"among {', '.join(VALENCIES)}, got {line!r}; regenerate the file with "
                "scripts/verb_lexicon.py"
            )
        table[fields[0]] = (fields[1], fields[2])
    return table


def valency(lemma: str) -> str:
    """The lemma's valency class, or ``unknown`` for a verb WordNet does not list."""
    return lexicon().get(lemma.lower(), (UNKNOWN, UNKNOWN))[0]


def semantic_class(lemma: str) -> str:
    """The lemma's first sense's lexicographer file (``verb.stative``), or ``unknown``."""
    return lexicon().get(lemma.lower(), (UNKNOWN, UNKNOWN))[1]


@functools.cache
def tense_spellings() -> tuple[frozenset[str], frozenset[str]]:
    """(past-only, present-3sg-only) spellings of the lexicon's one-word lemmas."""
    past: set[str] = set()
    present: set[str] = set()
    for lemma in lexicon():
        if "_" not in lemma:
            table = forms(lemma)
            past.update(table["VBD"])
            present.update(table["VBZ"])
    both = past & present
    return frozenset(past - both), frozenset(present - both)
