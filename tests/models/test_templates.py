"""Template training sentences: labelled by the rule their cue teaches, reproducible, and
never one of the behaviour suite's hand-written sentences."""

import pytest

from gramops.core.vocab import TAGS
from gramops.corpus.inflection import inflect
from gramops.models.templates import DOMAIN, template_records


def text(record) -> str:
    tokens = list(record["tokens"])
    tokens[record["verb_index"]] = "___"
    return " ".join(tokens)


def test_same_count_and_seed_give_the_same_sentences():
    assert template_records(200, 7) == template_records(200, 7)
    assert template_records(200, 7) != template_records(200, 8)
    assert template_records(0, 7) == []


def test_records_are_corpus_records_of_their_own_domain():
    for record in template_records(300, 1):
        assert record["domain"] == DOMAIN and record["tag"] in TAGS
        assert record["tokens"][record["verb_index"]] == record["form"]
        assert record["form"] == inflect(record["lemma"], record["tag"])


def test_labels_follow_the_cue():
    records = template_records(2000, 3)
    for record in records:
        words = [t.lower() for t in record["tokens"]]
        if "yesterday" in words or "ago" in words:
            assert record["tag"] == "VBD", text(record)
        if "every" in words and words[0] in ("he", "she"):
            assert record["tag"] == "VBZ", text(record)
        if "every" in words and words[0] in ("they", "we", "i", "you"):
            assert record["tag"] == "VBP", text(record)
        if record["verb_index"] > 0 and words[record["verb_index"] - 1] in ("has", "have"):
            assert record["tag"] == "VBN", text(record)


def test_a_negative_count_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="train.templates"):
        template_records(-1, 0)


def test_no_template_is_a_behaviour_suite_sentence():
    from tests.model.cases import ALL_SENTENCES

    made = {text(r).lower().replace(" .", ".") for r in template_records(20000, 20261123)}
    suite = {" ".join(s.lower().split()) for s in ALL_SENTENCES}
    assert not made & suite


def test_be_plus_slot_is_taught_without_now_and_by():
    records = template_records(2000, 3)
    interrupted = [r for r in records if "when" in r["tokens"]]
    agentless = [
        r
        for r in records
        if r["tag"] == "VBN"
        and "by" not in r["tokens"]
        and r["tokens"][r["verb_index"] - 1] in ("was", "is", "been", "be")
    ]
    assert interrupted and all(r["tag"] == "VBG" for r in interrupted)
    assert all(r["tokens"][r["verb_index"] - 1] in ("was", "were") for r in interrupted)
    assert "now" not in {t for r in interrupted for t in r["tokens"]}
    assert agentless
