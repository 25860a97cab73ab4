"""The MLflow mirror against throwaway SQLite stores: idempotency, registry, failures, paths.

Creating an MLflow SQLite store runs every schema migration (seconds), so one migrated
empty database is built per session and each test copies it into its own tmp_path.
"""

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from gramops.registry.store import Registry
from gramops.tracking.mirror import (
    EXPERIMENT,
    TAG_LOCK,
    TAG_STAGE,
    Tracker,
    TrackingError,
    connect,
    default_tracking_uri,
    mirror_model_registry,
    mirror_registry,
    mirror_stage_results,
    mirror_summary,
    registry_view,
    verify_mlflow,
    workspace_root,
)
from gramops.tracking.pipeline import StageResult
from helpers.bundles import tiny_bundle
from helpers.paths import ROOT
from helpers.processes import sh

# MLflow 3.17's SQLAlchemy store uses a loader SQLAlchemy deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

FP32, INT8, LORA = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def _store(tmp_path: Path, migrated_db: Path, name: str = "store") -> str:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(migrated_db, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def tracker(tmp_path: Path, migrated_db: Path, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    uri = _store(tmp_path, migrated_db)
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


def _runs(tracker: Tracker) -> list:
    return tracker.client.search_runs([tracker.experiment_id], max_results=1000)


def test_runs_are_logged_once(tracker: Tracker, results: list, tmp_path: Path) -> None:
    first = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee")
    assert first.logged == ("train", "evaluate@fp32") and first.parent_created
    count = len(_runs(tracker))
    assert count == 3  # one parent, two children

    second = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee")
    assert second.logged == () and not second.parent_created
    assert second.run_ids == first.run_ids and second.parent_run_id == first.parent_run_id
    assert len(_runs(tracker)) == count


def test_child_run_holds_params_metrics_tags_and_artifacts(
    tracker: Tracker, results: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirrored = mirror_stage_results(tracker, results, tmp_path, git_commit="c0ffee", dvc_exp="exp1")
    run = tracker.client.get_run(mirrored.run_ids["train"])
    assert run.data.params == {"train.lr": "0.001", "base.seed": "7"}
    assert run.data.metrics == {"best_epoch": 4.0}
    tags = run.data.tags
    assert tags[TAG_STAGE] == "train" and tags[TAG_LOCK] == "1" * 64
    assert tags["gramops.git_commit"] == "c0ffee" and tags["gramops.dvc_exp"] == "exp1"
    assert tags["mlflow.parentRunId"] == mirrored.parent_run_id
    assert run.info.status == "FINISHED"
    artifacts = [a.path for a in tracker.client.list_artifacts(run.info.run_id, "metrics")]
    assert artifacts == ["metrics/train.json"]
    # Artifacts land next to the store, never in the current directory (a DVC temp copy).
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "store")


def test_changed_stage_logs_exactly_one_new_child(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    first = mirror_stage_results(tracker, results, tmp_path)
    children_before = [r for r in _runs(tracker) if r.data.tags.get("gramops.kind") == "stage"]
    changed = [results[0], dataclasses.replace(results[1], lock_hash="3" * 64)]

    second = mirror_stage_results(tracker, changed, tmp_path)
    assert second.logged == ("evaluate@fp32",)
    children_after = [r for r in _runs(tracker) if r.data.tags.get("gramops.kind") == "stage"]
    assert len(children_after) == len(children_before) + 1
    assert second.parent_run_id != first.parent_run_id
    assert second.run_ids["train"] == first.run_ids["train"]
    new_child = tracker.client.get_run(second.run_ids["evaluate@fp32"])
    assert new_child.data.tags["mlflow.parentRunId"] == second.parent_run_id
    assert mirror_stage_results(tracker, changed, tmp_path).logged == ()


def test_interrupted_run_is_not_mistaken_for_a_logged_result(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    # A run cut short before its lock hash tag was written does not count as logged.
    tracker.client.create_run(tracker.experiment_id, tags={TAG_STAGE: "train"})
    assert mirror_stage_results(tracker, results, tmp_path).logged == ("train", "evaluate@fp32")


class _CountingClient:
    """An MlflowClient that counts its searches and batches: each is a request to wait on."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.searches = 0
        self.batches = 0

    def search_runs(self, *args: object, **kwargs: object) -> object:
        self.searches += 1
        return self._client.search_runs(*args, **kwargs)

    def log_batch(self, *args: object, **kwargs: object) -> object:
        self.batches += 1
        return self._client.log_batch(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


def _many(results: list[StageResult], count: int) -> list[StageResult]:
    return [
        dataclasses.replace(results[i % 2], name=f"stage{i}", lock_hash=f"{i:064x}")
        for i in range(count)
    ]


def test_remirror_searches_a_few_times_not_once_per_result(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    many = _many(results, 12)
    first = mirror_stage_results(tracker, many, tmp_path)
    counting = dataclasses.replace(tracker, client=_CountingClient(tracker.client))

    again = mirror_stage_results(counting, many, tmp_path)
    assert again.logged == () and again.run_ids == first.run_ids
    assert counting.client.searches <= 2  # this execution's parent, then its runs by id

    counting.client.searches = 0
    changed = [*many[:-1], dataclasses.replace(many[-1], lock_hash="f" * 64)]
    third = mirror_stage_results(counting, changed, tmp_path)
    assert third.logged == ("stage11",)
    assert {k: v for k, v in third.run_ids.items() if k != "stage11"} == {
        k: v for k, v in first.run_ids.items() if k != "stage11"
    }
    # no parent for the new execution, the newest parent, its runs by id, the changed stage
    assert counting.client.searches <= 4


def test_values_go_in_one_batch_per_run_within_mlflow_limits(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    counting = dataclasses.replace(tracker, client=_CountingClient(tracker.client))
    mirror_stage_results(counting, results, tmp_path)
    assert counting.client.batches == 2  # one per stage result: params and metrics together

    params = {f"p{i:03d}": str(i) for i in range(250)}
    metrics = {f"m{i:04d}": float(i) for i in range(1500)}
    big = [dataclasses.replace(results[0], name="big", params=params, metrics=metrics)]
    counting.client.batches = 0
    mirrored = mirror_stage_results(counting, big, tmp_path)
    # at most 100 params and 1,000 values per request: 100+900, 100+600, 50
    assert counting.client.batches == 3
    run = tracker.client.get_run(mirrored.run_ids["big"])
    assert run.data.params == params and run.data.metrics == metrics


def test_deleted_or_unlisted_runs_are_found_or_logged_again(
    tracker: Tracker, results: list, tmp_path: Path
) -> None:
    first = mirror_stage_results(tracker, results, tmp_path)
    # a parent whose list was edited by hand: every result is still found by its tags
    tracker.client.set_tag(first.parent_run_id, "gramops.stage_runs", "not json")
    again = mirror_stage_results(tracker, results, tmp_path)
    assert again.logged == () and again.run_ids == first.run_ids
    # a listed run deleted in the MLflow UI is no longer a logged result
    tracker.client.delete_run(first.run_ids["train"])
    third = mirror_stage_results(tracker, results, tmp_path)
    assert third.logged == ("train",) and third.run_ids["train"] != first.run_ids["train"]


# -- model registry ----------------------------------------------------------------------------


def _bundle(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    for name in ("config.json", "eval_report.json", "train_manifest.json"):
        (folder / name).write_text("{}", encoding="utf-8")
    return folder


@pytest.fixture
def registry_data(tmp_path: Path) -> dict:
    bundles = {sha: _bundle(tmp_path / "bundles" / sha[:4], sha.encode()) for sha in (FP32, INT8)}
    calls: list[str] = []

    def materialize(sha: str, dest: Path) -> Path:
        calls.append(sha)
        shutil.copytree(bundles[sha], dest)
        return dest

    entries = [
        {
            "sha": FP32,
            "family": "fp32",
            "parent_sha": None,
            "metrics": {"verb": {"pass_rate": 0.9}},
        },
        {
            "sha": INT8,
            "family": "int8",
            "parent_sha": FP32,
            "metrics": {"verb": {"pass_rate": 0.8}},
        },
    ]
    return {
        "entries": entries,
        "semvers": {FP32: ["v0.1.0"], INT8: ["v0.2.0"]},
        "aliases": {"production": FP32, "challenger": INT8},
        "materialize": materialize,
        "calls": calls,
    }


def _mirror_models(tracker: Tracker, data: dict):
    return mirror_model_registry(
        tracker, data["entries"], data["semvers"], data["aliases"], data["materialize"]
    )


def test_registry_becomes_versions_with_tags_and_aliases(
    tracker: Tracker, registry_data: dict
) -> None:
    mirrored = _mirror_models(tracker, registry_data)
    assert mirrored.pointers == {
        FP32: {"registered_model": "gramops-fp32", "version": "1"},
        INT8: {"registered_model": "gramops-int8", "version": "1"},
    }
    client = tracker.client
    fp32 = client.get_model_version("gramops-fp32", "1")
    assert fp32.tags["canonical_sha"] == FP32 and fp32.tags["semver"] == "v0.1.0"
    assert client.get_registered_model("gramops-fp32").aliases == {"production": 1}
    assert client.get_registered_model("gramops-int8").aliases == {"challenger": 1}
    # The version's source is the bundle, byte for byte.
    files = {a.path for a in client.list_artifacts(fp32.run_id, "bundle")}
    assert "bundle/model.safetensors" in files
    local = client.download_artifacts(fp32.run_id, "bundle/model.safetensors")
    assert Path(local).read_bytes() == FP32.encode()


def test_remirroring_adds_no_version(tracker: Tracker, registry_data: dict) -> None:
    first = _mirror_models(tracker, registry_data)
    assert first.created == (FP32, INT8)
    second = _mirror_models(tracker, registry_data)
    assert second.created == () and second.pointers == first.pointers
    assert registry_data["calls"] == [FP32, INT8]  # bundles copied once
    versions = tracker.client.search_model_versions("name LIKE 'gramops-%'")
    assert len(versions) == 2


def test_entry_without_local_objects_still_gets_a_version(
    tracker: Tracker, registry_data: dict
) -> None:
    # An entry registered on another machine: its bytes are not in this object store.
    registry_data["materialize"] = lambda sha, dest: None
    mirrored = _mirror_models(tracker, registry_data)
    assert mirrored.pointers[INT8] == {"registered_model": "gramops-int8", "version": "1"}
    version = tracker.client.get_model_version("gramops-int8", "1")
    assert version.tags["canonical_sha"] == INT8
    files = {a.path for a in tracker.client.list_artifacts(version.run_id, "bundle")}
    assert files == {"bundle/entry.json"}
    assert tracker.client.get_run(version.run_id).data.tags["gramops.bundle_bytes"] == "missing"


def test_semver_and_alias_moves_are_mirrored(tracker: Tracker, registry_data: dict) -> None:
    _mirror_models(tracker, registry_data)
    registry_data["semvers"][FP32] = ["v0.1.0", "v1.0.0"]
    registry_data["aliases"] = {"production": INT8}
    mirrored = _mirror_models(tracker, registry_data)
    client = tracker.client
    assert client.get_model_version("gramops-fp32", "1").tags["semver"] == "v1.0.0"
    assert client.get_registered_model("gramops-fp32").aliases == {}
    assert client.get_registered_model("gramops-int8").aliases == {"production": 1}
    assert mirrored.aliases == {"gramops-fp32": {}, "gramops-int8": {"production": "1"}}


class _LosesOneRace:
    """A client whose first version-tag write hits the row a concurrent mirror just wrote."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.conflicts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def set_model_version_tag(self, *args: object) -> None:
        from mlflow.exceptions import MlflowException

        if not self.conflicts:
            self.conflicts += 1
            self._client.set_model_version_tag(*args)  # the other mirror's identical write
            raise MlflowException(
                "(psycopg2.errors.UniqueViolation) duplicate key value violates unique "
                'constraint "model_version_tag_pk"',
                error_code="BAD_REQUEST",
            )
        self._client.set_model_version_tag(*args)


def test_a_write_lost_to_a_concurrent_mirror_is_synced_again(
    tracker: Tracker, registry_data: dict
) -> None:
    _mirror_models(tracker, registry_data)
    registry_data["semvers"][FP32] = ["v0.1.0", "v1.0.0"]
    racing = _LosesOneRace(tracker.client)
    mirrored = _mirror_models(dataclasses.replace(tracker, client=racing), registry_data)
    assert racing.conflicts == 1
    version = tracker.client.get_model_version("gramops-fp32", "1")
    assert version.tags["semver"] == "v1.0.0" and version.tags["semvers"] == "v0.1.0,v1.0.0"
    assert mirrored.pointers[FP32] == {"registered_model": "gramops-fp32", "version": "1"}


def test_other_model_registry_errors_are_not_retried(tracker: Tracker, registry_data: dict) -> None:
    from mlflow.exceptions import MlflowException

    class Refuses(_LosesOneRace):
        def set_model_version_tag(self, *args: object) -> None:
            self.conflicts += 1
            raise MlflowException("tag value too long", error_code="INVALID_PARAMETER_VALUE")

    _mirror_models(tracker, registry_data)
    registry_data["semvers"][FP32] = ["v0.1.0", "v1.0.0"]
    refusing = Refuses(tracker.client)
    with pytest.raises(TrackingError, match="tag value too long"):
        _mirror_models(dataclasses.replace(tracker, client=refusing), registry_data)
    assert refusing.conflicts == 1


def test_fresh_store_gives_the_same_pointers_and_summary(
    tmp_path: Path, migrated_db: Path, registry_data: dict, results: list
) -> None:
    summaries = []
    for name in ("one", "two"):
        tracker = connect(_store(tmp_path, migrated_db, name))
        stages = mirror_stage_results(tracker, results, tmp_path)
        summaries.append(mirror_summary(results, _mirror_models(tracker, registry_data)))
    assert summaries[0] == summaries[1]
    assert summaries[0]["registered_models"]["gramops-fp32"] == {
        "versions": {"1": FP32},
        "aliases": {"production": "1"},
    }
    assert stages.parent_run_id not in repr(summaries[1])


# -- failures and paths ------------------------------------------------------------------------


def test_unreachable_server_fails_fast_naming_the_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    started = time.monotonic()
    with pytest.raises(TrackingError, match=rf"MLflow at {uri}: connecting failed"):
        connect(default_tracking_uri(Path.cwd()))
    assert time.monotonic() - started < 10


class _StallingServer(ThreadingHTTPServer):
    """A loopback server that accepts every connection and never answers, except (when
    ``answer_lookup``) MLflow's experiment lookup: a tracking server that hangs mid-mirror."""

    daemon_threads = True

    def __init__(self, answer_lookup: bool) -> None:
        super().__init__(("127.0.0.1", 0), _StallingHandler)
        self.answer_lookup = answer_lookup
        self.release = threading.Event()
        self.stalled: list[str] = []

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StallingHandler(BaseHTTPRequestHandler):
    server: _StallingServer

    def _handle(self) -> None:
        if self.server.answer_lookup and self.path.startswith(
            "/api/2.0/mlflow/experiments/get-by-name"
        ):
            experiment = {"experiment_id": "1", "name": EXPERIMENT, "lifecycle_stage": "active"}
            body = json.dumps({"experiment": experiment}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.server.stalled.append(self.path)
        self.server.release.wait(60)

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stalling_server(request: pytest.FixtureRequest) -> Iterator[_StallingServer]:
    server = _StallingServer(answer_lookup=request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stalling_server", [False], indirect=True, ids=["stalls-at-once"])
def test_server_that_accepts_and_stalls_fails_the_check_fast(
    stalling_server: _StallingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stalling_server.uri)
    started = time.monotonic()
    with pytest.raises(TrackingError, match=rf"MLflow at {stalling_server.uri}: connecting failed"):
        connect(default_tracking_uri(Path.cwd()))
    # the check's 3 s timeout, no retry (MLflow alone would wait 120 s, 7 times)
    assert time.monotonic() - started < 10
    assert len(stalling_server.stalled) == 1


@pytest.mark.parametrize("stalling_server", [True], indirect=True, ids=["stalls-after-lookup"])
def test_server_stalling_mid_mirror_fails_within_the_bound_and_keeps_results(
    stalling_server: _StallingServer,
    results: list[StageResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stalling_server.uri)
    tracker = connect(default_tracking_uri(tmp_path))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # A user's own limits win over the mirror's (30 s, one retry), which keeps this test short.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(
        TrackingError, match=rf"MLflow at {stalling_server.uri}: mirroring stage results failed"
    ):
        mirror_stage_results(tracker, results, tmp_path)
    elapsed = time.monotonic() - started
    # the mirror's one retry (REQUEST_LIMITS; MLflow alone would retry 7 times with backoff):
    # two stalled attempts of 1 s each, then the error
    assert 1.9 < elapsed < 8
    assert len(stalling_server.stalled) == 2
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # the limits were scoped to the mirror: nothing leaks into the rest of the process
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_workspace_root_walks_out_of_experiment_temp_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    temp_copy = workspace / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    (temp_copy / ".dvc").mkdir(parents=True)  # the copy is a DVC repo of its own
    (temp_copy / "stages").mkdir()
    assert workspace_root(temp_copy / "stages") == workspace
    assert workspace_root(workspace / "src") == workspace

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(temp_copy) == f"sqlite:///{workspace / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert default_tracking_uri(temp_copy) == "http://mlflow.example:5000"


def test_no_workspace_no_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(TrackingError, match="MLFLOW_TRACKING_URI"):
        default_tracking_uri(tmp_path)


# -- MLflow follows the registry exactly (issue 11, cases 6 and 7) ----------------------------


def _register(
    reg: Registry, folder: Path, family: str, seed: int, parent: str | None = None
) -> str:
    """An entry added by SHA only (no semver, no alias): what the register stage does."""
    bundle = tiny_bundle(folder / f"{family}-{seed}", family, parent=parent, seed=seed)
    return reg.register(bundle, family=family).sha


def _release(reg: Registry, sha: str, semver: str, alias: str = "production") -> None:
    """`gramops promote`: moves the alias and binds the semver if the entry has none."""
    reg.promote(sha, alias=alias, reason="test", forced=True, first_semver=semver)


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", actor="tester")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _git_restore(root: Path, snapshot: dict[str, bytes]) -> None:
    """What `git restore models/registry` (and a clean) does to the registry's files."""
    for path in root.rglob("*"):
        if path.is_file() and path.relative_to(root).as_posix() not in snapshot:
            path.unlink()
    for rel, data in snapshot.items():
        (root / rel).write_bytes(data)


def _aliases(tracker: Tracker) -> dict[str, dict[str, int]]:
    models = tracker.client.search_registered_models("name LIKE 'gramops-%'")
    return {m.name: dict(m.aliases) for m in models if m.aliases}


def _semver_tags(tracker: Tracker) -> dict[tuple[str, str], str | None]:
    versions = tracker.client.search_model_versions("name LIKE 'gramops-%'")
    return {(v.name, str(v.version)): v.tags.get("semver") for v in versions}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_case6_registry_restored_with_git_and_hand_set_alias_are_undone(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fp32 = _register(reg, tmp_path, "fp32", 1)
    int8 = _register(reg, tmp_path, "int8", 2, parent=fp32)
    lora = _register(reg, tmp_path, "lora", 3, parent=fp32)
    _release(reg, fp32, "v0.1.0")
    mirror_registry(tracker, reg)
    committed = _snapshot(reg.root)
    _release(reg, int8, "v0.2.0")
    mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"gramops-int8": {"production": 1}}

    _git_restore(reg.root, committed)  # production is fp32 again; int8 has no semver
    tracker.client.set_registered_model_alias("gramops-lora", "production", "1")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"semver not bound: gramops-int8 version 1 ({int8[:12]}) carries v0.2.0; the "
        "registry does not bind it",
        "alias on 2 models: gramops-int8@production, gramops-lora@production",
        f"stale alias: gramops-int8@production is gramops-int8 version 1 ({int8[:12]}); the "
        f"registry's production is {fp32[:12]}",
        f"stale alias: gramops-lora@production is gramops-lora version 1 ({lora[:12]}); the "
        f"registry's production is {fp32[:12]}",
    ]

    with caplog.at_level(logging.INFO, logger="gramops.tracking.mirror"):
        mirrored = mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"gramops-fp32": {"production": 1}}
    assert mirrored.aliases["gramops-fp32"] == {"production": "1"}
    assert _semver_tags(tracker)[("gramops-int8", "1")] is None
    warned = _warnings(caplog)
    # the hand-set alias is named; following the registry back is routine, not a warning
    assert any("gramops-lora@production on version 1" in w for w in warned), warned
    assert not any("gramops-int8@production" in w for w in warned), warned
    assert verify_mlflow(tracker, registry_view(reg)) == []
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gramops.tracking.mirror"):
        mirror_registry(tracker, reg)  # nothing left to correct
    assert _warnings(caplog) == []


def test_alias_the_registry_has_moved_by_hand_to_another_version_is_moved_back(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = _register(reg, tmp_path, "fp32", 1)
    new = _register(reg, tmp_path, "fp32", 2)
    _release(reg, old, "v0.1.0")
    mirror_registry(tracker, reg)
    tracker.client.set_registered_model_alias("gramops-fp32", "production", "2")
    tracker.client.set_registered_model_alias("gramops-fp32", "staging", "2")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"stale alias: gramops-fp32@production is gramops-fp32 version 2 ({new[:12]}); the "
        f"registry's production is {old[:12]}",
        f"alias not in the registry: gramops-fp32@staging is gramops-fp32 version 2 ({new[:12]})",
    ]
    with caplog.at_level(logging.WARNING, logger="gramops.tracking.mirror"):
        mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"gramops-fp32": {"production": 1}}
    warned = " | ".join(_warnings(caplog))
    assert "gramops-fp32@production on version 2" in warned and "moved to version 1" in warned
    assert "gramops-fp32@staging on version 2" in warned and "removed" in warned
    # an alias removed in MLflow is set again: the registry's aliases are always there
    tracker.client.delete_registered_model_alias("gramops-fp32", "production")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"alias missing: the registry's production ({old[:12]}) is on no gramops-* model"
    ]
    mirror_registry(tracker, reg)
    assert verify_mlflow(tracker, registry_view(reg)) == []


def test_case7_discarded_experiment_loses_its_semver_and_semvers_appear_once_bound(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fp32 = _register(reg, tmp_path, "fp32", 1)
    _release(reg, fp32, "v0.1.0")
    committed = _snapshot(reg.root)
    # an experiment (old behaviour: it bound a semver) mirrored into the shared store ...
    discarded = _register(reg, tmp_path, "int8", 2, parent=fp32)
    reg.tag(discarded, "v0.2.1")
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker)[("gramops-int8", "1")] == "v0.2.1"
    # ... then discarded; the next candidate is registered by SHA only
    _git_restore(reg.root, committed)
    candidate = _register(reg, tmp_path, "int8", 3, parent=fp32)

    with caplog.at_level(logging.WARNING, logger="gramops.tracking.mirror"):
        mirror_registry(tracker, reg)
    tags = _semver_tags(tracker)
    assert tags[("gramops-int8", "1")] is None  # the discarded entry's semver is gone
    assert tags[("gramops-int8", "2")] is None  # not bound yet: no semver
    assert tracker.client.get_model_version("gramops-int8", "2").tags["canonical_sha"] == candidate
    assert any("gramops-int8 version 1" in w and "v0.2.1" in w for w in _warnings(caplog)), (
        _warnings(caplog)
    )
    assert verify_mlflow(tracker, registry_view(reg)) == []

    _release(reg, candidate, "v0.2.1", alias="staging")  # the semver is bound now
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker)[("gramops-int8", "2")] == "v0.2.1"
    assert _aliases(tracker) == {"gramops-fp32": {"production": 1}, "gramops-int8": {"staging": 2}}
    assert verify_mlflow(tracker, registry_view(reg)) == []


def test_case7_one_semver_on_two_versions_is_reported_and_corrected(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = _register(reg, tmp_path, "fp32", 1)
    first = _register(reg, tmp_path, "int8", 2, parent=fp32)
    second = _register(reg, tmp_path, "int8", 3, parent=fp32)
    _release(reg, fp32, "v0.1.0")
    _release(reg, second, "v0.2.1", alias="staging")
    mirror_registry(tracker, reg)
    # what the issue found: versions 1 and 2 both say v0.2.1
    tracker.client.set_model_version_tag("gramops-int8", "1", "semver", "v0.2.1")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"semver not bound: gramops-int8 version 1 ({first[:12]}) carries v0.2.1; the registry "
        f"binds it to {second[:12]}",
        f"duplicate semver: v0.2.1 on gramops-int8 version 1 ({first[:12]}), gramops-int8 "
        f"version 2 ({second[:12]})",
    ]
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker) == {
        ("gramops-fp32", "1"): "v0.1.0",
        ("gramops-int8", "1"): None,
        ("gramops-int8", "2"): "v0.2.1",
    }
    assert verify_mlflow(tracker, registry_view(reg)) == []


