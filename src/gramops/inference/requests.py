"""Answering requests: a sentence with one verb slot and a lemma in, the corrected form out.

`gramops predict` and the traffic router share :func:`predict`, so a request is parsed,
batched and answered the same way wherever it arrives. Requests are validated by pydantic
schemas before any model runs: a malformed request is refused with a message naming the
field (and, from :func:`read_requests`, the line or array index) instead of being
answered with a confident form for a sentence the model never saw as intended.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gramops.core.errors import GramopsError
from gramops.corpus.tagging import tokenize
from gramops.inference.predictor import Prediction

SLOT_TOKEN = "___"
# `[___]` first so its brackets are consumed with the underscores, not left as tokens.
_SLOT = re.compile(r"\[___\]|___")
_LEMMA = re.compile(r"[a-z]+(?:-[a-z]+)*")


class RequestError(GramopsError):
    """Request input that cannot be read or does not match :class:`PredictRequest`."""


class Answering(Protocol):
    def predict(self, records: Sequence[dict[str, Any]], explain: bool = ...) -> Prediction: ...


class PredictRequest(BaseModel):
    """One request: ``sentence`` with its verb slot marked ``___`` or ``[___]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    sentence: str
    lemma: str

    @field_validator("sentence")
    @classmethod
    def _one_slot(cls, sentence: str) -> str:
        slots = len(_SLOT.findall(sentence))
        if slots != 1:
            raise ValueError(f"must mark exactly one verb slot with ___ or [___], found {slots}")
        if "_" in _SLOT.sub("", sentence):
            raise ValueError(
                "has underscores besides the slot; mark the slot with exactly three "
                "underscores (___ or [___]) and use no others"
            )
        return sentence

    @field_validator("lemma")
    @classmethod
    def _one_word(cls, lemma: str) -> str:
        if not _LEMMA.fullmatch(lemma):
            raise ValueError(
                f"{lemma!r} is not a single lowercase word; give the verb's base form "
                "in lowercase letters (hyphens allowed, e.g. 'go', 'fine-tune')"
            )
        return lemma


class PredictResponse(BaseModel):
    """The answer: the corrected ``form`` (Penn ``tag``) and the sentence with it filled in.

    ``confidence`` is calibrated (the share of answers this sure that were exactly right on
    dev); ``unsure`` flags one below the model's threshold; ``because`` names the context
    words that pushed the answer most, when the answer was asked to explain itself.
    """

    id: str | None
    form: str
    tag: str
    confidence: float
    sentence: str
    unsure: bool = False
    because: list[str] | None = None


def parse_request(request: PredictRequest) -> dict[str, Any]:
    """The model's record for ``request``: tokens with the slot as one token at verb_index."""
    before, after = _SLOT.split(request.sentence, maxsplit=1)
    left = tokenize(before)
    return {
        "id": request.id,
        "tokens": [*left, SLOT_TOKEN, *tokenize(after)],
        "verb_index": len(left),
        "lemma": request.lemma,
    }


def _fill(sentence: str, form: str) -> str:
    before, after = _SLOT.split(sentence, maxsplit=1)
    if not before.strip():
        form = form[:1].upper() + form[1:]  # the slot opens the sentence
    return f"{before}{form}{after}"


def predict(
    requests: Sequence[PredictRequest], predictor: Answering, explain: bool = False
) -> list[PredictResponse]:
    """Answer ``requests`` in order with one batched call to ``predictor.predict``;
    ``explain`` adds each answer's ``because`` (one more model call per context word)."""
    if not requests:
        return []
    records = [parse_request(r) for r in requests]
    prediction = predictor.predict(records, explain=True) if explain else predictor.predict(records)
    unsure = prediction.unsure if prediction.unsure is not None else [False] * len(requests)
    because = prediction.because or [None] * len(requests)
    return [
        PredictResponse(
            id=request.id,
            form=form,
            tag=tag,
            confidence=float(confidence),
            sentence=_fill(request.sentence, form),
            unsure=bool(flag),
            because=reasons,
        )
        for request, form, tag, confidence, flag, reasons in zip(
            requests,
            prediction.forms,
            prediction.tags,
            prediction.confidence,
            unsure,
            because,
            strict=True,
        )
    ]


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "request"
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def _validate(value: Any, where: str) -> PredictRequest:
    try:
        return PredictRequest.model_validate(value)
    except ValidationError as error:
        raise RequestError(
            f"{where}: {_problems(error)} (a request is "
            '{"id": optional string, "sentence": "... ___ ...", "lemma": "go"})'
        ) from None


def read_requests(text: str) -> list[PredictRequest]:
    """Requests from one JSON object, a JSON array of objects, or JSON lines."""
    if not text.strip():
        raise RequestError("no requests: the input is empty; send a JSON object, array or lines")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        # a valid first value followed by more is JSON lines; anything else is broken JSON
        if error.msg != "Extra data":
            raise RequestError(
                f"line {error.lineno} column {error.colno}: invalid JSON ({error.msg})"
            ) from None
        return _read_lines(text)
    if isinstance(document, list):
        return [_validate(item, f"request at index {i}") for i, item in enumerate(document)]
    return [_validate(document, "request")]


def _read_lines(text: str) -> list[PredictRequest]:
    requests = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise RequestError(
                f"line {number}: invalid JSON ({error.msg} at column {error.colno}); "
                "JSON lines input needs one complete JSON object per line"
            ) from None
        requests.append(_validate(value, f"request on line {number}"))
    return requests
