"""Comparing MLflow with the registry: what verify reports, and `registry verify --mlflow`."""

import json
from pathlib import Path

import pytest

from gramops.cli import main
from gramops.registry.store import Registry
from gramops.tracking.connect import Tracker
from gramops.tracking.models import mirror_registry, registry_view
from gramops.tracking.verify import verify_mlflow
from helpers.tracking import register_entry, release


def test_verify_reports_entries_not_mirrored_and_missing_semvers(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    release(reg, fp32, "v0.1.0")
    mirror_registry(tracker, reg)
    tracker.client.delete_model_version_tag("gramops", "1", "semver")
    lora = register_entry(reg, tmp_path, "lora", 2, parent=fp32)
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"not mirrored: registry entry {lora[:12]} has no MLflow version",
        f"semver missing: gramops version 1 ({fp32[:12]}) lacks semver v0.1.0",
    ]


def test_registry_verify_mlflow_prints_differences_and_exits_1(
    tracker: Tracker,
    reg: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    release(reg, fp32, "v0.1.0")
    monkeypatch.chdir(tmp_path)
    verify = ["--registry", str(reg.root), "registry", "verify", "--mlflow"]
    assert main(verify) == 1
    out = capsys.readouterr().out
    assert f"MLFLOW    not mirrored: registry entry {fp32[:12]} has no MLflow version" in out
    assert "MLFLOW    alias missing: the registry's production" in out
    assert out.rstrip().endswith("objects checked") and "FAILED" in out

    mirror_registry(tracker, reg)
    tracker.client.set_registered_model_alias("gramops", "candidate", "1")
    assert main([*verify[:-1], "--json", "--mlflow"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["mlflow"] == [
        f"alias not in the registry: gramops@candidate is gramops version 1 ({fp32[:12]})"
    ]
    tracker.client.delete_registered_model_alias("gramops", "candidate")
    assert main(verify) == 0
    assert "MLFLOW" not in capsys.readouterr().out
    assert main(verify[:-1]) == 0  # without --mlflow, MLflow is not read


def test_registry_verify_mlflow_without_a_store_creates_none(
    reg: Registry, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    (workspace / ".dvc").mkdir(parents=True)
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["--registry", str(reg.root), "registry", "verify", "--mlflow"]) == 1
    assert "MLFLOW    no MLflow store at sqlite:///" in capsys.readouterr().out
    assert not (workspace / "mlflow.db").exists()
