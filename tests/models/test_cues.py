"""The grammatical cues: time adverbials, the subject's person and number, the governing
auxiliary, read the way a learner is taught to read them."""

import pytest

from gramops.core.params import FeatureParams
from gramops.corpus.tagging import tokenize
from gramops.models.cues import (
    cue_features,
    governing_aux,
    lexicon_features,
    next_word,
    subject,
    time_cues,
    verb_tenses,
)
from gramops.models.features import featurize


def slot(sentence: str) -> tuple[list[str], int]:
    tokens = tokenize(sentence.replace("___", "SLOT"))
    return tokens, tokens.index("SLOT")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Yesterday she ___ to school.", {"past", "past<"}),
        ("She ___ home two days ago.", {"past", "past>"}),
        ("Last week my brother ___ a fish.", {"past", "past<"}),
        ("In 1990 they ___ a house.", {"past", "past<"}),
        ("He ___ his keys every single morning.", {"habit", "habit>"}),
        ("We ___ dinner twice a day.", {"habit", "habit>"}),
        ("She ___ to Rome tomorrow.", {"future", "future>"}),
        ("I ___ the last page.", set()),
        ("She ___ next to him.", set()),
    ],
)
def test_time_adverbials_anywhere_in_the_sentence(sentence, expected):
    assert time_cues(*slot(sentence)) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("She ___ to school.", ("pron", "3sg")),
        ("They often ___ to school.", ("pron", "pl")),
        ("I ___ tired.", ("pron", "1sg")),
        ("You ___ late.", ("pron", "2")),
        ("My brothers ___ football.", ("noun-poss", "pl")),
        ("The children ___ loudly.", ("noun-the", "pl")),
        ("Tom and Anna ___ tea.", ("name", "pl")),
        ("My brother and I ___ tea.", ("pron", "pl")),
        ("The dog ___ the ball.", ("noun-the", "3sg")),
        ("Dry skin ___ easily.", ("noun-bare", "3sg")),
        ("people who ___ gossip", ("rel", "pl")),
        ("___ the door.", ("none", "none")),
        ("He wants to ___ home.", ("none", "none")),
    ],
)
def test_the_nearest_subject_before_the_slot(sentence, expected):
    assert subject(*slot(sentence)) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("She has ___ the book.", ("have", True)),
        ("She has not yet ___ it.", ("have", True)),
        ("They will ___ soon.", ("modal", True)),
        ("He wants to ___ home.", ("to", True)),
        ("It was ___ by her.", ("be", True)),
        ("Did you ___ it?", ("do", False)),
        ("She ___ home.", ("none", False)),
    ],
)
def test_the_governing_auxiliary(sentence, expected):
    assert governing_aux(*slot(sentence)) == expected


def test_the_slot_token_itself_is_never_read():
    tokens, index = slot("Yesterday she ___ home.")
    other = [*tokens[:index], "yesterday", *tokens[index + 1 :]]
    assert cue_features(tokens, index) == cue_features(other, index)


def test_cues_are_features_only_when_asked():
    record = {"tokens": ["Yesterday", "she", "went", "home"], "verb_index": 2, "lemma": "go"}
    plain = featurize([record], FeatureParams(hash_bits=16, window=3))
    cued = featurize([record], FeatureParams(hash_bits=16, window=3, cues=True))
    assert set(plain.indices) < set(cued.indices)
    assert FeatureParams(hash_bits=16, window=3).cues is False  # older configs lack the key


def test_valency_beside_the_auxiliary_tells_progressive_from_passive():
    laugh = lexicon_features(*slot("The children were ___ loudly."), "laugh")
    deny = lexicon_features(*slot("The prisoners were ___ the right."), "deny")
    assert "aux=be:adjacent:valency=intr" in laugh
    assert "aux=be:adjacent:valency=trans" in deny
    assert "aux=be:subj=noun-the:valency=intr" in laugh
    assert "valency=trans:next=det" in deny
    assert "class=verb.stative" in lexicon_features(*slot("The box ___ apples."), "contain")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("It was ___ by the police.", "by"),
        ("She ___ the letter.", "det"),
        ("They ___ him.", "obj"),
        ("He ___ into the room.", "prep"),
        ("She ___ up.", "part"),
        ("He ___ quickly.", "adv"),
        ("She ___.", "punct"),
        ("She ___", "end"),
        ("He ___ apples.", "word"),
    ],
)
def test_the_word_after_the_slot_by_class(sentence, expected):
    tokens, index = slot(sentence)
    assert next_word([t.lower() for t in tokens], index) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("He walked in and ___ down.", {"past<"}),
        ("She ___ home and cooked dinner.", {"past>"}),
        ("She sits there and ___ all day.", {"pres<"}),
        ("They have walked and ___ .", set()),  # a participle after its auxiliary
        ("The walks ___ long.", set()),  # a noun after its determiner
    ],
)
def test_the_tense_of_the_other_verbs(sentence, expected):
    tokens, index = slot(sentence)
    assert verb_tenses([t.lower() for t in tokens], index) == expected


def test_the_lexicon_features_are_hashed_only_when_asked():
    records = [
        {"tokens": ["The", "children", "were", "laughing"], "verb_index": 3, "lemma": "laugh"}
    ]
    cues = FeatureParams(hash_bits=16, window=3, cues=True)
    both = FeatureParams(hash_bits=16, window=3, cues=True, lexicon=True)
    plain, rich = featurize(records, cues), featurize(records, both)
    assert rich.nnz == plain.nnz + len(lexicon_features(records[0]["tokens"], 3, "laugh"))
    assert set(plain.indices) < set(rich.indices)
