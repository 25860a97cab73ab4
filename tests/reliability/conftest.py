"""Fixtures of the reliability suite: tiny bundles and an S3 endpoint (moto) on localhost.

moto's conditional PUT checks the key and then writes it in two steps, so two requests
served by two of its threads at once can both "win" an ``If-None-Match: *`` create. AWS
S3 evaluates the condition atomically; serialising moto's requests gives the same
guarantee, so the tests exercise our lock and not moto's race.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gramops.bundle import save_bundle
from gramops.jsonio import write_json

CORPUS = "2b209b2ce91f17cd724a65906eb9b5f9.dir"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def tiny_bundle(path: Path, family: str = "fp32", parent: str | None = None, seed: int = 1) -> Path:
    """A registrable bundle of a few bytes; ``seed`` changes the weights and so the SHA."""
    weights = "adapter.safetensors" if family == "lora" else "model.safetensors"
    tensors = {"W1": np.arange(12, dtype=np.float32).reshape(3, 4) + seed, "b1": np.ones(3)}
    save_bundle(
        path,
        weights,
        tensors,
        {"family": family, "hidden": 3},
        {"seed": seed, "family": family, "parent_sha": parent, "corpus": {"dvc_hash": CORPUS}},
    )
    write_json(
        path / "eval_report.json",
        {"domains": {"verb": {"strict_accuracy": 0.5, "pass_rate": 0.9, "count": 4}}},
    )
    return path


def metadata_state(root: Path) -> dict[str, Any]:
    """The registry's metadata with wall-clock fields dropped, to compare runs of one op.

    Objects (content-addressed, orphans are harmless), the lock and tmp files are left out.
    """
    state: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith("objects/") or rel.endswith(".tmp"):
            continue
        if rel in (".lock", ".journal.json"):
            continue
        if rel == "index.jsonl":
            state[rel] = [_untimed(json.loads(line)) for line in path.read_bytes().splitlines()]
        else:
            state[rel] = _untimed(json.loads(path.read_bytes()))
    return state


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("time", "registered_at")}
    return value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 whose requests run one at a time, as S3's are atomic."""
    from moto.moto_server import threaded_moto_server
    from moto.server import ThreadedMotoServer

    serial = threading.Lock()
    original = threaded_moto_server.DomainDispatcherApplication

    class SerialApp(original):  # type: ignore[misc, valid-type]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            with serial:
                return list(super().__call__(environ, start_response))

    threaded_moto_server.DomainDispatcherApplication = SerialApp
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    try:
        server.start()
    finally:
        threaded_moto_server.DomainDispatcherApplication = original
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
