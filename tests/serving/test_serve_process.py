"""`gramops serve` as a process: it follows promote and rollback within 2 s, refuses to start
on tampered bytes, and a SIGTERM drains and flushes the request log (nothing lost)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers.paths import ROOT
from helpers.serving import free_port, tamper, wait_serving

# a real process, ports and signals: the reliability tier
pytestmark = pytest.mark.reliability

ONE = {"sentence": "She ___ to school yesterday.", "lemma": "go"}


def _env(tmp_path: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'absent-mlflow.db'}",
    }


def _gramops(tmp_path: Path, registry, *args: str) -> list[str]:
    return [sys.executable, "-m", "gramops.cli", "--registry", str(registry.root), *args]


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _post(port: int, body) -> tuple[int, dict[str, str], dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, _lower(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read())


def _start(tmp_path: Path, registry, port: int, *extra: str) -> subprocess.Popen:
    command = _gramops(
        tmp_path,
        registry,
        "serve",
        "--params",
        str(tmp_path / "no-params.yaml"),
        "--port",
        str(port),
        "--poll-seconds",
        "0.2",
        "--request-log",
        str(tmp_path / "logs" / "requests.jsonl"),
        *extra,
    )
    server = subprocess.Popen(
        command, cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE, text=True
    )
    wait_serving(server, port, "/healthz", 30)
    return server


def _switch(port: int, sha: str) -> float:
    """Seconds until the server answers with ``sha``."""
    start = time.monotonic()
    while True:
        _status, headers, _body = _post(port, ONE)
        if headers["x-gramops-model-sha"] == sha:
            return time.monotonic() - start
        assert time.monotonic() - start < 2, f"still serving {headers['x-gramops-model-sha']}"
        time.sleep(0.02)


def test_the_server_follows_promote_and_rollback_and_flushes_on_sigterm(registry, tmp_path):
    port = free_port()
    server = _start(tmp_path, registry, port)
    try:
        status, headers, body = _post(port, ONE)
        assert status == 200 and headers["x-gramops-model-semver"] == "v0.1.0"
        assert body["model"]["sha"] == headers["x-gramops-model-sha"]
        new = registry.promote("v0.1.1", reason="serve e2e").sha
        assert _switch(port, new) < 2
        rollback = subprocess.run(
            _gramops(tmp_path, registry, "rollback", "-m", "serve e2e"),
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
        )
        assert rollback.returncode == 0, rollback.stderr
        assert _switch(port, registry.resolve("v0.1.0")) < 2
        for _ in range(20):
            assert _post(port, ONE)[0] == 200
        assert _post(port, {"lemma": "go"})[0] == 400
        ready = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz").read())
        assert ready["models"]["production"]["reloads"] == 2
    finally:
        server.send_signal(signal.SIGTERM)
        stderr = server.communicate(timeout=30)[1]
    # uvicorn drains, runs the app's shutdown, then re-raises the signal it caught
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
    lines = (tmp_path / "logs" / "requests.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    answered = [r for r in records if r["status"] == 200]
    # every answered call is in the log, each naming the model that answered it
    assert len(answered) >= 23 and records[-1]["status"] == 400
    assert {r["model"]["semver"] for r in answered} == {"v0.1.0", "v0.1.1"}


def test_the_server_refuses_to_start_on_a_tampered_production(registry, tmp_path):
    tamper(registry, "production")
    result = subprocess.run(
        _gramops(tmp_path, registry, "serve", "--port", str(free_port())),
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "alias 'production' points at" in result.stderr and "tampered" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_load_logs_every_answered_call(registry, tmp_path, workers):
    port = free_port()
    server = _start(tmp_path, registry, port, "--workers", str(workers))
    answered: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            body = {**ONE, "id": f"c{n}-{i}"}
            try:
                if _post(port, body)[0] == 200:
                    answered.append(body["id"])
            except OSError:  # the listener closed: the server is draining
                return
            i += 1

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(1.0)
    server.send_signal(signal.SIGTERM)
    stderr = server.communicate(timeout=30)[1]
    stop.set()
    for thread in clients:
        thread.join(10)
    assert "Application shutdown complete" in stderr
    # with N workers each writes its own log, requests.<pid>.jsonl, beside the path given
    logs = sorted((tmp_path / "logs").glob("requests*.jsonl"))
    assert len(logs) == workers
    logged = [
        json.loads(line)["requests"][0]["id"]
        for path in logs
        for line in path.read_text().splitlines()
    ]
    assert len(answered) > 50
    assert set(answered) <= set(logged)  # every answer a client got is in the log
