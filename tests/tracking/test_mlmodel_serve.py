"""`mlflow models serve -m models:/gramops@production --env-manager local` answers
POST /invocations with gramops' answers (a child process on a free port: seconds, so e2e)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gramops.registry.store import Registry
from gramops.tracking.connect import Tracker
from gramops.tracking.models import mirror_registry
from helpers.tracking import register_entry, release

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_mlflow_models_serve_answers_invocations(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    import mlflow.pyfunc

    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    int8 = register_entry(reg, tmp_path, "int8", 2, parent=fp32)
    release(reg, int8, "v0.2.0")
    mirror_registry(tracker, reg)
    rows = [{"sentence": "She ___ to school every day.", "lemma": "go"}]
    expected = mlflow.pyfunc.load_model("models:/gramops@production").predict(rows)

    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/gramops@production",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracker.uri},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as ping:
                    if ping.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "mlflow models serve did not start in 60 s"
            time.sleep(0.3)
        status, body = _post(f"{url}/invocations", {"dataframe_records": rows})
        assert status == 200, body
        assert body["predictions"] == [
            {
                "form": expected["form"][0],
                "tag": expected["tag"][0],
                "confidence": pytest.approx(expected["confidence"][0]),
            }
        ]
        status, body = _post(
            f"{url}/invocations",
            {"dataframe_records": [*rows, {"sentence": "She home.", "lemma": "go"}]},
        )
        assert status == 400 and "row 1: sentence" in body["message"], body
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
