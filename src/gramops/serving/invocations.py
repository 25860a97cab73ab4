"""MLflow's scoring protocol (``POST /invocations``), so clients of `mlflow models serve`
work against `gramops serve` unchanged.

The request formats are those of MLflow's scoring server: a JSON object with exactly one of
``dataframe_split`` (``columns`` + ``data``), ``dataframe_records`` (a list of rows),
``instances`` or ``inputs`` (rows, or columns as ``{"sentence": [...], "lemma": [...]}``),
optionally beside ``params``; or a CSV body (``Content-Type: text/csv``). The model's
signature is ``sentence``, ``lemma`` -> ``form``, ``tag``, ``confidence``; extra input
columns are ignored, as MLflow's schema enforcement ignores them, except ``id``, which is
kept. The answer is ``{"predictions": [{"form", "tag", "confidence"}, ...]}`` with the
serving model's identity beside it under ``model`` (MLflow's response metadata).
Every row is validated by :class:`gramops.inference.requests.PredictRequest`, so a bad row
is refused with its index and field named.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from gramops.inference.requests import PredictRequest, PredictResponse, RequestError, read_requests

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
COLUMNS = ("id", "sentence", "lemma")
_SHAPE = (
    'send {"dataframe_split": {"columns": ["sentence", "lemma"], "data": [[...]]}}, '
    '{"dataframe_records": [{"sentence": ..., "lemma": ...}]}, {"instances": [...]} or '
    '{"inputs": {"sentence": [...], "lemma": [...]}}'
)


def parse_invocation(body: str, content_type: str) -> list[PredictRequest]:
    """The requests in an ``/invocations`` body; :class:`RequestError` naming what is wrong."""
    if content_type.split(";")[0].strip().lower() == "text/csv":
        rows = _csv_rows(body)
    else:
        try:
            document = json.loads(body)
        except json.JSONDecodeError as error:
            raise RequestError(
                f"line {error.lineno} column {error.colno}: invalid JSON ({error.msg})"
            ) from None
        rows = _json_rows(document)
    if not rows:
        raise RequestError("no rows to score: the input has no data")
    kept = [{k: row[k] for k in COLUMNS if k in row} for row in rows]
    return read_requests(json.dumps(kept))


def _json_rows(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise RequestError(f"expected a JSON object; {_SHAPE}")
    found = [key for key in FORMATS if key in document]
    if len(found) != 1:
        given = ", ".join(sorted(map(str, document))) or "none"
        raise RequestError(
            f"expected exactly one of {', '.join(FORMATS)} (got keys: {given}); {_SHAPE}"
        )
    key = found[0]
    value = document[key]
    if key == "dataframe_split":
        return _split_rows(value)
    if key == "inputs" and isinstance(value, dict):
        return _column_rows(value, key)
    if key == "dataframe_records" and isinstance(value, dict):
        raise RequestError(f"dataframe_records: expected a list of rows; {_SHAPE}")
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise RequestError(f"{key}: expected a list of rows, got {type(value).__name__}")
    return value


def _split_rows(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise RequestError('dataframe_split: expected {"columns": [...], "data": [[...]]}')
    columns, data = split["columns"], split.get("data")
    if not isinstance(data, list):
        raise RequestError("dataframe_split.data: expected a list of rows")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(
                f"dataframe_split.data[{index}]: expected a list of {len(columns)} values, "
                f"one per column ({', '.join(map(str, columns))})"
            )
        rows.append(dict(zip(columns, row, strict=True)))
    return rows


def _column_rows(columns: dict[str, Any], key: str) -> list[dict[str, Any]]:
    lengths = {name: len(v) for name, v in columns.items() if isinstance(v, list)}
    if len(lengths) != len(columns) or len(set(lengths.values())) > 1:
        raise RequestError(
            f"{key}: columns must be lists of equal length (got "
            + ", ".join(f"{n}: {lengths.get(n, 'not a list')}" for n in columns)
            + ")"
        )
    n = next(iter(lengths.values()), 0)
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _csv_rows(body: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(body))
    try:
        return [dict(row) for row in reader]
    except csv.Error as exc:
        raise RequestError(f"CSV line {reader.line_num}: {exc}") from None


def predictions(answers: Sequence[PredictResponse]) -> list[dict[str, Any]]:
    """The rows of MLflow's ``predictions``: the signature's outputs for each request."""
    return [{"form": a.form, "tag": a.tag, "confidence": a.confidence} for a in answers]