def test_verify_reports_entries_not_mirrored_and_missing_semvers(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = _register(reg, tmp_path, "fp32", 1)
    _release(reg, fp32, "v0.1.0")
    mirror_registry(tracker, reg)
    tracker.client.delete_model_version_tag("gramops-fp32", "1", "semver")
    lora = _register(reg, tmp_path, "lora", 2, parent=fp32)
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"not mirrored: registry entry {lora[:12]} has no MLflow version",
        f"semver missing: gramops-fp32 version 1 ({fp32[:12]}) lacks semver v0.1.0",
    ]


def _mirror_stage(root: Path, monkeypatch: pytest.MonkeyPatch):
    """stages/mirror.py as a module, run in ``root`` with no stage results to log."""
    spec = importlib.util.spec_from_file_location("mirror_stage", ROOT / "stages" / "mirror.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "collect_stage_results", lambda root, skip: [])
    monkeypatch.setattr(module, "git_commit", lambda root: None)
    monkeypatch.chdir(root)
    monkeypatch.delenv("GRAMOPS_REGISTRY", raising=False)
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    return module


def test_mirror_stage_never_writes_to_the_registry(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    reg = Registry(workspace / "models" / "registry", actor="tester")
    fp32 = _register(reg, tmp_path, "fp32", 1)
    _release(reg, fp32, "v0.1.0")
    before = _snapshot(reg.root)
    _mirror_stage(workspace, monkeypatch).main()
    assert _snapshot(reg.root) == before  # no pointers written back, no audit line
    summary = json.loads((workspace / "metrics" / "mirror.json").read_text("utf-8"))
    assert summary["registered_models"]["gramops-fp32"] == {
        "versions": {"1": fp32},
        "aliases": {"production": "1"},
    }


def test_registry_verify_mlflow_prints_differences_and_exits_1(
    tracker: Tracker,
    reg: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gramops.cli import main

    fp32 = _register(reg, tmp_path, "fp32", 1)
    _release(reg, fp32, "v0.1.0")
    monkeypatch.chdir(tmp_path)
    verify = ["--registry", str(reg.root), "registry", "verify", "--mlflow"]
    assert main(verify) == 1
    out = capsys.readouterr().out
    assert f"MLFLOW    not mirrored: registry entry {fp32[:12]} has no MLflow version" in out
    assert "MLFLOW    alias missing: the registry's production" in out
    assert out.rstrip().endswith("objects checked") and "FAILED" in out

    mirror_registry(tracker, reg)
    tracker.client.set_registered_model_alias("gramops-fp32", "candidate", "1")
    assert main([*verify[:-1], "--json", "--mlflow"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["mlflow"] == [
        f"alias not in the registry: gramops-fp32@candidate is gramops-fp32 version 1 ({fp32[:12]})"
    ]
    tracker.client.delete_registered_model_alias("gramops-fp32", "candidate")
    assert main(verify) == 0
    assert "MLFLOW" not in capsys.readouterr().out
    assert main(verify[:-1]) == 0  # without --mlflow, MLflow is not read


def test_registry_verify_mlflow_without_a_store_creates_none(
    reg: Registry, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gramops.cli import main

    workspace = tmp_path / "ws"
    (workspace / ".dvc").mkdir(parents=True)
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["--registry", str(reg.root), "registry", "verify", "--mlflow"]) == 1
    assert "MLFLOW    no MLflow store at sqlite:///" in capsys.readouterr().out
    assert not (workspace / "mlflow.db").exists()


def test_mirror_stage_declares_the_registry_state_and_is_never_run_cached() -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text("utf-8"))["stages"]["mirror"]
    assert {
        "models/registry/index.jsonl",
        "models/registry/tags.json",
        "models/registry/aliases.json",
    } <= set(stage["deps"])
    # an ordinary uncached output turns the run-cache off: no replay without the MLflow writes
    assert {"metrics/mirror.json": {"cache": False}} in stage["outs"]
    ignored = sh(["git", "check-ignore", "metrics/mirror.json"], cwd=ROOT, check=False)
    assert ignored.returncode == 0


class _RecordingClient:
    """An MlflowClient that records the name of every model registry write it is asked for."""

    WRITES = ("create_", "set_", "delete_", "update_", "log_")

    def __init__(self, client: object) -> None:
        self._client = client
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> object:
        if name.startswith(self.WRITES):
            self.writes.append(name)
        return getattr(self._client, name)


def test_mirroring_an_unchanged_registry_writes_nothing(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = _register(reg, tmp_path, "fp32", 1)
    int8 = _register(reg, tmp_path, "int8", 2, parent=fp32)
    _register(reg, tmp_path, "lora", 3, parent=fp32)
    _release(reg, fp32, "v0.1.0")
    _release(reg, int8, "v0.2.0", alias="staging")
    mirror_registry(tracker, reg)
    recording = _RecordingClient(tracker.client)
    mirror_registry(dataclasses.replace(tracker, client=recording), reg)
    assert recording.writes == []
    # a change writes only itself: one alias moved, nothing else touched
    reg.set_alias("staging", fp32, reason="test")
    mirror_registry(dataclasses.replace(tracker, client=recording), reg)
    assert sorted(recording.writes) == [
        "delete_registered_model_alias",
        "set_registered_model_alias",
        "set_registered_model_tag",
        "set_registered_model_tag",
    ]
