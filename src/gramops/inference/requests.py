"""Answering requests: a sentence with one verb slot and a lemma in, the corrected form out.

`gramops predict`, `gramops serve` and the traffic router share :func:`predict`, so a request
is parsed, batched and answered the same way wherever it arrives. Requests are validated by
the pydantic schema :class:`PredictRequest`, the one place a request is parsed, before any
model runs: a malformed request is refused with a message naming the field (and the line or
array index) instead of being answered with a confident form for a sentence the model never
saw as intended. :func:`read_requests` refuses a batch with any bad request in it (the
server, ``predict --strict``); :func:`read_items` keeps the good ones and says, per line,
why the others were refused.

What is valid but doubtful is answered with ``warnings``: a lemma that is an inflected form
(``went``: did you mean ``go``?) or no verb WordNet knows (``xyzzyq``), checked against the
verb lexicon shipped with the package (:mod:`gramops.corpus.lexicon`). Lemmas are read
case-insensitively, and a phrasal verb inflects its head (``get up`` -> ``got up``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gramops.core.errors import GramopsError
from gramops.corpus.lexicon import packaged_lexicon
from gramops.corpus.tagging import tokenize
from gramops.inference.predictor import Prediction

SLOT_TOKEN = "___"
# `[___]` first so its brackets are consumed with the underscores, not left as tokens.
_SLOT = re.compile(r"\[___\]|___")
_WORD = r"[a-z]+(?:-[a-z]+)*"
# a verb, or a phrasal verb of up to four words (`get up`, `put up with`)
_LEMMA = re.compile(rf"{_WORD}(?: {_WORD}){{0,3}}")
FORMAT = '{"id": optional string or number, "sentence": "... ___ ...", "lemma": "go"}'


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

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        """Numbered requests are common: a whole number is an id too, answered as text."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

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
    def _verb(cls, lemma: str) -> str:
        """Lowercase, words separated by one space (WordNet's ``get_up`` reads as ``get up``)."""
        text = " ".join(lemma.replace("_", " ").split()).lower()
        if not _LEMMA.fullmatch(text):
            raise ValueError(
                f"{lemma!r} is not a verb's base form: give a verb in letters (hyphens "
                "allowed), or a phrasal verb of up to four words, e.g. 'go', 'Go', "
                "'fine-tune', 'get up'"
            )
        return text


class PredictResponse(BaseModel):
    """The answer: the corrected ``form`` (Penn ``tag``) and the sentence with it filled in.

    ``confidence`` is calibrated (the share of answers this sure that were exactly right on
    dev); ``unsure`` flags one below the model's threshold; ``because`` names the context
    words that pushed the answer most, when the answer was asked to explain itself;
    ``warnings`` say what about the request is doubtful (empty when nothing is).
    """

    id: str | None
    form: str
    tag: str
    confidence: float
    sentence: str
    unsure: bool = False
    because: list[str] | None = None
    warnings: list[str] = Field(default_factory=list)


def parse_request(request: PredictRequest) -> dict[str, Any]:
    """The model's record for ``request``: tokens with the slot as one token at verb_index.

    A phrasal verb's particles follow the slot, as they follow the verb in the corpus's
    sentences, and its head is the lemma the model inflects (the corpus records it so).
    """
    before, after = _SLOT.split(request.sentence, maxsplit=1)
    left = tokenize(before)
    head, *particles = request.lemma.split(" ")
    return {
        "id": request.id,
        "tokens": [*left, SLOT_TOKEN, *particles, *tokenize(after)],
        "verb_index": len(left),
        "lemma": head,
    }


