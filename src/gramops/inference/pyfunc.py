"""gramops' loader for MLflow's ``python_function`` flavour (the ``loader_module`` convention).

A mirrored model version is an MLflow Model whose data directory is the bundle's identity
files (a LoRA adapter's FP32 base under ``base/``) plus ``identity.json``, the SHA the
registry recorded. MLflow calls :func:`_load_pyfunc` with that directory: the bundle is
re-hashed and refused unless it is the recorded model, then loaded by the same code as
`gramops predict`. Nothing here is unpickled: weights are safetensors, metadata is JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.inference.predictor import Predictor, load_predictor
from gramops.inference.requests import PredictRequest, predict
from gramops.models.identity import canonical_sha

# Inside the model's data directory (beside the bundle's files, never an identity file).
IDENTITY_FILE = "identity.json"
BASE_DIR = "base"
INPUT_COLUMNS = ("sentence", "lemma")
OUTPUT_COLUMNS = ("form", "tag", "confidence")


class PyfuncModelError(GramopsError):
    """A mirrored MLflow model whose files are not the model it records."""


def _recorded(data_path: Path) -> dict[str, str]:
    path = data_path / IDENTITY_FILE
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PyfuncModelError(
            f"{path}: unreadable ({exc}); a gramops MLflow model records its canonical SHA "
            "there. Download the model version again, or re-run the mirror stage"
        ) from exc
    sha = found.get("canonical_sha") if isinstance(found, dict) else None
    if not isinstance(sha, str):
        raise PyfuncModelError(f"{path}: no canonical_sha recorded; re-run the mirror stage")
    return found


def load_model(data_path: Path) -> GramopsPyfunc:
    """The model in ``data_path``, after its canonical SHA matched the recorded one."""
    data_path = Path(data_path)
    recorded = _recorded(data_path)["canonical_sha"]
    actual = canonical_sha(data_path)
    if actual != recorded:
        raise PyfuncModelError(
            f"{data_path}: the bundle hashes to {short(actual)}, but this model version records "
            f"{short(recorded)}: its files were changed or partly downloaded. Refusing to load; "
            "download it again, or compare with `gramops registry verify --mlflow`"
        )
    base = data_path / BASE_DIR
    predictor = load_predictor(data_path, base_dir=base if base.is_dir() else None)
    return GramopsPyfunc(sha=actual, predictor=predictor)


def _load_pyfunc(data_path: str) -> GramopsPyfunc:
    """MLflow's entry point (``loader_module``): the path is the flavour's ``data`` key."""
    return load_model(Path(data_path))


def _where(problem: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in problem["loc"]) or "row"


def _missing(value: Any) -> bool:
    # pandas gives a missing cell as NaN or None: report the column as missing, not as a float
    return value is None or (isinstance(value, float) and math.isnan(value))


def _request(row: Mapping[str, Any], index: int) -> PredictRequest:
    values = {k: v for k, v in row.items() if k in (*INPUT_COLUMNS, "id") and not _missing(v)}
    try:
        return PredictRequest.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{_where(p)}: {p['msg'].removeprefix('Value error, ')}" for p in error.errors()
        )
        raise _invalid(
            f"row {index}: {problems} (each row needs 'sentence' with one ___ slot "
            "and 'lemma', the verb's base form)"
        ) from None


def _invalid(message: str) -> Exception:
    """An error MLflow's scoring server answers with 400 and the message, not 500."""
    from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _rows(model_input: Any) -> list[Mapping[str, Any]]:
    if hasattr(model_input, "to_dict") and hasattr(model_input, "columns"):
        return model_input.to_dict(orient="records")
    if isinstance(model_input, Mapping):
        return [model_input]
    if isinstance(model_input, Sequence) and not isinstance(model_input, str | bytes):
        rows = list(model_input)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise _invalid(f"row {index}: expected an object with sentence and lemma")
        return rows
    raise _invalid(
        f"expected a DataFrame or a list of rows with columns {', '.join(INPUT_COLUMNS)}, "
        f"got {type(model_input).__name__}"
    )


class GramopsPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: rows in, the corrected forms out."""

    def __init__(self, sha: str, predictor: Predictor) -> None:
        self.sha = sha
        self.predictor = predictor

    def predict(self, model_input: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Answer each row (``sentence`` with its ___ slot, ``lemma``) as `gramops predict`
        does: a DataFrame of ``form``, ``tag`` and ``confidence``, one row per input row."""
        import pandas as pd

        requests = [_request(row, i) for i, row in enumerate(_rows(model_input))]
        answers = predict(requests, self.predictor)
        return pd.DataFrame(
            {
                "form": [a.form for a in answers],
                "tag": [a.tag for a in answers],
                "confidence": [a.confidence for a in answers],
            },
            columns=list(OUTPUT_COLUMNS),
        )
