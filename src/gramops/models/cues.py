"""The grammatical cues a learner is taught to read, as named features of one masked slot.

Hashed context words see ``yesterday`` only where it happens to stand, and only as one
rare word among thousands; a learner is taught classes instead: a past-time adverbial
anywhere in the sentence (``yesterday``, ``ago``, ``last week``, ``in 1990``), a habit
(``every day``, ``usually``), the subject's number and person (``she`` vs ``they``, ``my
brothers``, ``Tom and Anna``), and the auxiliary, modal or ``to`` that governs the slot.
Each cue is a short string such as ``time=past`` that :mod:`gramops.models.features`
hashes like any other feature, so a class learnt from frequent members (``ago``, years)
carries over to rare ones.

:func:`lexicon_features` adds what WordNet's verb lexicon (:mod:`gramops.corpus.lexicon`)
says: the lemma's valency beside its auxiliary and the word after the slot (``were ___``
of an intransitive verb is progressive, never passive), its semantic class (stative verbs
are described in the present), and the tense of the sentence's other verbs (``walked``,
``sits``: a past or present form of a lexicon verb, not after an auxiliary).

The rules are deliberately shallow (a few word lists and a leftward scan), so they run per
sentence in microseconds and read the same in training and serving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gramops.corpus.lexicon import packaged_lexicon

# Time adverbials, by the tense they point to. A word listed under "anchor" marks time
# only before a time noun ("last week", "next year", "every day"), not alone ("the last
# page", "next to him", "every child").
TIME_WORDS: dict[str, str] = {
    **dict.fromkeys(("yesterday", "ago", "formerly", "previously", "earlier", "once"), "past"),
    **dict.fromkeys(("tomorrow", "soon", "later", "tonight"), "future"),
    **dict.fromkeys(
        ("now", "currently", "nowadays", "today", "presently", "anymore", "still"), "now"
    ),
    **dict.fromkeys(
        (
            *("always", "usually", "often", "sometimes", "never", "seldom", "rarely"),
            *("generally", "normally", "regularly", "frequently", "typically", "daily"),
            *("weekly", "monthly", "yearly", "annually", "occasionally", "constantly"),
        ),
        "habit",
    ),
    **dict.fromkeys(("already", "since", "yet", "ever", "recently", "lately", "just"), "perfect"),
}
TIME_ANCHORS: dict[str, str] = {
    "last": "past",
    "next": "future",
    "every": "habit",
    "each": "habit",
    "this": "now",
}
TIME_NOUNS = frozenset(
    (
        *("second", "minute", "hour", "day", "night", "morning", "afternoon", "evening"),
        *("week", "weekend", "month", "year", "decade", "century", "time", "season"),
        *("spring", "summer", "autumn", "fall", "winter", "monday", "tuesday", "wednesday"),
        *("thursday", "friday", "saturday", "sunday", "january", "february", "march"),
        *("april", "may", "june", "july", "august", "september", "october", "november"),
        *("december", "semester", "term", "christmas", "holiday", "holidays", "weeks"),
        *("days", "months", "years", "times", "nights", "mornings", "evenings", "weekends"),
    )
)
_YEAR = re.compile(r"1[0-9]{3}s?|20[0-2][0-9]s?")

# Verbs and auxiliaries whose own tense sets the sentence's time ("she said", "it is").
CONTEXT_TENSE: dict[str, str] = {
    **dict.fromkeys(("was", "were", "had", "did", "said", "went", "came", "got"), "past"),
    **dict.fromkeys(("is", "are", "am", "has", "does", "'s", "'re", "'m"), "present"),
    **dict.fromkeys(("will", "'ll", "shall"), "future"),
}

# The auxiliary that governs the slot, by what it asks of the verb after it.
AUX_CLASS: dict[str, str] = {
    **dict.fromkeys(("will", "would", "shall", "should", "can", "could", "may"), "modal"),
    **dict.fromkeys(("might", "must", "'ll", "'d", "cannot", "ought"), "modal"),
    **dict.fromkeys(("do", "does", "did"), "do"),
    **dict.fromkeys(("have", "has", "had", "having", "'ve"), "have"),
    **dict.fromkeys(("am", "is", "are", "was", "were", "'m", "'re", "'s"), "be"),
    **dict.fromkeys(("be", "been", "being"), "be-bare"),
    "to": "to",
    "get": "get",
    "got": "get",
    "gets": "get",
    "getting": "get",
}
NEGATION = frozenset(("not", "n't", "never"))
AUX_LOOKBACK = 4

# The subject: person and number of pronouns, number of determiners and noun phrases.
PRONOUN_PERSON: dict[str, str] = {
    "i": "1sg",
    "you": "2",
    "we": "pl",
    "they": "pl",
    **dict.fromkeys(("he", "she", "it", "this", "that", "one"), "3sg"),
    **dict.fromkeys(
        (
            *("everyone", "everybody", "someone", "somebody", "anyone", "anybody"),
            *("nobody", "everything", "something", "nothing", "anything", "each"),
        ),
        "3sg",
    ),
    **dict.fromkeys(("these", "those", "both", "many", "few", "several", "people"), "pl"),
}
DETERMINER_NUMBER: dict[str, str] = {
    **dict.fromkeys(("a", "an", "this", "that", "each", "every", "one", "another"), "sg"),
    **dict.fromkeys(("these", "those", "many", "several", "few", "both", "two", "three"), "pl"),
}
IRREGULAR_PLURALS = frozenset(
    ("people", "children", "men", "women", "police", "feet", "teeth", "mice", "geese", "cattle")
)
RELATIVES = frozenset(("who", "which", "that"))
# Words a subject search walks over leftwards: adverbs between subject and verb ("she
# often goes"), negation, and the auxiliaries of the verb group itself.
_SKIP = frozenset(
    (*TIME_WORDS, "also", "really", "even", "only", "all", "both", "not", "n't", "first")
)
_NOT_A_SUBJECT = frozenset(
    (
        *("the", "a", "an", "of", "in", "on", "at", "to", "for", "with", "by", "from"),
        *("and", "or", "but", "if", "when", "while", "because", "as", "than", "so"),
        *("into", "about", "over", "under", "after", "before", "like", "my", "your"),
        *("his", "her", "its", "our", "their", "me", "him", "us", "them"),
    )
)
_PUNCT = re.compile(r"[^\w']")
SENTENCE_SCAN = 8
"""How far left (tokens) the subject is looked for."""


def _is_punct(word: str) -> bool:
    return bool(_PUNCT.fullmatch(word))


def _noun_number(low: Sequence[str], j: int) -> str:
    """``sg`` or ``pl`` for the noun phrase ending at ``low[j]`` (a noun, we assume)."""
    word = low[j]
    # a coordinated subject: "Tom and Anna", "my brother and I"
    for k in range(j - 1, max(j - 4, -1), -1):
        if low[k] == "and":
            return "pl"
        if _is_punct(low[k]) or low[k] in _NOT_A_SUBJECT - {"the", "a", "an"}:
            break
    for k in range(j - 1, max(j - 4, -1), -1):
        if low[k] in DETERMINER_NUMBER:
            return DETERMINER_NUMBER[low[k]]
        if _is_punct(low[k]):
            break
    if word in IRREGULAR_PLURALS:
        return "pl"
    plural = word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")) and len(word) > 3
    return "pl" if plural else "sg"


def _determiner(low: Sequence[str], j: int) -> str:
    """What opens the noun phrase ending at ``low[j]``: ``the``, ``a``, ``poss`` (my, his,
    a name's), ``num`` (this, every, two...), or ``bare`` (generic: "dry skin", "salts")."""
    for k in range(j - 1, max(j - 4, -1), -1):
        word = low[k]
        if word in ("the",):
            return "the"
        if word in ("a", "an"):
            return "a"
        if word in ("my", "your", "his", "her", "its", "our", "their", "'s"):
            return "poss"
        if word in DETERMINER_NUMBER:
            return "num"
        if _is_punct(word) or word in _NOT_A_SUBJECT or word in AUX_CLASS:
            break
    return "bare"


def subject(tokens: Sequence[str], index: int) -> tuple[str, str]:
    """(kind, person/number) of the nearest subject left of the slot.

    kind: ``pron``, ``name`` (capitalised, not sentence-initial), ``noun``, ``rel`` (a
    relative pronoun; its antecedent's number is used), or ``none`` (no subject found: an
    imperative, a fragment, the slot after a preposition). Person/number: ``1sg``, ``2``,
    ``3sg``, ``pl`` or ``none``.
    """
    low = [t.lower() for t in tokens]
    j = index - 1
    while j >= 0 and (low[j] in _SKIP or low[j] in AUX_CLASS or low[j].endswith("ly")):
        if low[j] == "to":  # an infinitive has no subject of its own
            return "none", "none"
        j -= 1
    if j < 0 or index - j > SENTENCE_SCAN or _is_punct(low[j]):
        return "none", "none"
    word = low[j]
    if word in RELATIVES and j > 0 and not _is_punct(low[j - 1]):
        if low[j - 1] in PRONOUN_PERSON:
            return "rel", PRONOUN_PERSON[low[j - 1]]
        return "rel", "3sg" if _noun_number(low, j - 1) == "sg" else "pl"
    if word in PRONOUN_PERSON:
        coordinated = j >= 2 and low[j - 1] == "and"
        return "pron", "pl" if coordinated else PRONOUN_PERSON[word]
    if word in _NOT_A_SUBJECT or word in DETERMINER_NUMBER:
        return "none", "none"
    kind = "name" if tokens[j][:1].isupper() and j > 0 else f"noun-{_determiner(low, j)}"
    return kind, "3sg" if _noun_number(low, j) == "sg" else "pl"


def time_cues(tokens: Sequence[str], index: int) -> set[str]:
    """Time classes (``past``, ``future``, ``now``, ``habit``, ``perfect``) anywhere in the
    sentence, each also with the side of the slot it stands on."""
    low = [t.lower() for t in tokens]
    found: set[str] = set()
    for k, word in enumerate(low):
        if k == index:
            continue
        kind = TIME_WORDS.get(word)
        if kind is None and word in TIME_ANCHORS:
            # the time noun right after, or after one word ("every single morning")
            after = set(low[k + 1 : k + 3])
            kind = TIME_ANCHORS[word] if after & TIME_NOUNS else None
        if kind is None and word in TIME_NOUNS:
            before = low[k - 1] if k > 0 else ""
            if k + 1 < len(low) and low[k + 1] == "ago":
                kind = "past"
            elif before in ("a", "per") or word == "times":  # "twice a day", "three times"
                kind = "habit"
        if kind is None and _YEAR.fullmatch(word) and k > 0 and low[k - 1] in ("in", "since"):
            kind = "past"
        if kind is not None:
            found.add(kind)
            found.add(f"{kind}{'<' if k < index else '>'}")
    return found


def governing_aux(tokens: Sequence[str], index: int) -> tuple[str, bool]:
    """The class of the nearest auxiliary, modal or ``to`` within reach left of the slot
    (``none`` if there is none), and whether only adverbs or negation stand between."""
    low = [t.lower() for t in tokens]
    adjacent = True
    for j in range(index - 1, max(index - 1 - AUX_LOOKBACK, -1), -1):
        word = low[j]
        if word in AUX_CLASS:
            return AUX_CLASS[word], adjacent
        if word in NEGATION or word in _SKIP or word.endswith("ly"):
            continue
        adjacent = False
    return "none", False


# What the word after the slot is, by the classes that tell an object (progressive or
# active) from a passive's by-phrase or nothing.
_NEXT_DETERMINERS = frozenset(
    (
        *("the", "a", "an", "this", "that", "these", "those", "his", "her", "my", "your"),
        *("our", "their", "its", "some", "any", "no", "every", "each"),
    )
)
_NEXT_PREPOSITIONS = frozenset(
    (
        *("in", "on", "at", "to", "for", "with", "from", "into", "of", "over", "under"),
        *("about", "through", "across", "as", "onto", "upon", "against", "between"),
        *("during", "without", "after", "before"),
    )
)
_NEXT_OBJECTS = frozenset(
    ("me", "him", "us", "them", "it", "you", "himself", "herself", "themselves", "itself")
)
_NEXT_PARTICLES = frozenset(("out", "up", "down", "off", "away", "back", "around"))


def next_word(low: Sequence[str], index: int) -> str:
    """The class of the word right after the slot: ``end``, ``punct``, ``by``, ``det``,
    ``obj``, ``prep``, ``part``, ``adv``, ``num`` or ``word``."""
    if index + 1 >= len(low):
        return "end"
    word = low[index + 1]
    for name, words in (
        ("by", ("by",)),
        ("det", _NEXT_DETERMINERS),
        ("obj", _NEXT_OBJECTS),
        ("prep", _NEXT_PREPOSITIONS),
        ("part", _NEXT_PARTICLES),
    ):
        if word in words:
            return name
    if _is_punct(word):
        return "punct"
    if word.endswith("ly"):
        return "adv"
    return "num" if word[:1].isdigit() else "word"


def verb_tenses(low: Sequence[str], index: int) -> set[str]:
    """The tense (``past``, ``pres``) of the sentence's other finite verbs, each with the
    side of the slot it stands on: a lexicon verb's past-only or third-person-only
    spelling not after an auxiliary (``had walked`` is a participle) or determiner (``the
    walks`` is a noun)."""
    past, present = packaged_lexicon().tense_spellings()
    found: set[str] = set()
    for k, word in enumerate(low):
        before = low[k - 1] if k > 0 else ""
        if k == index or before in AUX_CLASS:
            continue
        side = "<" if k < index else ">"
        if word in past and not word.endswith("s"):
            found.add(f"past{side}")
        elif word in present and k > 0 and before not in _NEXT_DETERMINERS:
            found.add(f"pres{side}")
    return found


def cue_features(tokens: Sequence[str], index: int) -> list[str]:
    """Every cue of the slot at ``index`` as ``family=value`` strings (the slot's own token
    is never read)."""
    low = [t.lower() for t in tokens]
    kind, person = subject(tokens, index)
    aux, adjacent = governing_aux(tokens, index)
    context = {CONTEXT_TENSE[w] for k, w in enumerate(low) if k != index and w in CONTEXT_TENSE}
    times = time_cues(tokens, index)
    features = [
        f"subj={kind}",
        f"person={person}",
        f"aux={aux}",
        f"aux={aux}:{'adjacent' if adjacent else 'near'}",
        f"aux={aux}:person={person}",
        *(f"time={t}" for t in sorted(times) or ["none"]),
        *(f"tense={t}" for t in sorted(context) or ["none"]),
        *(f"time={t}:person={person}" for t in sorted(times) if t.isalpha()),
    ]
    last = low[-1] if low else ""
    features.append(f"end={last if _is_punct(last) else 'word'}")
    features.append(f"first={'Xx' if tokens and tokens[0][:1].isupper() else 'x'}")
    features.append(f"slot-last={index == len(tokens) - 1}")
    return features


def lexicon_features(tokens: Sequence[str], index: int, lemma: str) -> list[str]:
    """The cues that need the verb lexicon, for the slot at ``index`` holding ``lemma``."""
    low = [t.lower() for t in tokens]
    aux, adjacent = governing_aux(tokens, index)
    lexicon = packaged_lexicon()
    kind = lexicon.valency(lemma)
    subj, _person = subject(tokens, index)
    return [
        f"aux={aux}:{'adjacent' if adjacent else 'near'}:valency={kind}",
        f"aux={aux}:subj={subj}:valency={kind}",
        f"valency={kind}:next={next_word(low, index)}",
        f"class={lexicon.semantic_class(lemma)}",
        *(f"verbs={t}" for t in sorted(verb_tenses(low, index)) or ["none"]),
    ]
