"""Registry entries as MLflow Models: `models:/gramops@production` loads and answers like
`gramops predict`, and the canonical SHA survives a download and a re-save."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gramops.cli import main
from gramops.models.identity import canonical_sha
from gramops.registry.store import Registry
from gramops.tracking.connect import Tracker
from gramops.tracking.mlmodel import (
    DATA_DIR,
    LOADER_MODULE,
    ModelFilesError,
    pinned_requirements,
    save_entry_model,
    signature,
)
from gramops.tracking.models import mirror_registry
from helpers.bundles import tiny_bundle
from helpers.paths import ROOT
from helpers.tracking import register_entry, release

REQUESTS = [
    {"sentence": "She ___ to school every day.", "lemma": "go"},
    {"sentence": "Yesterday they ___ the cake.", "lemma": "eat"},
    {"sentence": "___ the door, please.", "lemma": "open"},
    {"sentence": "He has ___ the letter.", "lemma": "write"},
]


def _cli_answers(reg: Registry, tmp_path: Path, capsys: pytest.CaptureFixture) -> list:
    (tmp_path / "requests.json").write_text(json.dumps(REQUESTS), encoding="utf-8")
    capsys.readouterr()
    assert main(["--registry", str(reg.root), "predict", str(tmp_path / "requests.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")][: len(REQUESTS)]


@pytest.mark.parametrize("family", ["int8", "lora"])
def test_load_model_by_alias_answers_like_gramops_predict(
    tracker: Tracker, reg: Registry, tmp_path: Path, capsys: pytest.CaptureFixture, family: str
) -> None:
    import mlflow.pyfunc

    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    sha = register_entry(reg, tmp_path, family, 2, parent=fp32)
    release(reg, sha, "v0.2.0")
    mirror_registry(tracker, reg)

    model = mlflow.pyfunc.load_model("models:/gramops@production")
    got = model.predict(pd.DataFrame(REQUESTS))
    assert list(got.columns) == ["form", "tag", "confidence"]
    expected = _cli_answers(reg, tmp_path, capsys)
    assert got["form"].tolist() == [a["form"] for a in expected]
    assert got["tag"].tolist() == [a["tag"] for a in expected]
    assert got["confidence"].tolist() == pytest.approx([a["confidence"] for a in expected])
    assert model.metadata.metadata["gramops.canonical_sha"] == sha
    assert model.metadata.get_input_schema().input_names() == ["sentence", "lemma"]


def _saved(tmp_path: Path, family: str = "fp32") -> tuple[str, Path]:
    bundle = tiny_bundle(tmp_path / "bundle", family)
    sha = canonical_sha(bundle)
    return sha, save_entry_model(tmp_path / "model", sha, family, bundle)


def test_downloaded_and_resaved_models_keep_the_registry_sha(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    import mlflow.artifacts
    import mlflow.pyfunc

    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    lora = register_entry(reg, tmp_path, "lora", 2, parent=fp32)
    release(reg, fp32, "v0.1.0")
    release(reg, lora, "v0.3.0", alias="staging")
    mirror_registry(tracker, reg)

    for alias, sha in (("production", fp32), ("staging", lora)):
        downloaded = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/gramops@{alias}", dst_path=str(tmp_path / f"down-{alias}")
            )
        )
        assert canonical_sha(downloaded / DATA_DIR) == sha
        # a re-save writes a new MLmodel (fresh timestamp and uuid); the bundle is unchanged
        resaved = tmp_path / f"resaved-{alias}"
        mlflow.pyfunc.save_model(
            str(resaved),
            loader_module=LOADER_MODULE,
            data_path=str(downloaded / DATA_DIR),
            signature=signature(),
        )
        assert (resaved / "MLmodel").read_bytes() != (downloaded / "MLmodel").read_bytes()
        assert canonical_sha(resaved / DATA_DIR) == sha
        assert mlflow.pyfunc.load_model(str(resaved)).predict(REQUESTS[:1]).shape == (1, 3)


def test_saved_model_is_a_pyfunc_with_signature_example_and_pinned_requirements(
    tmp_path: Path,
) -> None:
    sha, model = _saved(tmp_path)
    mlmodel = yaml.safe_load((model / "MLmodel").read_text(encoding="utf-8"))
    flavour = mlmodel["flavors"]["python_function"]
    assert flavour["loader_module"] == "gramops.inference.pyfunc"
    assert flavour["data"] == DATA_DIR and flavour.get("code") is None  # no pickled code
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == ["sentence", "lemma"]
    assert [c["name"] for c in json.loads(mlmodel["signature"]["outputs"])] == [
        "form",
        "tag",
        "confidence",
    ]
    assert (model / "input_example.json").is_file()
    assert mlmodel["metadata"] == {"gramops.canonical_sha": sha, "gramops.family": "fp32"}
    lock = set((ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines())
    requirements = (model / "requirements.txt").read_text(encoding="utf-8").split()
    assert requirements == pinned_requirements()
    assert {"mlflow==3.17.2", "numpy==2.4.6"} & set(requirements)
    assert set(requirements) <= lock  # every pin is the lock's, exactly
    assert not list(model.rglob("*.pkl"))


def test_a_bundle_that_is_not_the_entry_is_refused(tmp_path: Path) -> None:
    bundle = tiny_bundle(tmp_path / "bundle", "fp32")
    with pytest.raises(ModelFilesError, match="does not hash to"):
        save_entry_model(tmp_path / "model", "0" * 64, "fp32", bundle)
    assert not (tmp_path / "model").exists()
    base = tiny_bundle(tmp_path / "base", "fp32", seed=3)
    with pytest.raises(ModelFilesError, match="needs no base"):
        save_entry_model(tmp_path / "model", canonical_sha(bundle), "fp32", bundle, base)


def test_the_mirrored_lora_model_carries_its_verified_base(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    import mlflow.artifacts

    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    lora = register_entry(reg, tmp_path, "lora", 2, parent=fp32)
    release(reg, lora, "v0.3.0")
    mirror_registry(tracker, reg)
    down = Path(mlflow.artifacts.download_artifacts("models:/gramops@production"))
    assert canonical_sha(down / DATA_DIR / "base") == fp32
    shutil.rmtree(down / DATA_DIR / "base")
    import mlflow.pyfunc

    with pytest.raises(Exception, match="needs its base"):
        mlflow.pyfunc.load_model(str(down))
