"""Hashed context features of a sentence whose verb slot is masked, plus the verb's lemma.

The model must choose the verb's form from the context alone, so the verb token itself is
never read: every feature comes from the other tokens, the verb's position and its lemma.
Feature names are hashed with ``zlib.crc32`` (stable across processes, unlike ``hash()``)
and combined numerically, so each distinct string is hashed once per call and the
per-occurrence work is vectorised numpy arithmetic.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from gramops.core.params import FeatureParams
from gramops.models.cues import cue_features, lexicon_features

BOS = "<s>"
EOS = "</s>"

# Closed-class words whose nearest preceding occurrence decides most tags (has + VBN,
# to + VB, is + VBG, will + VB, did + VB) even when adverbs stand in between.
AUXILIARIES = frozenset(
    {
        *("am", "are", "is", "was", "were", "be", "been", "being"),
        *("have", "has", "had", "having", "do", "does", "did", "to", "not", "never"),
        *("will", "would", "shall", "should", "can", "could", "may", "might", "must"),
        *("n't", "'s", "'ve", "'d", "'re", "'m"),
    }
)
# Subject pronouns separate VBZ (he/she/it) from VBP (I/you/we/they).
PRONOUNS = frozenset(
    ("i", "you", "he", "she", "it", "we", "they", "who", "that", "which", "this", "these", "those")
)
AUX_LOOKBACK = 4
"""How far back (tokens) the nearest auxiliary is looked for."""

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Combine two uint64 hashes (splitmix64 finalizer): order-sensitive, well spread."""
    with np.errstate(over="ignore"):
        x = (a * _GOLDEN + b) & _MASK64
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


@functools.lru_cache(maxsize=256)
def _template(name: str) -> np.uint64:
    return np.uint64(_crc(name))


@functools.lru_cache(maxsize=8)
def _offset_templates(window: int) -> dict[str, np.ndarray]:
    """Each positional family's template hash by slot (offset + window), per window size."""
    return {
        family: np.array([_template(f"{family}{o:+d}") for o in range(-window, window + 1)])
        for family in ("w", "s2", "s3", "shape")
    }


def _shape(token: str) -> str:
    if token in (BOS, EOS):
        return token
    if token[:1].isupper():
        return "Xx"
    if token[:1].isdigit():
        return "d"
    if token[:1].isalpha():
        return "x"
    return "p"


_VIEWS: dict[str, tuple[int, int, int, int, bool, bool, bool]] = {}
_VIEWS_LIMIT = 50_000
"""Tokens whose views are kept between calls (a few MB); past it the cache starts over."""


def _views(token: str) -> tuple[int, int, int, int, bool, bool, bool]:
    lower = token if token in (BOS, EOS) else token.lower()
    return (
        _crc(lower),
        _crc("~" + lower[-2:]),
        _crc("~" + lower[-3:]),
        _crc(_shape(token)),
        lower in AUXILIARIES,
        lower in PRONOUNS,
        token not in (BOS, EOS),
    )


@functools.lru_cache(maxsize=8192)
def _lemma_views(lemma: str) -> tuple[int, int, int, int, bool]:
    """The lemma's hash, its first word's last 1-3 letters' hashes, and whether it is
    multiword."""
    head = lemma.split("_")[0]
    return (_crc(lemma), _crc(head[-1:]), _crc(head[-2:]), _crc(head[-3:]), "_" in lemma)


class _Vocab:
    """Hashes of each distinct token's views (lowercase, suffixes, shape), computed once
    per token and kept between calls: a served sentence mostly repeats known words."""

    def __init__(self, tokens: Sequence[str]) -> None:
        views = []
        for token in tokens:
            found = _VIEWS.get(token)
            if found is None:
                if len(_VIEWS) >= _VIEWS_LIMIT:
                    _VIEWS.clear()
                found = _VIEWS[token] = _views(token)
            views.append(found)
        table = np.array(views, dtype=np.uint64).reshape(len(views), 7).T
        self.word, self.suffix2, self.suffix3, self.shape = table[:4]
        self.is_aux, self.is_pronoun, self.is_word = table[4:].astype(bool)


def _validate(record: Mapping[str, Any]) -> tuple[list[str], int, str]:
    tokens = record["tokens"]
    index = record["verb_index"]
    if not 0 <= index < len(tokens):
        raise ValueError(
            f"record {record.get('id', '?')}: verb_index {index} is outside its "
            f"{len(tokens)} tokens; rebuild the corpus with the prepare stage"
        )
    return list(tokens), int(index), str(record["lemma"])


