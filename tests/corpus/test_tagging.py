"""Unit tests of the tagging rules: tokens, Penn tags, acceptable forms, verb confirmation."""

from __future__ import annotations

import pytest

from gramops.corpus.build import locate
from gramops.corpus.tagging import Lexicon, acceptable_forms, confirm_verb, tag_verb, tokenize

# ---------------------------------------------------------------- tokenizing


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Stop the car!", ["Stop", "the", "car", "!"]),
        ("He didn't go", ["He", "did", "n't", "go"]),
        ("it's the dog's bone", ["it", "'s", "the", "dog", "'s", "bone"]),
        ("I can't; you cannot", ["I", "ca", "n't", ";", "you", "can", "not"]),
        ("She ice-skated, then left...", ["She", "ice-skated", ",", "then", "left", "..."]),
        ("they’ve gone -- to the U.S.", ["they", "'ve", "gone", "--", "to", "the", "U.S."]),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


# ---------------------------------------------------------------- tagging


@pytest.mark.parametrize(
    ("text", "lemma", "tag"),
    [
        ("He stopped the car", "stop", "VBD"),
        ("The car had already stopped", "stop", "VBN"),  # have + adverb
        ("The car was stopped by the police", "stop", "VBN"),  # passive
        ("The newly stopped car", "stop", "VBN"),  # determiner + participle
        ("pressed flowers", "press", "VBN"),  # subjectless noun phrase
        ("knocked out a pipe", "knock", "VBD"),  # subjectless clause with an object
        ("Only 5 of the 120 cases docketed were tried", "docket", "VBN"),  # reduced relative
        ("He had the car repaired", "repair", "VBN"),  # causative have + object
        ("She has washed and dried the dishes", "dry", "VBN"),  # coordinated participle
        ("Has he stopped ?", "stop", "VBN"),  # inverted auxiliary
        ("I want to stop", "stop", "VB"),
        ("You should stop", "stop", "VB"),
        ("He did not stop", "stop", "VB"),
        ("Did you stop there ?", "stop", "VB"),
        ("Stop the car !", "stop", "VB"),  # imperative
        ("Please stop", "stop", "VB"),
        ("The clown made the children laugh", "laugh", "VB"),
        ("Let them laugh", "laugh", "VB"),
        ("They stop at every corner", "stop", "VBP"),
        ("Dogs bark", "bark", "VBP"),
        ("He cut the bread", "cut", "VBD"),  # 3sg subject: base spelling must be past
        ("We cut the cake", "cut", "VBP"),
        ("He goes home", "go", "VBZ"),
        ("She is running", "run", "VBG"),
        ("They have run far", "run", "VBN"),
        ("They run far", "run", "VBP"),
    ],
)
def test_tag_rules(text: str, lemma: str, tag: str) -> None:
    tokens = tokenize(text)
    low = [t.lower() for t in tokens]
    match = locate(tokens, [lemma], {})
    assert match is not None, text
    assert low[match.index].startswith(lemma[:2])
    assert tag_verb(tokens, match.index, lemma, Lexicon()) == tag


# ---------------------------------------------------------------- acceptable sets


@pytest.mark.parametrize(
    ("text", "index", "lemma", "tag", "expected"),
    [
        ("He stopped the car", 1, "stop", "VBD", ["stopped", "stops"]),
        ("They stopped the car", 1, "stop", "VBD", ["stop", "stopped"]),
        ("I stopped", 1, "stop", "VBD", ["stop", "stopped"]),
        ("He goes home", 1, "go", "VBZ", ["goes", "went"]),
        ("They go home", 1, "go", "VBP", ["go", "went"]),
        ("I want to go", 3, "go", "VB", ["go"]),
        ("He has gone", 2, "go", "VBN", ["gone"]),
        ("She is going", 2, "go", "VBG", ["going"]),
        ("They learned it", 1, "learn", "VBD", ["learn", "learned", "learnt"]),
        ("She was happy", 1, "be", "VBD", ["is", "was"]),
        ("I was happy", 1, "be", "VBD", ["am", "was"]),
        ("They were happy", 1, "be", "VBD", ["are", "were"]),
        ("They are tired", 1, "be", "VBP", ["are", "were"]),
        ("I am tired", 1, "be", "VBP", ["am", "was"]),
        ("It is late", 1, "be", "VBZ", ["is", "was"]),
    ],
)
def test_acceptable_forms(text: str, index: int, lemma: str, tag: str, expected: list[str]) -> None:
    assert acceptable_forms(tokenize(text), index, lemma, tag) == expected


def test_acceptable_forms_trusts_a_verb_exc_spelling() -> None:
    tokens = tokenize("The army airdroped supplies")
    assert acceptable_forms(tokens, 2, "airdrop", "VBD") == ["airdroped", "airdrops"]


# ---------------------------------------------------------------- tutor domain


@pytest.mark.parametrize(
    ("text", "index", "lemma", "confirmed"),
    [
        ("they drove the car", 1, "drive", True),  # subject pronoun + agreeing past
        ("he runs a shop", 1, "run", True),
        ("he run a shop", 1, "run", False),  # no agreement: not trusted
        ("she is able to swim", 4, "swim", True),  # trigger + to + base (swim is a noun)
        ("he went to swim", 3, "swim", False),  # "to swim" after a non-trigger: noun reading
        ("you must go", 2, "go", True),
        ("the running water", 1, "run", False),
        ("the water is running", 3, "run", False),  # running is also an adjective
        ("he is running the show", 2, "run", True),  # ... unless an object follows
        ("it has gone", 2, "go", True),
        ("the will power", 2, "power", False),
    ],
)
def test_confirm_verb(text: str, index: int, lemma: str, confirmed: bool) -> None:
    lexicon = Lexicon(
        nouns=frozenset({"swim", "water", "power"}), adjectives=frozenset({"running"})
    )
    assert confirm_verb(tokenize(text), index, lemma, lexicon) is confirmed
