"""Deriving ``verbs.tsv`` (:mod:`gramops.corpus.verbs`) from the WordNet 3.0 database:
each verb lemma's valency from the sentence frames of its senses, and its semantic class
from its first sense's lexicographer file."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from gramops.corpus.verbs import UNKNOWN
from gramops.corpus.wordnet import CorpusError, Synset

# wndb(5WN) frames whose verb takes an object (something, somebody, a clause, or both)
TRANSITIVE_FRAMES = frozenset(
    (8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35)
)
_HEADER = "# lemma\tvalency\tclass (derived from WordNet 3.0; see verbs.py)"


def read_lexnames(path: Path) -> dict[int, str]:
    """``lexnames``: lexicographer file number -> name (``42`` -> ``verb.stative``)."""
    names = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit():
            raise CorpusError(f"{path}:{lineno}: expected 'number name category', got {line!r}")
        names[int(fields[0])] = fields[1]
    return names


def semantic_classes(
    synsets: Iterable[Synset], first_senses: dict[str, str], lexnames: dict[int, str]
) -> dict[str, str]:
    """Each lemma's first sense's lexicographer file name (``verb.stative``)."""
    files = {s.offset: lexnames.get(s.lex_filenum, str(s.lex_filenum)) for s in synsets}
    return {lemma: files[offset] for lemma, offset in first_senses.items() if offset in files}


def valency_classes(synsets: Iterable[Synset]) -> dict[str, str]:
    """Each verb lemma's valency class from the frames of its senses, sorted by lemma."""
    senses: dict[str, list[bool]] = defaultdict(list)
    for synset in synsets:
        if not synset.frames:
            continue
        for position, lemma in enumerate(synset.lemmas, start=1):
            own = {f for f, word in synset.frames if word in (0, position)}
            if own:
                senses[lemma.lower()].append(bool(own & TRANSITIVE_FRAMES))
    classes = {}
    for lemma, transitive in sorted(senses.items()):
        share = sum(transitive) / len(transitive)
        classes[lemma] = (
            "intr" if share == 0 else "trans" if share == 1 else
            "mostly-intr" if share < 0.5 else "mostly-trans"
        )  # fmt: skip
    return classes


def write_lexicon(path: Path, valencies: dict[str, str], classes: dict[str, str]) -> None:
    """``verbs.tsv``: one line per lemma with a valency, its semantic class or ``unknown``."""
    lines = [_HEADER]
    for lemma, cls in sorted(valencies.items()):
        lines.append(f"{lemma}\t{cls}\t{classes.get(lemma, UNKNOWN)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
