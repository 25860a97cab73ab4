"""Unit tests of verb inflection, focused on the gaps patched over lemminflect."""

from __future__ import annotations

import pytest

from gramops.core.vocab import TAGS
from gramops.corpus.inflection import forms, inflect, is_irregular, regular_forms


def test_every_lemma_gets_all_six_tags_lowercased() -> None:
    for lemma in ("stop", "Go", "blorfify", "be", "x-ray"):
        table = forms(lemma)
        assert set(table) == set(TAGS)
        assert all(s == s.lower() and s for spellings in table.values() for s in spellings)


def test_regular_past_participle_gap_is_filled() -> None:
    # lemminflect has no VBN for most regular verbs.
    assert forms("visit")["VBN"] == ("visited",)
    assert forms("stop")["VBN"] == ("stopped",)


def test_unknown_lemma_follows_spelling_rules() -> None:
    assert forms("blorf") == {
        "VB": ("blorf",),
        "VBD": ("blorfed",),
        "VBG": ("blorfing",),
        "VBN": ("blorfed",),
        "VBP": ("blorf",),
        "VBZ": ("blorfs",),
    }


@pytest.mark.parametrize(
    ("lemma", "past", "ing", "third"),
    [
        ("quiz", "quizzed", "quizzing", "quizzes"),  # doubled consonant, -es
        ("frap", "frapped", "frapping", "fraps"),  # unknown one-syllable CVC doubles
        ("grout", "grouted", "grouting", "grouts"),  # vowel pair: no doubling
        ("zorify", "zorified", "zorifying", "zorifies"),  # consonant + y
        ("glimbate", "glimbated", "glimbating", "glimbates"),  # silent e
        ("mimic", "mimicked", "mimicking", "mimics"),  # lemminflect says "mimiced"
    ],
)
def test_spelling_rules(lemma: str, past: str, ing: str, third: str) -> None:
    table = forms(lemma)
    assert (table["VBD"][0], table["VBG"][0], table["VBZ"][0]) == (past, ing, third)


def test_unknown_compounds_inflect_like_their_verb() -> None:
    assert forms("undergrow")["VBD"] == ("undergrew",)
    assert forms("airdrop")["VBD"] == ("airdropped",)
    assert forms("strip-search")["VBZ"] == ("strip-searches",)
    # Accidental tails are not taken: palaver is not pal + aver.
    assert forms("palaver")["VBD"] == ("palavered",)


def test_split_spellings_from_lemminflect_are_dropped() -> None:
    assert forms("overeat")["VBD"] == ("overate",)
    assert forms("undergo")["VBD"] == ("underwent",)


def test_be_holds_every_person_in_vbp_and_vbd() -> None:
    table = forms("be")
    assert table["VBP"] == ("are", "am")
    assert table["VBD"] == ("was", "were")
    assert (table["VBZ"], table["VBN"], table["VBG"]) == (("is",), ("been",), ("being",))
    assert inflect("be", "VBP") == "are"


def test_irregulars_and_preferred_spelling_first() -> None:
    assert forms("go")["VBN"] == ("gone",)
    assert inflect("sing", "VBD") == "sang"
    assert forms("learn")["VBD"] == ("learned", "learnt")
    assert forms("spell")["VBN"] == ("spelt", "spelled")  # regular VBD added as participle


def test_is_irregular() -> None:
    assert is_irregular("go") and is_irregular("cut") and is_irregular("be")
    assert not is_irregular("stop") and not is_irregular("prefer") and not is_irregular("try")


def test_forms_returns_a_copy_so_the_cache_cannot_be_corrupted() -> None:
    forms("walk")["VBD"] = ("walkd",)
    assert inflect("walk", "VBD") == "walked"
    assert forms("walk")["VBD"] == ("walked",)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="single-word"):
        forms("pull_down")
    with pytest.raises(ValueError, match="unknown verb tag"):
        inflect("walk", "NN")


def test_regular_forms_is_the_rule_baseline() -> None:
    assert regular_forms("tie")["VBG"] == ("tying",)
    assert regular_forms("agree")["VBG"] == ("agreeing",)
    assert regular_forms("fix")["VBZ"] == ("fixes",)
