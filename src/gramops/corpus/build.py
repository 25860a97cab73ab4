"""The verb corpus: WordNet example sentences with one verb located, tagged and labelled.

Two domains come out of the same WordNet files:

* ``verb``: the quoted examples of verb synsets. The synset tells which verb to look for,
  so locating it is a string search over the synset's lemmas and their inflections.
* ``tutor``: the quoted examples of noun, adjective and adverb synsets. No synset verb is
  given, so a verb is only taken when its context confirms it (``they run``, ``to run``,
  ``has run``); precision matters more than recall, because the LoRA adapter learns from
  these labels.

Each located verb gets a Penn tag from context rules (the spelling alone cannot tell
``stopped`` VBD from VBN, or ``stop`` VB from VBP) and the set of forms a learner could
write there without a grammar error. Everything is deterministic: splits come from a
SHA-256 of the synset id, records are sorted by id.
"""

from __future__ import annotations

import hashlib
import logging
import re
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
    "Lexicon",
    "Match",
    "acceptable_forms",
    "build_corpus",
    "confirm_verb",
    "locate",
    "split_for",
    "tag_verb",
    "tokenize",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
TUTOR_POS = ("noun", "adj", "adv")

# Penn Treebank conventions: clitics are split off (``do n't``, ``it 's``, ``ca n't``).
_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\w+(?:[-'’]\w+)*|--+|\.\.\.|\S")
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MODALS = _words("can could may might must shall should will would ca wo 'll")
DO = _words("do does did")
HAVE = _words("have has had having 've")
BE = _words("be am is are was were been being 'm 're 's")
GET = _words("get gets got gotten getting")
# Verbs taking a bare infinitive after their object: "let it go", "made him laugh".
BARE_INF_CAUSATIVES = _words(
    "let lets letting make makes made making help helps helped helping have has had having "
    "see sees saw seeing watch watches watched hear hears heard feel feels felt bid"
)
# Verbs taking a past participle after their object: "had the car repaired".
PARTICIPLE_CAUSATIVES = _words(
    "have has had having get gets got getting want wants wanted keep keeps kept"
)
SUBJECT_PRONOUNS = _words("i you he she it we they")
OBJECT_PRONOUNS = _words("me you him her it us them")
SINGULAR_PRONOUNS = _words(
    "he she it this that one everyone someone anyone nobody everybody somebody anybody "
    "nothing something everything each"
)
PLURAL_PRONOUNS = _words("we you they these those both many few")
IRREGULAR_PLURALS = _words(
    "people men women children police feet teeth mice geese cattle data criteria"
)
DETERMINERS = _words("the a an this these those his its my our their your some any every no each")
PARTICLES = _words("out up down off in away back over on about around")
RELATIVES = _words("who which that")
WH_WORDS = _words("what why where when how who whom which")
ADVERBS = _words(
    "not n't never also always just still already often ever even really only all both then "
    "now soon long since actually probably certainly usually sometimes rather better hardly "
    "scarcely barely nearly almost once finally first again simply much well so too quite "
    "very thus therefore however perhaps further"
)
CLAUSE_BOUNDARY = _words(', ; : ( ) " ` — – - ? !')
TO_TRIGGERS = _words(
    "able unable want wants wanted wanting need needs needed try tries tried trying going "
    "used have has had ought how what where whether decide decides decided refuse refused "
    "begin begins began start starts started seem seems seemed likely unlikely order ready "
    "eager willing hard easy difficult impossible possible enough expect expected hope hoped "
    "plan planned intend intended learn learned agree agreed fail failed manage managed "
    "wish wished like liked love loved prefer preferred continue continued promise promised "
    "ask asked told tell allowed allow forced force helped"
)
PARTICLE_GAP = 4


@dataclass(frozen=True)
class Lexicon:
    """Word lists the tagger and the tutor-domain filter consult besides the sentence."""

    adverbs: frozenset[str] = ADVERBS
    nouns: frozenset[str] = frozenset()
    adjectives: frozenset[str] = frozenset()


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


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words and punctuation, keeping case; clitics become tokens."""
    tokens: list[str] = []
    for raw in _TOKEN.findall(text.replace("’", "'")):
        clitic = _CLITIC.match(raw)
        if raw.lower() == "cannot":
            tokens.extend((raw[:3], raw[3:]))
        elif clitic:
            tokens.extend(clitic.groups())
        else:
            tokens.append(raw)
    return tokens


# --------------------------------------------------------------------------- locating


@lru_cache(maxsize=65536)
def _all_forms(head: str) -> frozenset[str]:
    return frozenset(s for spellings in forms(head).values() for s in spellings)


def _head_forms(head: str, exceptions: dict[str, tuple[str, ...]]) -> frozenset[str]:
    extra = exceptions.get(head)
    return _all_forms(head) | frozenset(extra) if extra else _all_forms(head)


_PLACEHOLDERS = _words("one one's 's someone someone's something somebody oneself")


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


# --------------------------------------------------------------------------- tagging


def _previous(low: Sequence[str], i: int, lexicon: Lexicon) -> int:
    """Index of the nearest token left of ``i`` that is not an adverb (-1 if none)."""
    j = i - 1
    while j >= 0 and (low[j] in lexicon.adverbs or _is_ly_adverb(low[j], lexicon)):
        j -= 1
    return j


def _is_ly_adverb(word: str, lexicon: Lexicon) -> bool:
    # -ly words are adverbs unless WordNet knows them as nouns ("family", "ally").
    return len(word) > 4 and word.endswith("ly") and word not in lexicon.nouns


def _clause_start(low: Sequence[str], i: int) -> int:
    j = i
    while j > 0 and low[j - 1] not in CLAUSE_BOUNDARY and low[j - 1] != ".":
        j -= 1
    return j


def _is_nounish(word: str) -> bool:
    return word.isalpha() and word not in DETERMINERS and word not in SUBJECT_PRONOUNS


def _inverted_aux(low: Sequence[str], i: int) -> str | None:
    """The auxiliary opening a question before ``i`` (``did you see``, ``why has he gone``)."""
    start = _clause_start(low, i)
    if start < len(low) and low[start] in WH_WORDS:
        start += 1
    if i - start < 2 or i - start > 5:
        return None
    aux = low[start]
    if aux in MODALS or aux in DO or aux in HAVE or aux in BE:
        between = low[start + 1 : i]
        if any(w in SUBJECT_PRONOUNS or w in DETERMINERS for w in between):
            return aux
    return None


def _object_before(low: Sequence[str], i: int, verbs: frozenset[str]) -> bool:
    """Whether one of ``verbs`` and a short object precede ``i`` (``let the dog |go``)."""
    for k in range(i - 2, max(-1, i - 5), -1):
        if low[k] in verbs:
            between = low[k + 1 : i]
            if between[-1] in SUBJECT_PRONOUNS - OBJECT_PRONOUNS:
                return False
            return all(w.isalpha() and w not in MODALS and w not in BE for w in between)
        if not low[k].isalpha():
            return False
    return False


def _candidates(form: str, table: dict[str, tuple[str, ...]]) -> set[str]:
    tags = {tag for tag in TAGS if form in table[tag]}
    if tags:
        return tags
    # A verb.exc spelling lemminflect does not list: guess its tags from the ending.
    if form.endswith("ing"):
        return {"VBG"}
    if form.endswith("s"):
        return {"VBZ"}
    return {"VBD", "VBN"}


def tag_verb(tokens: Sequence[str], i: int, lemma: str, lexicon: Lexicon = Lexicon()) -> str:
    """Penn tag of ``tokens[i]`` (a form of ``lemma``) from its left and right context."""
    low = [t.lower() for t in tokens]
    form = low[i]
    tags = _candidates(form, forms(lemma))
    if len(tags) == 1:
        return next(iter(tags))
    j = _previous(low, i, lexicon)
    prev = low[j] if j >= 0 else ""
    if "VB" in tags and (prev == "to" or prev in MODALS or prev in DO):
        return "VB"
    if prev == "'d":
        return "VB" if "VB" in tags else "VBN"
    if "VBN" in tags and (prev in HAVE or prev in BE or prev in GET):
        return "VBN"
    inverted = _inverted_aux(low, i)
    if inverted is not None:
        if "VB" in tags and (inverted in MODALS or inverted in DO):
            return "VB"
        if "VBN" in tags and (inverted in HAVE or inverted in BE):
            return "VBN"
    nxt = low[i + 1] if i + 1 < len(low) else ""
    if "VBN" in tags and "VB" not in tags:
        if prev in DETERMINERS or prev == "with" or _object_before(low, i, PARTICIPLE_CAUSATIVES):
            return "VBN"
        if prev not in SUBJECT_PRONOUNS and (nxt == "by" or _finite_follows(low, i)):
            return "VBN"
        if j < 0 and nxt not in DETERMINERS | OBJECT_PRONOUNS | PARTICLES:
            # Subjectless noun phrases head many WordNet examples: "pressed flowers".
            return "VBN"
        if prev in ("and", "or") and _coordinated_participle(low, j, lexicon):
            return "VBN"
        return "VBD"
    if "VB" in tags:
        if prev in BARE_INF_CAUSATIVES - HAVE and j == i - 1:
            return "VB"
        if _object_before(low, i, BARE_INF_CAUSATIVES):
            return "VB"
        if j < 0 or prev in CLAUSE_BOUNDARY or prev == "please":
            return "VB"
        if "VBD" in tags and _subject_number(low, i, lexicon) == "3sg":
            return "VBD"
        return "VBP"
    return sorted(tags)[0]


def _finite_follows(low: Sequence[str], i: int) -> bool:
    """``the cases docketed were tried``: a finite be/have/modal right after a reduced relative."""
    nxt = low[i + 1] if i + 1 < len(low) else ""
    return nxt in MODALS or nxt in ("is", "are", "was", "were", "has", "have", "had")


def _coordinated_participle(low: Sequence[str], conj: int, lexicon: Lexicon) -> bool:
    """``has washed and dried``: the conjunct before ``and`` follows have/be (not an adjective)."""
    left = conj - 1
    if left < 1 or left >= len(low) or low[left] in lexicon.adjectives:
        return False
    if not low[left].endswith(("ed", "en")):
        return False
    k = _previous(low, left, lexicon)
    return k >= 0 and (low[k] in HAVE or low[k] in BE)


def _subject_number(low: Sequence[str], i: int, lexicon: Lexicon) -> str:
    """Person/number of the subject of a finite verb at ``i``: ``1sg``, ``3sg`` or ``pl``.

    Looks left past adverbs and relative pronouns to the nearest pronoun or noun; a clause
    without a visible subject (WordNet's fragments) counts as third person singular.
    """
    j = _previous(low, i, lexicon)
    while j >= 0 and low[j] in RELATIVES:
        j -= 1
    if j < 0 or low[j] in CLAUSE_BOUNDARY:
        return "3sg"
    word = low[j]
    if word == "i":
        return "1sg"
    if word in PLURAL_PRONOUNS or word in IRREGULAR_PLURALS:
        return "pl"
    if word in SINGULAR_PRONOUNS:
        return "3sg"
    if j >= 2 and low[j - 1] == "and" and _is_nounish(low[j - 2]):
        return "pl"
    if (
        word.endswith("s")
        and not word.endswith(("ss", "us", "is", "'s"))
        and word.isalpha()
        and len(word) > 3
    ):
        return "pl"
    return "3sg"


def acceptable_forms(
    tokens: Sequence[str], i: int, lemma: str, tag: str, lexicon: Lexicon = Lexicon()
) -> list[str]:
    """Sorted forms that are grammatical in the slot of ``tokens[i]`` tagged ``tag``.

    Non-finite slots accept only the tag's spellings; a finite verb also accepts the other
    tense (past <-> present agreeing with the subject), since both are usually grammatical
    and the sentence alone cannot tell which the writer meant.
    """
    low = [t.lower() for t in tokens]
    form = low[i]
    table = forms(lemma)
    if not any(form in spellings for spellings in table.values()):
        # A verb.exc spelling overrides the rule-made one it corrects (airdropped, not -oped).
        table = {**table, **{t: (form,) for t in _candidates(form, table)}}
    if tag in ("VB", "VBG", "VBN"):
        return sorted({*table[tag], form})
    number = _subject_number(low, i, lexicon)
    if lemma == "be":
        past, present = _be_agreement(form, tag, number)
    else:
        past = table["VBD"]
        present = table[tag] if tag != "VBD" else table["VBZ" if number == "3sg" else "VBP"]
    return sorted({*past, *present, form})


def _be_agreement(form: str, tag: str, number: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Past and present of ``be`` agreeing with the subject the observed form already shows."""
    if tag == "VBD":
        if form == "were":
            return ("were",), ("are",)
        return ("was",), ("am",) if number == "1sg" else ("is",)
    return ("were",) if form == "are" else ("was",), (form,)


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


_NOT_TUTOR_TARGETS = MODALS | frozenset(["ought", "need", "dare"])


def confirm_verb(tokens: Sequence[str], i: int, lemma: str, lexicon: Lexicon = Lexicon()) -> bool:
    """Whether the context proves ``tokens[i]`` is a verb, not a noun or adjective.

    Accepted: a subject pronoun with an agreeing finite form (``she runs``), a modal or
    an infinitival ``to`` before a base form, ``have`` before a distinct participle, ``be``
    before a participle or -ing form that WordNet does not list as an adjective.
    """
    low = [t.lower() for t in tokens]
    form = low[i]
    if lemma in _NOT_TUTOR_TARGETS:
        return False
    table = forms(lemma)
    tags = {tag for tag in TAGS if form in table[tag]}
    j = _previous(low, i, lexicon)
    if j < 0:
        return False
    prev = low[j]
    nxt = low[i + 1] if i + 1 < len(low) else ""
    if prev in SUBJECT_PRONOUNS:
        if prev in ("you", "it") and j > 0 and low[j - 1] not in CLAUSE_BOUNDARY | {"and", "that"}:
            return False
        agreeing = {"VBZ", "VBD"} if prev in ("he", "she", "it") else {"VBP", "VBD"}
        if lemma == "be":
            agreeing = {
                "he": {"is", "was"},
                "she": {"is", "was"},
                "it": {"is", "was"},
                "i": {"am", "was"},
            }.get(prev, {"are", "were"})
            return form in agreeing
        return bool(tags & agreeing)
    if "VB" in tags and prev in MODALS and form != "be":
        return j == 0 or low[j - 1] not in DETERMINERS
    if "VB" in tags and prev == "to":
        return form not in lexicon.nouns or (j > 0 and low[j - 1] in TO_TRIGGERS)
    if "VBN" in tags and prev in HAVE and form not in table["VB"] and lemma != "be":
        return form not in lexicon.adjectives or nxt == "by"
    if prev in BE and ("VBN" in tags or "VBG" in tags) and form not in table["VB"]:
        if nxt == "by" or form not in lexicon.adjectives:
            return True
        return "VBG" in tags and (nxt in DETERMINERS or nxt in OBJECT_PRONOUNS)
    return False


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