def featurize(records: Iterable[Mapping[str, Any]], spec: FeatureParams) -> sp.csr_matrix:
    """Binary hashed features, one row per record, ``2**spec.hash_bits`` columns, float32.

    Families: context words by relative position within ``spec.window`` (sentence
    boundaries padded), their suffixes and shapes, the bigrams around the slot, a bag of
    sentence words and word suffixes (tense cues such as ``yesterday`` or other verbs'
    ``-ed``), the nearest preceding auxiliary and pronoun, the slot position, and the
    lemma with its suffixes. The verb token is skipped everywhere.
    """
    window = spec.window
    flat: list[str] = []
    starts: list[int] = []
    lengths: list[int] = []
    lemmas: list[str] = []
    verb_positions: list[int] = []
    records_seen: list[tuple[list[str], int, str]] = []
    for record in records:
        tokens, index, lemma = _validate(record)
        records_seen.append((tokens, index, lemma.lower()))
        starts.append(len(flat))
        lengths.append(len(tokens) + 2 * window)
        verb_positions.append(index)
        lemmas.append(lemma.lower())
        flat.extend([BOS] * window)
        flat.extend(tokens)
        flat.extend([EOS] * window)
    n = len(lengths)
    n_columns = 2**spec.hash_bits
    if n == 0:
        return sp.csr_matrix((0, n_columns), dtype=np.float32)

    index_of: dict[str, int] = {}
    ids = np.fromiter((index_of.setdefault(t, len(index_of)) for t in flat), np.int64, len(flat))
    vocab = _Vocab(list(index_of))

    length_arr = np.asarray(lengths, dtype=np.int64)
    start_arr = np.asarray(starts, dtype=np.int64)
    verb_flat = start_arr + window + np.asarray(verb_positions, dtype=np.int64)
    row_of = np.repeat(np.arange(n, dtype=np.int64), length_arr)
    rel = np.arange(len(flat), dtype=np.int64) - verb_flat[row_of]

    # Every feature is (row, template, value); all are mixed in one pass at the end, so a
    # call costs a fixed handful of numpy operations however many families there are.
    rows: list[np.ndarray] = []
    templates: list[np.ndarray] = []
    values: list[np.ndarray] = []

    def emit(row: np.ndarray, template: np.ndarray | np.uint64, value: np.ndarray) -> None:
        rows.append(row)
        templates.append(
            template if isinstance(template, np.ndarray) else np.full(len(value), template)
        )
        values.append(value)

    # Context words, suffixes and shapes by relative position (pads included).
    near = (np.abs(rel) <= window) & (rel != 0)
    positions = rel[near]
    near_ids = ids[near]
    near_rows = row_of[near]
    by_offset = _offset_templates(window)
    slot = positions + window
    emit(near_rows, by_offset["w"][slot], vocab.word[near_ids])
    emit(near_rows, by_offset["s2"][slot], vocab.suffix2[near_ids])
    emit(near_rows, by_offset["s3"][slot], vocab.suffix3[near_ids])
    emit(near_rows, by_offset["shape"][slot], vocab.shape[near_ids])

    # Bigrams around the slot: the two words before, the two after, and the pair across.
    def word_at(offset: int) -> np.ndarray:
        return vocab.word[ids[verb_flat + offset]]

    all_rows = np.arange(n, dtype=np.int64)
    pairs = {"bg-2-1": (-2, -1), "bg-1+1": (-1, 1), "bg+1+2": (1, 2)}
    for name, (left, right) in pairs.items():
        if max(abs(left), abs(right)) <= window:
            emit(all_rows, _template(name), _mix(word_at(left), word_at(right)))

    # Bag of sentence words and of word suffixes, binary, verb excluded.
    in_sentence = vocab.is_word[ids] & (rel != 0)
    bag_rows = row_of[in_sentence]
    bag_ids = ids[in_sentence]
    emit(bag_rows, _template("bow"), vocab.word[bag_ids])
    emit(bag_rows, _template("bag-s2"), vocab.suffix2[bag_ids])
    emit(bag_rows, _template("bag-s3"), vocab.suffix3[bag_ids])

    # Nearest auxiliary and nearest pronoun before the slot (the last match wins).
    for name, mask, reach in (
        ("aux", vocab.is_aux, AUX_LOOKBACK),
        ("subj", vocab.is_pronoun, None),
    ):
        before = mask[ids] & (rel < 0)
        if reach is not None:
            before &= rel >= -reach
        where = np.flatnonzero(before)
        last = np.full(n, -1, dtype=np.int64)
        last[row_of[where]] = where  # ascending positions: the nearest is written last
        found = last >= 0
        emit(all_rows[found], _template(name), vocab.word[ids[last[found]]])
        emit(all_rows[~found], _template(name), np.full((~found).sum(), _crc("none"), np.uint64))

    # Slot position: sentence-initial verbs are mostly imperatives (VB).
    position = np.minimum(np.asarray(verb_positions, dtype=np.int64), 4).astype(np.uint64)
    emit(all_rows, _template("vpos"), position)

    # Lemma and its endings: irregular families, and -e/-y spelling classes.
    lemma_table = np.array([_lemma_views(x) for x in lemmas], dtype=np.uint64).reshape(n, 5).T
    emit(all_rows, _template("lemma"), lemma_table[0])
    for k in (1, 2, 3):
        emit(all_rows, _template(f"lemma-s{k}"), lemma_table[k])
    emit(all_rows, _template("lemma-multiword"), lemma_table[4])

    if spec.cues:
        _emit_named(emit, "cue", [cue_features(t, i) for t, i, _ in records_seen])
    if spec.lexicon:
        _emit_named(emit, "lexicon", [lexicon_features(*seen) for seen in records_seen])

    row = np.concatenate(rows)
    column = (
        _mix(np.concatenate(templates), np.concatenate(values)) & np.uint64(n_columns - 1)
    ).astype(np.int64)
    # Binary, in CSR order: each row's distinct columns, ascending (a word repeated in the
    # sentence, or a hash collision, counts once), built directly rather than through COO.
    keys = np.unique(row * n_columns + column)
    indices = (keys % n_columns).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(keys // n_columns, minlength=n), out=indptr[1:])
    data = np.ones(len(keys), dtype=np.float32)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(n, n_columns))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def _emit_named(emit: Callable[..., None], family: str, named: list[list[str]]) -> None:
    """Named features (``time=past``), one hashed family, one list per record."""
    rows = np.repeat(np.arange(len(named), dtype=np.int64), [len(n) for n in named])
    values = np.fromiter((_cue_hash(c) for n in named for c in n), np.uint64, len(rows))
    emit(rows, _template(family), values)


@functools.lru_cache(maxsize=4096)
def _cue_hash(cue: str) -> int:
    return _crc(cue)
