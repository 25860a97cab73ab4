"""Verb inflection: every acceptable spelling of a lemma per Penn tag, preferred first.

lemminflect supplies the spellings, but it has gaps the corpus would trip over: it omits
the past participle of most regular verbs (``stop`` has no VBN), knows nothing of ~2,700
WordNet verbs (``grout``, ``strip-search``), mis-spells ``-ic`` verbs (``mimiced``), and
its out-of-vocabulary rules never double consonants (``quized``). The rules here patch
those gaps so that every lemma has all six tags.

``be`` is special-cased: VB ``be``, VBP ``are``/``am``, VBZ ``is``, VBD ``was``/``were``,
VBG ``being``, VBN ``been``. VBP and VBD hold every person's spelling (``are`` and
``was`` first, as the most frequent); choosing the one that agrees with the subject is the
corpus's job, not the inflection table's.
"""

from __future__ import annotations

from functools import lru_cache

from lemminflect import getAllInflections

from gramops.core.vocab import TAGS

_VOWELS = frozenset("aeiou")
_BE: dict[str, tuple[str, ...]] = {
    "VB": ("be",),
    "VBD": ("was", "were"),
    "VBG": ("being",),
    "VBN": ("been",),
    "VBP": ("are", "am"),
    "VBZ": ("is",),
}


def _doubles_final_consonant(word: str) -> bool:
    """Consonant-vowel-consonant ending of a one-syllable word (``stop``, ``quiz``).

    Stress is unknown for longer words, so they are left undoubled (``visit``); lemminflect
    covers the common stressed-final ones (``prefer``).
    """
    if len(word) < 3 or word[-1] in "wxy" or word[-1] in _VOWELS:
        return False
    if word[-2] not in _VOWELS or word[-3] in _VOWELS:
        return False
    vowel_groups = sum(
        1 for i, ch in enumerate(word) if ch in _VOWELS and (i == 0 or word[i - 1] not in _VOWELS)
    )
    return vowel_groups == 1


def regular_forms(lemma: str) -> dict[str, tuple[str, ...]]:
    """Forms of ``lemma`` by the regular English spelling rules alone."""
    w = lemma.lower()
    if w.endswith(("s", "x", "z", "ch", "sh")) or (w.endswith("o") and w[-2:-1] not in _VOWELS):
        third = w + "es"
    elif w.endswith("y") and w[-2:-1] not in _VOWELS:
        third = w[:-1] + "ies"
    else:
        third = w + "s"
    if w.endswith("ic"):
        past, ing = w + "ked", w + "king"
    elif w.endswith("ie"):
        past, ing = w + "d", w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")):
        past, ing = w + "d", w[:-1] + "ing"
    elif w.endswith("e"):
        past, ing = w + "d", w + "ing"
    elif w.endswith("y") and w[-2:-1] not in _VOWELS:
        past, ing = w[:-1] + "ied", w + "ing"
    elif _doubles_final_consonant(w):
        past, ing = w + w[-1] + "ed", w + w[-1] + "ing"
    else:
        past, ing = w + "ed", w + "ing"
    return {
        "VB": (w,),
        "VBD": (past,),
        "VBG": (ing,),
        "VBN": (past,),
        "VBP": (w,),
        "VBZ": (third,),
    }


def _clean(lemma: str, spellings: tuple[str, ...]) -> tuple[str, ...]:
    """Drop lemminflect's split spellings (``under went``, ``over-ate`` for ``overeat``)."""
    words = [s.lower() for s in spellings if " " not in s]
    solid = [s for s in words if "-" not in s or "-" in lemma]
    return tuple(dict.fromkeys(solid or words))


_PREFIXES = ("counter", "under", "over", "fore", "with", "out", "mis", "re", "un", "up", "be")


