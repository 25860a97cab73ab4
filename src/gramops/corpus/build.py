"""The verb corpus: WordNet example sentences with one verb located, tagged and labelled.

Two domains come out of the same WordNet files:

* ``verb``: the quoted examples of verb synsets. The synset tells which verb to look for,
  so locating it is a string search over the synset's lemmas and their inflections.
* ``tutor``: the quoted examples of noun, adjective and adverb synsets. No synset verb is
  given, so a verb is only taken when its context confirms it (``they run``, ``to run``,
  ``has run``); precision matters more than recall, because the LoRA adapter learns from
  these labels.

This module walks the synsets, locates the verb and splits the records; the tag and the
acceptable forms of each located verb come from the context rules of
:mod:`gramops.corpus.tagging`. Everything is deterministic: splits come from a SHA-256 of
the synset id, records are sorted by id.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lemminflect import getLemma

from gramops.core.params import PrepareParams, SplitParams
from gramops.core.vocab import TAGS
from gramops.corpus.inflection import forms, is_irregular
from gramops.corpus.tagging import (
    ADVERBS,
    CLAUSE_BOUNDARY,
    Lexicon,
    acceptable_forms,
    confirm_verb,
    tag_verb,
    tokenize,
)
from gramops.corpus.wordnet import (
    CorpusError,
    MalformedPolicy,
    Synset,
    read_exceptions,
    read_index_lemmas,
    read_synsets,
    require_file,
)

__all__ = [
    "Corpus",
    "CorpusError",
    "Match",
    "build_corpus",
    "locate",
    "split_for",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
TUTOR_POS = ("noun", "adj", "adv")
PARTICLE_GAP = 4


@dataclass(frozen=True)
class Match:
    """A located verb: token index of its head word, the lemma to inflect, the WordNet lemma."""

    index: int
    lemma: str
    synset_lemma: str


@dataclass(frozen=True)
class Corpus:
    """Records per split (sorted by id) and the corpus statistics for ``metrics/corpus.json``."""

    records: dict[str, list[dict[str, Any]]]
    stats: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- locating


@lru_cache(maxsize=65536)
def _all_forms(head: str) -> frozenset[str]:
    return frozenset(s for spellings in forms(head).values() for s in spellings)


def _head_forms(head: str, exceptions: dict[str, tuple[str, ...]]) -> frozenset[str]:
    extra = exceptions.get(head)
    return _all_forms(head) | frozenset(extra) if extra else _all_forms(head)


_PLACEHOLDERS = frozenset(
    ["one", "one's", "'s", "someone", "someone's", "something", "somebody", "oneself"]
)


def _variants(synset_lemma: str) -> list[tuple[tuple[str, ...], int]]:
    """Word sequences a WordNet lemma may appear as, each with the index of its head word.

    ``pull_down`` -> (pull, down) headed by ``pull``; ``ice_skate`` also as ``ice-skate``;
    ``cross-examine`` also as ``cross examine``. Multiword lemmas are tried headed by their
    first word (``take_a_breath``) and by their last (``dry_clean`` -> ``dry cleaned``).
    """
    words = tuple(w for w in synset_lemma.lower().split("_") if w)
    variants: list[tuple[str, ...]] = [words]
    if any("-" in w for w in words):
        variants.append(tuple(p for w in words for p in w.split("-") if p))
    if len(words) > 1:
        variants.append(("-".join(words),))
    out: list[tuple[tuple[str, ...], int]] = []
    for seq in dict.fromkeys(variants):
        out.append((seq, 0))
        if len(seq) > 1:
            out.append((seq, len(seq) - 1))
    return out


def _find_after(low: Sequence[str], start: int, words: Sequence[str]) -> int | None:
    """End index of ``words`` found in order from ``start`` (particles may follow an object)."""
    needed = [w for w in words if w not in _PLACEHOLDERS]
    pos, limit = start, start + len(words) + PARTICLE_GAP
    for word in needed:
        while pos < len(low) and pos < limit and low[pos] != word:
            if low[pos] in CLAUSE_BOUNDARY or low[pos] == ".":
                return None
            pos += 1
        if pos >= len(low) or pos >= limit:
            return None
        pos += 1
    return pos


def locate(
    tokens: Sequence[str],
    synset_lemmas: Iterable[str],
    exceptions: dict[str, tuple[str, ...]],
) -> Match | None:
    """Find the first occurrence of any lemma of the synset, in any inflection.

    A full match of a multiword lemma (contiguous, or with its particle after an object:
    ``pull the curtain down``) wins; only when no lemma matches in full is the head word of
    a multiword lemma accepted alone (``took a deep breath`` for ``take_a_breath``).
    Ties at one position go to the longer lemma.
    """
    low = [t.lower() for t in tokens]
    full: list[tuple[int, int, Match]] = []
    partial: list[tuple[int, int, Match]] = []
    for synset_lemma in synset_lemmas:
        for seq, h in _variants(synset_lemma):
            head = seq[h]
            head_forms = _head_forms(head, exceptions)
            before, after = seq[:h], seq[h + 1 :]
            for i, token in enumerate(low):
                if token not in head_forms:
                    continue
                start = i - len(before)
                if start < 0 or tuple(low[start:i]) != before:
                    if h == 0 or not before:
                        continue
                    partial.append((i, -len(seq), Match(i, head, synset_lemma)))
                    continue
                match = Match(i, head, synset_lemma)
                if not after or _find_after(low, i + 1, after) is not None:
                    full.append((start, -len(seq), match))
                elif h == 0:
                    partial.append((i, -len(seq), match))
    for found in (full, partial):
        if found:
            return min(found, key=lambda item: (item[0], item[1], item[2].synset_lemma))[2]
    return None


# --------------------------------------------------------------------------- tutor domain


def _reverse_index(
    verb_lemmas: Iterable[str], exceptions: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    """Map every inflected form of a single-word verb lemma to its most likely lemma."""
    by_form: dict[str, set[str]] = {}
    for lemma in verb_lemmas:
        for form in _head_forms(lemma, exceptions):
            by_form.setdefault(form, set()).add(lemma)
    index: dict[str, str] = {}
    for form, lemmas in by_form.items():
        if len(lemmas) == 1:
            index[form] = next(iter(lemmas))
            continue
        preferred = [lemma for lemma in getLemma(form, upos="VERB") if lemma in lemmas]
        index[form] = preferred[0] if preferred else min(lemmas)
    return index


def _tutor_match(tokens: Sequence[str], index: dict[str, str], lexicon: Lexicon) -> Match | None:
    """First confirmed verb of the sentence, preferring a main verb over be/have/do."""
    confirmed = [
        Match(i, index[t.lower()], index[t.lower()])
        for i, t in enumerate(tokens)
        if t.lower() in index and confirm_verb(tokens, i, index[t.lower()], lexicon)
    ]
    main = [m for m in confirmed if m.lemma not in ("be", "have", "do")]
    return (main or confirmed or [None])[0]


# --------------------------------------------------------------------------- building


def split_for(synset_key: str, split: SplitParams) -> str:
    """Split of a synset from SHA-256 of its id, so every example of a synset lands together."""
    digest = hashlib.sha256(synset_key.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < split.train:
        return "train"
    if u < split.train + split.dev:
        return "dev"
    return "test"


def _record(
    domain: str,
    synset: Synset,
    k: int,
    tokens: list[str],
    match: Match,
    split: str,
    lexicon: Lexicon,
) -> dict[str, Any]:
    tag = tag_verb(tokens, match.index, match.lemma, lexicon)
    return {
        "id": f"{domain}:{synset.key}:{k}",
        "domain": domain,
        "synset": synset.key,
        "tokens": tokens,
        "verb_index": match.index,
        "form": tokens[match.index].lower(),
        "lemma": match.lemma,
        "synset_lemma": match.synset_lemma,
        "tag": tag,
        "acceptable": acceptable_forms(tokens, match.index, match.lemma, tag, lexicon),
        "split": split,
    }


def _read_inputs(wordnet_dir: Path, tutor: bool, malformed: MalformedPolicy) -> dict[str, Any]:
    """Read and validate every WordNet file before any work, so bad input fails fast."""
    wordnet_dir = Path(wordnet_dir)
    if not wordnet_dir.is_dir():
        raise CorpusError(f"{wordnet_dir}: WordNet directory not found; run pull_corpus first")
    inputs: dict[str, Any] = {
        "verb": read_synsets(wordnet_dir / "data.verb", malformed),
        "exceptions": read_exceptions(wordnet_dir / "verb.exc", malformed),
        "adverbs": read_index_lemmas(require_file(wordnet_dir / "index.adv"), malformed),
        "nouns": read_index_lemmas(require_file(wordnet_dir / "index.noun"), malformed),
        "adjectives": read_index_lemmas(require_file(wordnet_dir / "index.adj"), malformed),
    }
    log.info("read %d verb synsets from %s", len(inputs["verb"]), wordnet_dir / "data.verb")
    if tutor:
        for pos in TUTOR_POS:
            path = wordnet_dir / f"data.{pos}"
            inputs[pos] = read_synsets(path, malformed)
            log.info("read %d %s synsets from %s", len(inputs[pos]), pos, path)
    return inputs


def build_corpus(wordnet_dir: Path, params: PrepareParams) -> Corpus:
    """Build the verb (and tutor) corpus from a WordNet 3.0 ``dict/`` directory.

    Pure apart from reading the WordNet files; the prepare stage writes the result.
    """
    inputs = _read_inputs(wordnet_dir, params.tutor_domain, params.malformed_lines)
    exceptions: dict[str, tuple[str, ...]] = inputs["exceptions"]
    lexicon = Lexicon(
        adverbs=ADVERBS
        | frozenset(a for a in inputs["adverbs"] if a.endswith("ly") and a not in inputs["nouns"]),
        nouns=inputs["nouns"],
        adjectives=inputs["adjectives"],
    )
    records: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    examples_total = located = 0
    for synset in inputs["verb"]:
        for k, example in enumerate(synset.examples):
            examples_total += 1
            tokens = tokenize(example)
            match = locate(tokens, synset.lemmas, exceptions)
            if match is None:
                dropped["not_located"] += 1
                continue
            located += 1
            if len(tokens) > params.max_tokens:
                dropped["too_long"] += 1
                continue
            split = split_for(synset.key, params.split)
            records.append(_record("verb", synset, k, tokens, match, split, lexicon))
    log.info("verb domain: %d of %d examples located", located, examples_total)

    tutor_total = 0
    if params.tutor_domain:
        heads = {
            lemma.lower()
            for synset in inputs["verb"]
            for lemma in synset.lemmas
            if "_" not in lemma and lemma.isascii()
        }
        index = _reverse_index(sorted(heads), exceptions)
        for pos in TUTOR_POS:
            kept = 0
            for synset in inputs[pos]:
                for k, example in enumerate(synset.examples):
                    tutor_total += 1
                    tokens = tokenize(example)
                    if len(tokens) > params.max_tokens:
                        dropped["tutor_too_long"] += 1
                        continue
                    match = _tutor_match(tokens, index, lexicon)
                    if match is None:
                        dropped["tutor_no_confirmed_verb"] += 1
                        continue
                    split = split_for(synset.key, params.split)
                    records.append(_record("tutor", synset, k, tokens, match, split, lexicon))
                    kept += 1
            log.info("tutor domain: %d records from data.%s", kept, pos)

    by_split: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    for record in sorted(records, key=lambda r: r["id"]):
        by_split[record["split"]].append(record)
    stats = _stats(by_split, examples_total, located, tutor_total, dropped)
    return Corpus(records=by_split, stats=stats)


def _stats(
    by_split: dict[str, list[dict[str, Any]]],
    examples_total: int,
    located: int,
    tutor_total: int,
    dropped: Counter[str],
) -> dict[str, Any]:
    """Counts and shares for ``metrics/corpus.json`` (floats rounded to 4 decimals)."""
    every = [r for split in SPLITS for r in by_split[split]]
    verb = [r for r in every if r["domain"] == "verb"]
    irregular = sum(1 for r in verb if is_irregular(r["lemma"]))
    return {
        "records": {split: len(by_split[split]) for split in SPLITS},
        "records_total": len(every),
        "domains": dict(sorted(Counter(r["domain"] for r in every).items())),
        "split_domain": {
            split: dict(sorted(Counter(r["domain"] for r in by_split[split]).items()))
            for split in SPLITS
        },
        "tags": {tag: sum(1 for r in every if r["tag"] == tag) for tag in TAGS},
        "tags_verb": {tag: sum(1 for r in verb if r["tag"] == tag) for tag in TAGS},
        "examples_total": examples_total,
        "located": located,
        "located_share": round(located / examples_total, 4) if examples_total else 0.0,
        "tutor_examples_total": tutor_total,
        "distinct_lemmas": len({r["lemma"] for r in verb}),
        "irregular_share": round(irregular / len(verb), 4) if verb else 0.0,
        "dropped": dict(sorted(dropped.items())),
    }
