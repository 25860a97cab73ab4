"""Serving: request validation, slot parsing, batched answers in order, and input formats."""

import dataclasses
import json

import numpy as np
import pytest
from pydantic import ValidationError

from gramops.inference.predictor import Prediction
from gramops.inference.requests import (
    SLOT_TOKEN,
    PredictRequest,
    PredictResponse,
    RequestError,
    parse_request,
    predict,
    read_items,
    read_requests,
)
from helpers.imports import PACKAGE, closure


class FakePredictor:
    """Answers VBZ with ``lemma + "s"``, confidence 0.5 + 0.1 * position; records its calls."""

    def __init__(self) -> None:
        self.calls: list[list[dict]] = []

    def predict(self, records):
        self.calls.append(list(records))
        return Prediction(
            tags=["VBZ"] * len(records),
            forms=[r["lemma"] + "s" for r in records],
            confidence=np.array([0.5 + 0.1 * i for i in range(len(records))]),
        )


def request(sentence: str = "She ___ home.", lemma: str = "walk", **kw) -> PredictRequest:
    return PredictRequest(sentence=sentence, lemma=lemma, **kw)


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("sentence", "found"),
    [("She walks home.", "found 0"), ("She ___ and ___ home.", "found 2"), ("", "found 0")],
)
def test_sentence_needs_exactly_one_slot(sentence, found):
    with pytest.raises(ValidationError) as error:
        request(sentence=sentence)
    (problem,) = error.value.errors()
    assert problem["loc"] == ("sentence",)
    assert "exactly one verb slot" in problem["msg"] and found in problem["msg"]


def test_bracketed_and_bare_slots_together_are_two_slots():
    with pytest.raises(ValidationError, match="found 2"):
        request(sentence="She [___] and ___ home.")


def test_stray_underscores_are_refused():
    with pytest.raises(ValidationError, match="underscores besides the slot"):
        request(sentence="She ____ home.")


@pytest.mark.parametrize("lemma", ["", "went!", "3d", "get  up  and away now", "go/up"])
def test_lemma_must_be_a_verb_in_letters(lemma):
    with pytest.raises(ValidationError) as error:
        request(lemma=lemma)
    (problem,) = error.value.errors()
    assert problem["loc"] == ("lemma",)
    assert "not a verb's base form" in problem["msg"]


@pytest.mark.parametrize(
    ("given", "read"), [("Go", "go"), ("GET UP", "get up"), (" get_up ", "get up")]
)
def test_lemmas_are_read_case_insensitively_and_phrasal_verbs_with_one_space(given, read):
    assert request(lemma=given).lemma == read


@pytest.mark.parametrize(("given", "read"), [(1, "1"), (0, "0"), ("a", "a"), (None, None)])
def test_numeric_ids_are_accepted_as_text(given, read):
    assert request(id=given).id == read


@pytest.mark.parametrize("given", [True, 1.5, [1]])
def test_ids_that_are_not_text_or_whole_numbers_are_refused(given):
    with pytest.raises(ValidationError, match="id"):
        request(id=given)


def test_hyphenated_lemma_and_missing_id_are_accepted():
    req = request(lemma="fine-tune")
    assert req.lemma == "fine-tune" and req.id is None


def test_unknown_and_missing_fields_are_refused():
    with pytest.raises(ValidationError) as error:
        PredictRequest.model_validate({"sentence": "She ___ home.", "lemm": "walk"})
    locs = {problem["loc"] for problem in error.value.errors()}
    assert locs == {("lemma",), ("lemm",)}


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("sentence", "tokens", "index"),
    [
        ("She ___ to school.", ["She", SLOT_TOKEN, "to", "school", "."], 1),
        ("She [___] to school.", ["She", SLOT_TOKEN, "to", "school", "."], 1),
        ("___ you like it?", [SLOT_TOKEN, "you", "like", "it", "?"], 0),
        ("They haven't ___.", ["They", "have", "n't", SLOT_TOKEN, "."], 3),
        ("Yesterday,we [___]", ["Yesterday", ",", "we", SLOT_TOKEN], 3),
    ],
)
def test_parse_request_keeps_the_slot_as_one_token(sentence, tokens, index):
    record = parse_request(request(sentence=sentence, id="r1"))
    assert record == {"id": "r1", "tokens": tokens, "verb_index": index, "lemma": "walk"}