def _known_stem(word: str) -> str | None:
    """The known verb an unknown compound inflects like, if any.

    After a verbal prefix any verb counts (``undergrow`` -> ``undergrew``). Otherwise only
    a regular one-syllable verb of 4+ letters after a 3+ letter head, because its doubling
    (``airdrop`` -> ``airdropped``) is what the plain rules miss, while longer or irregular
    tails are often accidental (``palaver`` is not pal + aver, ``lipstick`` not lip + stick).
    """
    for prefix in _PREFIXES:
        stem = word[len(prefix) :]
        if word.startswith(prefix) and len(stem) >= 3 and getAllInflections(stem, upos="VERB"):
            return stem
    for cut in range(3, len(word) - 3):
        stem = word[cut:]
        known = _doubles_final_consonant(stem) and getAllInflections(stem, upos="VERB")
        if known and not is_irregular(stem):
            return stem
    return None


def _fix_ic(lemma: str, spellings: tuple[str, ...]) -> tuple[str, ...]:
    """lemminflect spells ``mimic`` -> ``mimiced``; English inserts a k (``mimicked``)."""
    if not lemma.endswith("ic"):
        return spellings
    suffixes = ("ed", "ing")
    return tuple(
        f"{lemma}k{s[len(lemma) :]}" if s.startswith(lemma) and s[len(lemma) :] in suffixes else s
        for s in spellings
    )


@lru_cache(maxsize=65536)
def _table(lemma: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    w = lemma.lower()
    if not w or any(ch.isspace() or ch == "_" for ch in w):
        raise ValueError(f"inflection needs a single-word lemma, got {lemma!r}")
    if w == "be":
        return tuple(_BE.items())
    known = {
        tag: _clean(w, spellings) for tag, spellings in getAllInflections(w, upos="VERB").items()
    }
    if not known and "-" in w.strip("-"):
        # Hyphenated compounds inflect their last part: cross-examine -> cross-examined.
        prefix, _, last = w.rpartition("-")
        return tuple(
            (tag, tuple(f"{prefix}-{s}" for s in spellings)) for tag, spellings in _table(last)
        )
    if not known:
        stem = _known_stem(w)
        if stem:
            prefix = w[: len(w) - len(stem)]
            return tuple(
                (tag, tuple(prefix + s for s in spellings)) for tag, spellings in _table(stem)
            )
    regular = regular_forms(w)
    table: dict[str, tuple[str, ...]] = {}
    for tag in TAGS:
        spellings = known.get(tag) or ()
        if tag == "VBN":
            # Regular pasts double as participles; lemminflect often lists them only as VBD.
            regular_past = tuple(s for s in known.get("VBD", ()) if s.endswith("ed"))
            spellings = tuple(dict.fromkeys(spellings + regular_past)) or known.get("VBD", ())
        if not spellings and tag == "VBP":
            spellings = known.get("VB", ())
        table[tag] = _fix_ic(w, spellings) or regular[tag]
    return tuple(table.items())


def forms(lemma: str) -> dict[str, tuple[str, ...]]:
    """Every acceptable lowercase spelling of ``lemma`` per Penn tag, preferred spelling first.

    ``lemma`` is one word (the head of a multiword WordNet lemma); a fresh dict is returned
    so callers cannot corrupt the cache.
    """
    return dict(_table(lemma))


@lru_cache(maxsize=65536)
def inflect(lemma: str, tag: str) -> str:
    """The preferred spelling of ``lemma`` for Penn ``tag`` (used by the model at prediction)."""
    table = dict(_table(lemma))
    if tag not in table:
        raise ValueError(f"unknown verb tag {tag!r} (known: {', '.join(TAGS)})")
    return table[tag][0]


def is_irregular(lemma: str) -> bool:
    """Whether the preferred past or past participle breaks the regular -ed rules.

    Both doubled and undoubled -ed spellings count as regular, because stress (``prefer``
    -> ``preferred`` vs ``visit`` -> ``visited``) is not visible in the spelling.
    """
    w = lemma.lower()
    base = w[:-1] if w.endswith("e") else w
    regular = {base + "ed", w + "d", w[:-1] + "ied", w + w[-1:] + "ed", w + "ked"}
    return inflect(w, "VBD") not in regular or inflect(w, "VBN") not in regular