@lru_cache(maxsize=65536)
def lemma_warnings(lemma: str) -> tuple[str, ...]:
    """What is doubtful about a (normalised) lemma, checked against WordNet's verbs."""
    lexicon = packaged_lexicon()
    head, *rest = lemma.split(" ")
    if lexicon.is_verb("_".join([head, *rest])):
        return ()
    if lexicon.is_verb(head):
        if not rest:
            return ()
        return (
            f"lemma {lemma!r} is not a phrasal verb WordNet lists; its head {head!r} was "
            f"inflected and {' '.join(rest)!r} kept as given",
        )
    bases = lexicon.base_forms(head)
    if bases:
        meant = " or ".join(repr(" ".join([base, *rest])) for base in bases)
        return (
            f"lemma {lemma!r}: {head!r} is an inflected form of {bases[0]!r}, not a verb's "
            f"base form; did you mean {meant}? (answered for {lemma!r} as given)",
        )
    close = lexicon.close_to(head)
    hint = f"; did you mean {' '.join([close, *rest])!r}?" if close else ""
    return (
        f"lemma {lemma!r} is not a verb WordNet knows; its forms were guessed by the regular "
        f"spelling rules{hint}",
    )


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
    answers = []
    for request, head_form, tag, confidence, flag, reasons in zip(
        requests,
        prediction.forms,
        prediction.tags,
        prediction.confidence,
        unsure,
        because,
        strict=True,
    ):
        form = " ".join([head_form, *request.lemma.split(" ")[1:]])  # got + up
        answers.append(
            PredictResponse(
                id=request.id,
                form=form,
                tag=tag,
                confidence=float(confidence),
                sentence=_fill(request.sentence, form),
                unsure=bool(flag),
                because=reasons,
                warnings=list(lemma_warnings(request.lemma)),
            )
        )
    return answers


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "request"
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Item:
    """One request of a batch, where it stood (``{"line": 3}``, ``{"index": 2}``, or ``{}``
    for a lone object), and either the validated request or why it was refused."""

    place: dict[str, int]
    request: PredictRequest | None
    error: str | None = None
    id: str | None = None
    unreadable: bool = False  # not JSON at all, rather than JSON that is no request

    @property
    def where(self) -> str:
        return " ".join(f"{key} {value}" for key, value in self.place.items()) or "request"

    def refusal(self) -> dict[str, Any]:
        """The answer given in a refused request's place."""
        return {**self.place, **({"id": self.id} if self.id else {}), "error": self.error}


def _item(value: Any, place: dict[str, int]) -> Item:
    try:
        return Item(place, PredictRequest.model_validate(value))
    except ValidationError as error:
        raw_id = value.get("id") if isinstance(value, dict) else None
        shown = str(raw_id) if isinstance(raw_id, str | int) else None
        return Item(place, None, _problems(error), shown)


def read_items(text: str) -> list[Item]:
    """Every request of one JSON object, a JSON array of objects, or JSON lines, each
    validated on its own: a bad line is refused in its place and the others still stand.
    Input that is no batch at all (empty, broken JSON) raises :class:`RequestError`."""
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
        return [_item(value, {"index": i}) for i, value in enumerate(document)]
    return [_item(document, {})]


def read_requests(text: str) -> list[PredictRequest]:
    """The requests of a batch, all valid, or :class:`RequestError` naming every bad one."""
    items = read_items(text)
    refused = [item for item in items if item.request is None]
    if refused:
        where = {"line": "request on line", "index": "request at index"}
        problems = "; ".join(
            f"{item.where}: {item.error}"
            if item.unreadable or not item.place
            else " ".join(f"{where[k]} {v}" for k, v in item.place.items()) + f": {item.error}"
            for item in refused
        )
        raise RequestError(f"{problems} (a request is {FORMAT})")
    return [item.request for item in items if item.request is not None]


def _read_lines(text: str) -> list[Item]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            items.append(
                Item(
                    {"line": number},
                    None,
                    f"invalid JSON ({error.msg} at column {error.colno}); JSON lines input "
                    "needs one complete JSON object per line",
                    unreadable=True,
                )
            )
            continue
        items.append(_item(value, {"line": number}))
    return items