# --------------------------------------------------------------------------- predict


def test_predict_batches_once_and_keeps_order():
    fake = FakePredictor()
    requests = [
        request("She ___ home.", "walk", id="a"),
        request("He [___] fast.", "run", id="b"),
        request("___ it now.", "do"),
    ]
    responses = predict(requests, fake)
    assert len(fake.calls) == 1
    assert [r["lemma"] for r in fake.calls[0]] == ["walk", "run", "do"]
    assert responses == [
        PredictResponse(
            id="a", form="walks", tag="VBZ", confidence=0.5, sentence="She walks home."
        ),
        PredictResponse(id="b", form="runs", tag="VBZ", confidence=0.6, sentence="He runs fast."),
        PredictResponse(id=None, form="dos", tag="VBZ", confidence=0.7, sentence="Dos it now."),
    ]


def test_a_phrasal_verb_inflects_its_head_and_keeps_its_particle_after_the_slot():
    fake = FakePredictor()
    (response,) = predict([request("She ___ early.", "Get Up")], fake)
    assert fake.calls[0][0]["lemma"] == "get"
    assert fake.calls[0][0]["tokens"] == ["She", SLOT_TOKEN, "up", "early", "."]
    assert (response.form, response.sentence) == ("gets up", "She gets up early.")
    assert response.warnings == []  # get_up is a WordNet verb


@pytest.mark.parametrize(
    ("lemma", "expected"),
    [
        ("went", "'went' is an inflected form of 'go', not a verb's base form; did you mean 'go'?"),
        ("walked", "did you mean 'walk'?"),
        ("went up", "did you mean 'go up'?"),
        ("xyzzyq", "'xyzzyq' is not a verb WordNet knows"),
        ("wlak up", "not a verb WordNet knows"),
        ("walk quickly", "'walk quickly' is not a phrasal verb WordNet lists; its head"),
    ],
)
def test_doubtful_lemmas_are_answered_with_a_warning(lemma, expected):
    (response,) = predict([request(lemma=lemma)], FakePredictor())
    assert len(response.warnings) == 1 and expected in response.warnings[0]


@pytest.mark.parametrize("lemma", ["go", "Go", "saw", "fine-tune", "put up"])
def test_verbs_wordnet_knows_get_no_warning(lemma):
    (response,) = predict([request(lemma=lemma)], FakePredictor())
    assert response.warnings == []


class ExplainingPredictor(FakePredictor):
    """Also flags every other answer unsure and, asked to explain, names the first token."""

    def predict(self, records, explain=False):
        return dataclasses.replace(
            super().predict(records),
            unsure=np.array([i % 2 == 1 for i in range(len(records))]),
            because=[[r["tokens"][0]] for r in records] if explain else None,
        )


def test_an_explained_answer_keeps_its_warnings_unsure_flag_and_phrasal_particle():
    requests = [request("Yesterday she ___ home.", "went"), request("They ___ early.", "get up")]
    first, second = predict(requests, ExplainingPredictor(), explain=True)
    assert (first.form, first.unsure, first.because) == ("wents", False, ["Yesterday"])
    assert len(first.warnings) == 1 and "did you mean 'go'?" in first.warnings[0]
    assert (second.form, second.unsure, second.because) == ("gets up", True, ["They"])
    assert second.warnings == []
    # not asked to explain: no reasons, the model is called without them
    plain = predict(requests, ExplainingPredictor())
    assert [r.because for r in plain] == [None, None] and plain[1].unsure


def test_predict_on_no_requests_does_not_call_the_model():
    fake = FakePredictor()
    assert predict([], fake) == [] and fake.calls == []


