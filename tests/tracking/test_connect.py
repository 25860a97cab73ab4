"""The connection: a dead or stalling server fails fast naming the URI; the default store
is the workspace's, seen through experiment temp copies."""

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gramops.tracking.connect import (
    EXPERIMENT,
    TrackingError,
    connect,
    default_tracking_uri,
    store_missing,
    workspace_root,
)
from gramops.tracking.pipeline import StageResult
from gramops.tracking.runs import mirror_stage_results


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


def test_only_a_sqlite_file_that_is_not_there_is_a_missing_store(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")
    assert not store_missing(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert store_missing(f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")
    assert not store_missing("http://mlflow.example:5000")  # a server: asked, not assumed
