"""Fixtures of the MLflow mirror tests: throwaway SQLite stores, stage results, a registry.

Creating an MLflow SQLite store runs every schema migration (seconds), so one migrated
empty database is built per session and each test copies it into its own tmp_path.
"""

from pathlib import Path

import pytest

from gramops.registry.store import Registry
from gramops.tracking.connect import Tracker, connect, default_tracking_uri
from gramops.tracking.pipeline import StageResult
from helpers.tracking import store_uri


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracker(tmp_path: Path, migrated_db: Path, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    uri = store_uri(tmp_path, migrated_db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return connect(default_tracking_uri(tmp_path))


@pytest.fixture
def results(tmp_path: Path) -> list[StageResult]:
    (tmp_path / "metrics/eval").mkdir(parents=True)
    (tmp_path / "metrics/train.json").write_text('{"best_epoch": 4}', encoding="utf-8")
    (tmp_path / "metrics/eval/fp32.json").write_text('{"verb": {"pass_rate": 0.9}}', "utf-8")
    return [
        StageResult(
            name="train",
            lock_hash="1" * 64,
            params={"train.lr": "0.001", "base.seed": "7"},
            metrics={"best_epoch": 4.0},
            artifacts=("metrics/train.json",),
        ),
        StageResult(
            name="evaluate@fp32",
            lock_hash="2" * 64,
            params={"evaluate.domains": '["verb"]'},
            metrics={"verb.pass_rate": 0.9},
            artifacts=("metrics/eval/fp32.json",),
        ),
    ]


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", actor="tester")
