"""Tagging rules: tokens, the Penn tag of a located verb and the forms its slot accepts.

Each located verb gets a Penn tag from context rules (the spelling alone cannot tell
``stopped`` VBD from VBN, or ``stop`` VB from VBP) and the set of forms a learner could
write there without a grammar error. For the tutor domain, :func:`confirm_verb` says
whether the context proves a word is a verb at all. The rules read only the sentence and
word lists, never the WordNet files, so serving tokenizes requests with the same
:func:`tokenize` the corpus was built with, without loading the corpus builder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gramops.core.vocab import TAGS
from gramops.corpus.inflection import forms

__all__ = [
    "Lexicon",
    "acceptable_forms",
    "confirm_verb",
    "tag_verb",
    "tokenize",
]

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


@dataclass(frozen=True)
class Lexicon:
    """Word lists the tagger and the tutor-domain filter consult besides the sentence."""

    adverbs: frozenset[str] = ADVERBS
    nouns: frozenset[str] = frozenset()
    adjectives: frozenset[str] = frozenset()


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