def test_response_serialises_to_one_json_line():
    (response,) = predict([request(id="x")], FakePredictor())
    assert json.loads(response.model_dump_json()) == {
        "id": "x",
        "form": "walks",
        "tag": "VBZ",
        "confidence": 0.5,
        "sentence": "She walks home.",
        "unsure": False,
        "because": None,
        "warnings": [],
    }


# --------------------------------------------------------------------------- input formats

ONE = {"id": "1", "sentence": "She ___ home.", "lemma": "walk"}
TWO = {"id": "2", "sentence": "They [___] fast.", "lemma": "run"}


def test_reads_a_single_object_even_pretty_printed():
    assert read_requests(json.dumps(ONE, indent=2)) == [PredictRequest(**ONE)]


def test_reads_an_array():
    assert [r.id for r in read_requests(json.dumps([ONE, TWO]))] == ["1", "2"]


def test_reads_json_lines_skipping_blank_lines():
    text = f"{json.dumps(ONE)}\n\n{json.dumps(TWO)}\n"
    assert [r.id for r in read_requests(text)] == ["1", "2"]


def test_invalid_request_in_json_lines_names_its_line_and_field():
    bad = {**TWO, "sentence": "They run fast."}
    text = "\n".join([json.dumps(ONE), "", json.dumps(bad)])
    with pytest.raises(RequestError, match=r"request on line 3: sentence: must mark exactly"):
        read_requests(text)


def test_broken_json_line_names_its_line():
    text = f'{json.dumps(ONE)}\n{json.dumps(TWO)}\n{{"id": "3", "sentence": \n'
    with pytest.raises(RequestError, match=r"^line 3: invalid JSON"):
        read_requests(text)


def test_invalid_request_in_an_array_names_its_index():
    with pytest.raises(RequestError, match=r"request at index 1: lemma: 'Run!' is not"):
        read_requests(json.dumps([ONE, {**TWO, "lemma": "Run!"}]))


def test_every_bad_request_of_a_batch_is_named():
    text = "\n".join([json.dumps({**ONE, "lemma": "?"}), json.dumps(TWO), "{oops"])
    with pytest.raises(RequestError) as error:
        read_requests(text)
    assert "request on line 1: lemma:" in str(error.value)
    assert "; line 3: invalid JSON" in str(error.value)


def test_read_items_answers_bad_lines_in_place_and_keeps_the_good_ones():
    bad = {"id": 3, "sentence": "no slot", "lemma": "go"}
    text = "\n".join([json.dumps(ONE), "{oops", json.dumps(bad), "", json.dumps(TWO)])
    items = read_items(text)
    assert [i.request.id if i.request else None for i in items] == ["1", None, None, "2"]
    assert [i.place for i in items] == [{"line": 1}, {"line": 2}, {"line": 3}, {"line": 5}]
    assert items[1].refusal()["error"].startswith("invalid JSON")
    refusal = items[2].refusal()
    assert refusal["line"] == 3 and refusal["id"] == "3"
    assert refusal["error"].startswith("sentence: must mark exactly one verb slot")
    array = read_items(json.dumps([ONE, {"lemma": "go"}]))
    assert array[1].refusal() == {"index": 1, "error": "sentence: Field required"}


def test_broken_single_document_names_line_and_column():
    with pytest.raises(RequestError, match=r"^line 2 column \d+: invalid JSON"):
        read_requests('{"id": "1",\n "sentence" "She ___ home."}')


def test_non_object_request_is_refused():
    with pytest.raises(RequestError, match="request: .*valid dictionary"):
        read_requests('"She ___ home."')


@pytest.mark.parametrize("text", ["", "  \n"])
def test_empty_input_is_refused(text):
    with pytest.raises(RequestError, match="no requests"):
        read_requests(text)


def test_requests_tokenize_with_the_tagging_rules_not_the_corpus_builder():
    runs = {
        p.relative_to(PACKAGE).as_posix() for p in closure(PACKAGE / "inference" / "requests.py")
    }
    assert "corpus/tagging.py" in runs
    assert "corpus/build.py" not in runs and "corpus/wordnet.py" not in runs
    assert "corpus/lexicon.py" in runs  # the packaged verb lexicon, not the WordNet parser
