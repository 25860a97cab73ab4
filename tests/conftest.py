"""Shared fixtures and the test tiers.

Tiers (markers, assigned here by folder so a test cannot miss one): ``unit`` (everything
not otherwise marked: fast, tiny fixtures), ``e2e`` (the real pipeline in a fresh clone:
tests/e2e, tests/data, tests/model and any test using its fixtures), ``reliability``
(crash, concurrency, tamper, S3 and property tests: tests/reliability and modules that
say so) and ``scale`` (the team stack). `make test` runs them all; `make test-fast` runs
``unit``. Helpers are imported from the ``helpers`` package, never from this file.

The pipeline fixture clones the committed repository into a temporary directory and runs
`dvc repro` there once per session; end-to-end and data tests share that run.

An S3 endpoint (moto) on localhost: moto's conditional PUT checks the key and then writes it
in two steps, so two requests served by two of its threads at once can both "win" an
``If-None-Match: *`` create. AWS S3 evaluates the condition atomically; serialising moto's
requests gives the same guarantee, so the tests exercise our lock and not moto's race.
"""

import json
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers.bundles import tiny_bundle
from helpers.paths import DVC, ROOT
from helpers.processes import sh, team_stack_module
from helpers.registry import register_tagged, snapshot

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "e2e", "reliability", "scale")
FOLDER_TIER = {
    "e2e": "e2e",
    "data": "e2e",
    "model": "e2e",
    "reliability": "reliability",
    "scale": "scale",
}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if {"pipeline_repo", "processed_dir"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        folder = Path(str(item.path)).relative_to(TESTS).parts[0]
        if folder in FOLDER_TIER:
            item.add_marker(FOLDER_TIER[folder])
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def webhook():
    """A webhook receiver on loopback: its URL, the JSON bodies it received and their
    Content-Type headers."""
    received: list[dict] = []
    content_types: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            content_types.append(self.headers["Content-Type"])
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, content_types
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> dict:
    """A fresh clone of the committed repo after a cold `dvc repro`."""
    clone = tmp_path_factory.mktemp("e2e") / "gramops"
    sh(["git", "clone", "--quiet", str(ROOT), str(clone)], cwd=ROOT)
    # what `make install` adds beside the venv: the offline `dvc plots` page template
    template = ROOT / ".dvc" / "plots" / "offline.html"
    if template.exists():
        shutil.copy2(template, clone / ".dvc" / "plots" / "offline.html")
    # as if on another CPU: OpenBLAS told to use older kernels than this machine's; the
    # stages pin their own (gramops.core.kernels), so the bytes must still be the committed
    result = sh([DVC, "repro"], cwd=clone, env={"OPENBLAS_CORETYPE": "Sandybridge"})
    return {"path": clone, "output": result.stdout + result.stderr}


@pytest.fixture(scope="session")
def processed_dir(pipeline_repo) -> Path:
    return pipeline_repo["path"] / "data" / "processed"


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 whose requests run one at a time, as S3's are atomic."""
    server = team_stack_module().start_serial_s3(_free_port())
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials and endpoint for botocore, as a team would export them (env vars only)."""
    env = {**S3_ENV, "AWS_ENDPOINT_URL": moto_endpoint}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_bucket(s3_env: dict[str, str]) -> Iterator[str]:
    """A fresh bucket: ``s3://<bucket>``."""
    import boto3
    import s3fs

    name = f"gramops-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    yield f"s3://{name}"
    s3fs.S3FileSystem.clear_instance_cache()


_SUMMARIES: list[str] = []


@pytest.fixture
def reliability_summary() -> Callable[[str], None]:
    """Record a line for the end-of-run summary (kills per operation, timings)."""
    return _SUMMARIES.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SUMMARIES:
        terminalreporter.section("registry reliability")
        for line in _SUMMARIES:
            terminalreporter.write_line(line)


@pytest.fixture
def make_bundle() -> Callable[..., Path]:
    return tiny_bundle


@pytest.fixture
def snap() -> Callable[[Path], dict[str, str]]:
    return snapshot


@pytest.fixture(scope="module")
def populated_registry(tmp_path_factory):
    """A registry with fp32 v0.1.0, int8 v0.2.0, lora v0.3.0 and alias production (read-only)."""
    from gramops.registry.store import Registry

    tmp = tmp_path_factory.mktemp("populated")
    reg = Registry(tmp / "registry", actor="tester")
    fp32 = register_tagged(reg, tiny_bundle(tmp / "fp32", "fp32", seed=1), "fp32", "v0.1.0")
    for family, seed, semver in (("int8", 2, "v0.2.0"), ("lora", 3, "v0.3.0")):
        register_tagged(
            reg, tiny_bundle(tmp / family, family, parent=fp32.sha, seed=seed), family, semver
        )
    reg.promote(fp32.sha, reason="the populated fixture's production")
    return reg
