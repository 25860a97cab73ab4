"""gramops' MLflow loader: a bundle is verified before it answers, and bad rows are refused
with the row and the field named (a 400 from MLflow's scoring server, not a 500)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gramops.inference.predictor import load_predictor
from gramops.inference.pyfunc import IDENTITY_FILE, PyfuncModelError, _load_pyfunc, load_model
from gramops.inference.requests import PredictRequest, predict
from gramops.models.identity import canonical_sha
from helpers.bundles import tiny_bundle

ROWS = [
    {"sentence": "She ___ to school every day.", "lemma": "go"},
    {"sentence": "[___] the door, please.", "lemma": "open"},
]


def _data_dir(tmp_path: Path, family: str = "int8") -> Path:
    """A model's data directory as the mirror lays it out: the bundle plus identity.json."""
    data = tiny_bundle(tmp_path / "bundle", family)
    (data / IDENTITY_FILE).write_text(
        json.dumps({"canonical_sha": canonical_sha(data), "family": family}), encoding="utf-8"
    )
    return data


def test_answers_rows_exactly_like_the_request_path(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    model = _load_pyfunc(str(data))
    assert model.sha == canonical_sha(data)
    got = model.predict(pd.DataFrame(ROWS))
    expected = predict([PredictRequest(**r) for r in ROWS], load_predictor(data))
    assert got.to_dict(orient="list") == {
        "form": [a.form for a in expected],
        "tag": [a.tag for a in expected],
        "confidence": [a.confidence for a in expected],
    }
    # a list of rows answers the same; no rows, no answers (but the same columns)
    assert model.predict(ROWS).equals(got)
    empty = model.predict(pd.DataFrame(columns=["sentence", "lemma"]))
    assert list(empty.columns) == ["form", "tag", "confidence"] and empty.empty


def test_a_lora_model_loads_its_base_from_the_data_directory(tmp_path: Path) -> None:
    base = tiny_bundle(tmp_path / "base-src", "fp32")
    data = tiny_bundle(tmp_path / "bundle", "lora", parent=canonical_sha(base))
    (data / IDENTITY_FILE).write_text(json.dumps({"canonical_sha": canonical_sha(data)}), "utf-8")
    with pytest.raises(Exception, match="needs its base"):
        load_model(data)
    base.rename(data / "base")
    assert canonical_sha(data) == json.loads((data / IDENTITY_FILE).read_text())["canonical_sha"]
    assert load_model(data).predict(ROWS).shape == (2, 3)


def test_a_bundle_that_is_not_the_recorded_model_is_refused(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    report = json.loads((data / "eval_report.json").read_text())
    report["domains"]["verb"]["pass_rate"] = 1.0
    (data / "eval_report.json").write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(PyfuncModelError, match="records .* its files were changed"):
        load_model(data)
    (data / IDENTITY_FILE).unlink()
    with pytest.raises(PyfuncModelError, match="records its canonical SHA there"):
        load_model(data)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"sentence": "She to school.", "lemma": "go"}, "row 1: sentence: must mark exactly one"),
        ({"sentence": "She ___ home.", "lemma": "Go!"}, "row 1: lemma: 'Go!' is not a verb"),
        ({"sentence": "She ___ home.", "lemma": np.nan}, "row 1: lemma: Field required"),
        ({"sentence": "She ___ home."}, "row 1: lemma: Field required"),
    ],
)
def test_a_bad_row_is_refused_naming_the_row_and_field(
    tmp_path: Path, row: dict, message: str
) -> None:
    from mlflow.exceptions import MlflowException

    model = load_model(_data_dir(tmp_path))
    with pytest.raises(MlflowException, match=message) as caught:
        model.predict(pd.DataFrame([ROWS[0], row]))
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"  # served as 400
    with pytest.raises(MlflowException, match="expected a DataFrame"):
        model.predict("She ___ home.")
