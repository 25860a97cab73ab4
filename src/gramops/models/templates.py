"""Training sentences built from templates: the cues WordNet's examples rarely show.

About 100 of WordNet's 16,225 training sentences carry a past-time adverbial, and hardly
any pairs a plural subject with a present verb, so a model trained on them alone cannot
learn that ``yesterday`` means past or that ``they`` takes ``go``. These templates pair a
subject (pronoun, name, singular or plural noun phrase, coordinated subject) with a verb
phrase and a cue (past-time or habitual adverbial, perfect, progressive, passive, modal,
infinitive), and label the slot by the rule the cue teaches.

They are training data only: the train stage adds them to the real training split, never
to dev or test (early stopping, calibration and every reported metric stay on WordNet's
real sentences), and records carry the domain ``template``. Their lemmas and nouns are
drawn from lists below; the behaviour suite in ``tests/model`` is hand-written apart from
them, and a unit test checks that no template sentence is one of its sentences.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gramops.corpus.inflection import inflect
from gramops.corpus.tagging import tokenize

DOMAIN = "template"

# (lemma, complement): the verb phrase after the slot. Irregular and regular verbs alike.
VERB_PHRASES: tuple[tuple[str, str], ...] = (
    ("walk", "to the station"),
    ("cook", "pasta"),
    ("clean", "the kitchen"),
    ("paint", "the fence"),
    ("wash", "the car"),
    ("call", "their parents"),
    ("watch", "a film"),
    ("open", "the window"),
    ("fix", "the bike"),
    ("carry", "the boxes"),
    ("study", "chemistry"),
    ("travel", "abroad"),
    ("work", "in the garden"),
    ("listen", "to the radio"),
    ("answer", "the phone"),
    ("climb", "the hill"),
    ("deliver", "the newspapers"),
    ("visit", "the museum"),
    ("write", "an email"),
    ("take", "the bus"),
    ("bring", "some cake"),
    ("sing", "in the choir"),
    ("swim", "in the lake"),
    ("drive", "to the office"),
    ("ride", "a horse"),
    ("teach", "mathematics"),
    ("feed", "the cat"),
    ("build", "a sandcastle"),
    ("sell", "vegetables at the market"),
    ("wear", "a blue coat"),
    ("speak", "German"),
    ("leave", "the house early"),
    ("read", "the newspaper"),
    ("draw", "pictures"),
    ("forget", "the password"),
    ("meet", "their friends"),
    ("keep", "a diary"),
    ("spend", "the money"),
    ("throw", "the ball"),
    ("fly", "to Madrid"),
)
TRANSITIVE_OBJECTS: dict[str, str] = {
    "cook": "The pasta",
    "clean": "The kitchen",
    "paint": "The fence",
    "wash": "The car",
    "fix": "The bike",
    "deliver": "The newspapers",
    "write": "The email",
    "build": "The sandcastle",
    "sell": "The vegetables",
    "read": "The newspaper",
    "throw": "The ball",
    "feed": "The cat",
}
# (subject, person): 3sg subjects take VBZ, the others VBP; "I" and 3sg take "was".
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("I", "1sg"),
    ("You", "2"),
    ("He", "3sg"),
    ("She", "3sg"),
    ("We", "pl"),
    ("They", "pl"),
    ("Jacob", "3sg"),
    ("Olivia", "3sg"),
    ("Our neighbour", "3sg"),
    ("The farmer", "3sg"),
    ("My cousin", "3sg"),
    ("Our neighbours", "pl"),
    ("The farmers", "pl"),
    ("My cousins", "pl"),
    ("Jacob and Olivia", "pl"),
    ("The nurses", "pl"),
)
PAST_CUES = (
    "yesterday",
    "last night",
    "last month",
    "two years ago",
    "a week ago",
    "in 2015",
    "last Tuesday",
    "the day before yesterday",
)
HABIT_CUES = (
    "every day",
    "every weekend",
    "on Fridays",
    "twice a week",
    "every summer",
    "most evenings",
)
HABIT_ADVERBS = ("usually", "always", "often", "sometimes", "never", "normally")
MODALS = ("will", "can", "should", "must", "might", "could", "would")
# (after a 3sg subject, after any other)
INFINITIVE_HEADS = (
    ("wants to", "want to"),
    ("decided to", "decided to"),
    ("hopes to", "hope to"),
    ("plans to", "plan to"),
    ("tried to", "tried to"),
    ("needs to", "need to"),
)
AGENTS = ("our neighbour", "the farmers", "my cousin", "Jacob", "the nurses", "Olivia")
PERFECT_ADVERBS = ("", "already ", "just ", "never ", "recently ")
# what interrupted a past progressive ("She was reading when the bell rang")
INTERRUPTIONS = (
    "the bell rang",
    "we arrived",
    "the lights went out",
    "it started to rain",
    "the teacher came in",
    "I saw them",
)
# where or when a passive without its agent happened ("The fence was painted last week")
PASSIVE_SETTINGS = ("last week", "in the morning", "every Monday", "at the weekend", "twice")


PRONOUNS = frozenset(("He", "She", "We", "They", "You"))


def _agree(person: str, singular: str, plural: str) -> str:
    return singular if person == "3sg" else plural


def _inside(subject: str) -> str:
    """The subject as it reads after an opening adverbial ("Yesterday she ...")."""
    return subject.lower() if subject in PRONOUNS else subject


def _sentence(rng: np.random.Generator) -> tuple[str, str, str]:
    """One template sentence (slot ``___``), its lemma and its tag."""

    def pick(options: tuple[Any, ...] | list[Any]) -> Any:
        return options[int(rng.integers(len(options)))]

    lemma, rest = pick(VERB_PHRASES)
    subject, person = pick(SUBJECTS)
    kind = int(rng.integers(11))
    if kind == 0:  # a past-time adverbial after the verb phrase
        return f"{subject} ___ {rest} {pick(PAST_CUES)}.", lemma, "VBD"
    if kind == 1:  # ... or before the subject
        cue = pick(PAST_CUES)
        return f"{cue[:1].upper()}{cue[1:]} {_inside(subject)} ___ {rest}.", lemma, "VBD"
    if kind == 2:  # a habit: present simple, agreeing with the subject
        return f"{subject} ___ {rest} {pick(HABIT_CUES)}.", lemma, _agree(person, "VBZ", "VBP")
    if kind == 3:  # a frequency adverb between subject and verb
        tag = _agree(person, "VBZ", "VBP")
        return f"{subject} {pick(HABIT_ADVERBS)} ___ {rest}.", lemma, tag
    if kind == 4:  # perfect
        aux = _agree(person, "has", "have")
        return f"{subject} {aux} {pick(PERFECT_ADVERBS)}___ {rest}.", lemma, "VBN"
    if kind == 5:  # progressive
        aux = {"1sg": "am", "3sg": "is"}.get(person, "are")
        return f"{subject} {aux} ___ {rest} now.", lemma, "VBG"
    if kind == 9:  # past progressive, interrupted: no time word, only the auxiliary
        aux = "was" if person in ("1sg", "3sg") else "were"
        return f"{subject} {aux} ___ {rest} when {pick(INTERRUPTIONS)}.", lemma, "VBG"
    if kind == 6:  # modal
        return f"{subject} {pick(MODALS)} ___ {rest}.", lemma, "VB"
    if kind == 7:  # infinitive
        head = _agree(person, *pick(INFINITIVE_HEADS))
        return f"{subject} {head} ___ {rest}.", lemma, "VB"
    # passive, on a verb whose object can be its subject; the agent a noun phrase, or
    # (kind 10) no agent but a time or place
    lemma = pick(sorted(TRANSITIVE_OBJECTS))
    aux = pick(("was", "is", "has been", "will be"))
    after = f"by {pick(AGENTS)}" if kind == 8 else pick(PASSIVE_SETTINGS)
    return f"{TRANSITIVE_OBJECTS[lemma]} {aux} ___ {after}.", lemma, "VBN"


def template_records(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` template training records, the same for the same ``count`` and ``seed``.

    Each is a corpus record (tokens with the slot at ``verb_index``, lemma, tag, form,
    acceptable forms) of domain ``template``; the slot token is the gold form, which the
    features never read.
    """
    if count < 0:
        raise ValueError(f"train.templates is {count}; expected 0 or more template sentences")
    rng = np.random.default_rng([seed, 0x7E4F1A7E])
    records = []
    for k in range(count):
        sentence, lemma, tag = _sentence(rng)
        form = inflect(lemma, tag)
        before, after = sentence.split("___")
        left = tokenize(before)
        records.append(
            {
                "id": f"{DOMAIN}:{k}",
                "domain": DOMAIN,
                "tokens": [*left, form, *tokenize(after)],
                "verb_index": len(left),
                "lemma": lemma,
                "tag": tag,
                "form": form,
                "acceptable": [form],
            }
        )
    return records
