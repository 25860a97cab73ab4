"""A captured `gramops serve` request log as the pipeline's live traffic.

Each line the server logged for an answered call (:mod:`gramops.serving.requestlog`,
written by ``Service.record``) holds the call's requests, the answers of the model that
served them and, when the call was shadowed, the shadow model's answers. Every request of
such a call becomes one traffic record, parsed exactly as the server parsed it
(:func:`gramops.inference.requests.parse_request`), with both logged answers beside it.
Refused calls (a line with ``error``) answered nothing and are counted, not used.

Weeks come from the request's time: week 1 is the UTC calendar week (Monday to Sunday) of
the earliest request and week ``n`` the ``n - 1``-th after it, so the latest week is the
"current" traffic exactly as with synthetic traffic. A week without requests has no
records; the drift report skips it.

Gold answers are not known for logged requests: a record's ``tag`` is the *served* model's
tag (the drift stage's tag histogram then compares predicted tags with the reference's
gold ones), and it has no ``form`` or ``acceptable``, so pass rate and strict accuracy
cannot be computed on it (see :mod:`gramops.monitoring.traffic_agreement`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gramops.core.errors import GramopsError
from gramops.inference.requests import PredictRequest, parse_request

_ANSWER_FIELDS = ("form", "tag", "confidence")


class LogError(GramopsError, ValueError):
    """A request log line that cannot be read as an answered or refused call."""


def read_log(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line of the log at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LogError(
            f"{path}: no request log there; copy the log `gramops serve` wrote "
            "(serve.request_log.path) to shift.log, or set shift.source: synthetic"
        ) from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise LogError(
                f"{path}:{number}: not JSON ({error.msg} at column {error.colno}); a request "
                "log has one JSON object per line (a line cut short by a crash can be deleted)"
            ) from None
        if not isinstance(value, dict):
            raise LogError(f"{path}:{number}: a log line must be a JSON object")
        lines.append((number, value))
    return lines


def log_traffic(
    lines: Iterable[tuple[int, Mapping[str, Any]]], where: str
) -> tuple[list[dict[str, Any]], int]:
    """The traffic records of every answered call in ``lines`` (time order, weeks
    numbered from the earliest request) and the number of refused calls. ``where`` names
    the log in errors."""
    records: list[dict[str, Any]] = []
    refused = 0
    for number, line in lines:
        if "error" in line:
            refused += 1
            continue
        records.extend(_call_records(line, f"{where}:{number}", number))
    if not records:
        raise LogError(
            f"{where}: no answered requests ({refused} refused calls); capture a log of a "
            "server that answered traffic, or set shift.source: synthetic"
        )
    records.sort(key=lambda r: (r["time"], r["line"]))
    first = _monday(records[0]["time"])
    for record in records:
        record["week"] = (_monday(record["time"]) - first).days // 7 + 1
    return records, refused


def log_week_summaries(traffic: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``week_NN`` -> that week's requests, time span, mean length, the models that served
    them and how many were shadowed (``metrics/shift.json`` of logged traffic)."""
    summaries = {}
    for week in sorted({r["week"] for r in traffic}):
        batch = [r for r in traffic if r["week"] == week]
        served = Counter(r["served"]["sha"] for r in batch)
        summaries[f"week_{week:02d}"] = {
            "requests": len(batch),
            "first": batch[0]["time"],
            "last": batch[-1]["time"],
            "mean_tokens": round(sum(len(r["tokens"]) for r in batch) / len(batch), 3),
            "served_by": dict(sorted(served.items())),
            "shadowed": sum(r["shadow"] is not None for r in batch),
        }
    return summaries


def _call_records(line: Mapping[str, Any], where: str, number: int) -> list[dict[str, Any]]:
    time = _time(line.get("time"), where)
    requests, answers = line.get("requests"), line.get("answers")
    if not isinstance(requests, list) or not isinstance(answers, list):
        raise LogError(f"{where}: an answered call needs `requests` and `answers` lists")
    if len(requests) != len(answers):
        raise LogError(f"{where}: {len(requests)} requests but {len(answers)} answers")
    served = _model(line.get("model"), "model", where)
    shadow = line.get("shadow")
    shadow_answers = shadow.get("answers") if isinstance(shadow, dict) else None
    if shadow_answers is not None and len(shadow_answers) != len(requests):
        raise LogError(f"{where}: shadow: {len(shadow_answers)} answers for {len(requests)}")
    shadow_model = _model(shadow, "shadow", where) if shadow_answers is not None else None
    call = line.get("request_id") or f"line-{number}"
    records = []
    for k, (request, answer) in enumerate(zip(requests, answers, strict=True)):
        try:
            parsed = parse_request(PredictRequest.model_validate(request))
        except ValidationError as error:
            field = ".".join(str(p) for p in error.errors()[0]["loc"]) or "request"
            raise LogError(f"{where}: requests[{k}].{field}: {error.errors()[0]['msg']}") from None
        served_answer = {**served, **_answer(answer, f"answers[{k}]", where)}
        records.append(
            {
                "request_id": f"{call}/{k}" if len(requests) > 1 else call,
                "line": number,
                "time": time.isoformat(timespec="milliseconds"),
                "id": parsed["id"],
                "sentence": request["sentence"],
                "tokens": parsed["tokens"],
                "verb_index": parsed["verb_index"],
                "lemma": parsed["lemma"],
                "tag": served_answer["tag"],
                "served": served_answer,
                "shadow": None
                if shadow_answers is None
                else {**shadow_model, **_answer(shadow_answers[k], f"shadow.answers[{k}]", where)},
            }
        )
    return records


def _time(value: Any, where: str) -> datetime:
    try:
        time = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise LogError(f"{where}: time {value!r} is not an ISO 8601 timestamp") from None
    if time.utcoffset() is None:
        raise LogError(f"{where}: time {value!r} has no time zone (the server logs UTC, ...Z)")
    return time.astimezone(UTC)


def _monday(iso: str) -> datetime:
    day = datetime.fromisoformat(iso).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _model(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("sha"), str):
        raise LogError(f"{where}: `{key}` must name the answering model's `sha`")
    return {"alias": value.get("alias"), "sha": value["sha"], "semver": value.get("semver")}


def _answer(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or any(f not in value for f in _ANSWER_FIELDS):
        raise LogError(f"{where}: {key} needs {', '.join(_ANSWER_FIELDS)}")
    return {f: value[f] for f in _ANSWER_FIELDS}
