"""Fixtures of the reliability suite.

- Tiny bundles: ``tiny_bundle`` (a few bytes, for registry mechanics) and
  ``write_tiny_bundle`` (exactly the tensors, dtypes and config keys of real bundles, so a
  loader that accepts them would accept a real one), and byte snapshots to prove that a
  refused input left nothing written.
- A Hypothesis profile, deterministic and quick: ``derandomize`` makes every run try the
  same examples, so a failure reproduces from the test name alone and CI never flakes on a
  newly drawn input; no example database is written into the repository. It is
  registered, not loaded, so it applies only to tests that ask for it.
- An S3 endpoint (moto) on localhost. moto's conditional PUT checks the key and then
  writes it in two steps, so two requests served by two of its threads at once can both
  "win" an ``If-None-Match: *`` create. AWS S3 evaluates the condition atomically;
  serialising moto's requests gives the same guarantee, so the tests exercise our lock
  and not moto's race.
"""

from __future__ import annotations

import hashlib
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from conftest import register_tagged, team_stack_module
from gramops.core.fileio import write_json
from gramops.models.bundle import save_bundle
from gramops.models.mlp import TAGS

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


PROFILE = "gramops-reliability"

settings.register_profile(
    PROFILE,
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------------------------
# Tiny but schema-complete bundles and byte snapshots, shared by the reliability tests
# ---------------------------------------------------------------------------------------------


HIDDEN, HASH_BITS, RANK = 3, 8, 2


def tiny_tensors(family: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights with exactly the names, dtypes and shapes a real bundle of ``family`` has."""
    rng = np.random.default_rng(seed)
    n_in, n_out = 2**HASH_BITS, len(TAGS)

    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    if family == "fp32":
        return {
            "W1": f32(HIDDEN, n_in),
            "b1": f32(HIDDEN),
            "W2": f32(n_out, HIDDEN),
            "b2": f32(n_out),
        }
    if family == "int8":
        return {
            "W1.q": rng.integers(-127, 128, (HIDDEN, n_in)).astype(np.int8),
            "W1.scale": np.abs(f32(HIDDEN)) + 0.01,
            "b1": f32(HIDDEN),
            "W2.q": rng.integers(-127, 128, (n_out, HIDDEN)).astype(np.int8),
            "W2.scale": np.abs(f32(n_out)) + 0.01,
            "b2": f32(n_out),
        }
    return {
        "W1.lora_A": f32(RANK, n_in),
        "W1.lora_B": f32(HIDDEN, RANK),
        "W2.lora_A": f32(RANK, HIDDEN),
        "W2.lora_B": f32(n_out, RANK),
    }


def write_tiny_bundle(
    path: Path, family: str = "fp32", parent: str | None = None, seed: int = 0
) -> Path:
    """A bundle every loader accepts: real config keys, weights, manifest and eval report."""
    config: dict = {
        "family": family,
        "architecture": {
            "type": "mlp",
            "input_dim": 2**HASH_BITS,
            "hidden": HIDDEN,
            "activation": "relu",
            "tags": list(TAGS),
        },
        "features": {"hash_bits": HASH_BITS, "window": 2},
    }
    if family == "lora":
        config["lora"] = {"rank": RANK, "alpha": 4.0, "targets": ["W1", "W2"]}
    weights = "adapter.safetensors" if family == "lora" else "model.safetensors"
    manifest = {
        "family": family,
        "seed": seed,
        "parent_sha": parent,
        "corpus": {"dvc_hash": "0" * 32 + ".dir"},
    }
    save_bundle(path, weights, tiny_tensors(family, seed), config, manifest)
    write_json(
        path / "eval_report.json",
        {"domains": {"verb": {"strict_accuracy": 0.5, "pass_rate": 0.9, "count": 4}}},
    )
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (empty if it does not exist)."""
    if not Path(root).exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def make_bundle() -> Callable[..., Path]:
    return write_tiny_bundle


@pytest.fixture
def snap() -> Callable[[Path], dict[str, str]]:
    return snapshot


@pytest.fixture(scope="module")
def populated_registry(tmp_path_factory):
    """A registry with fp32 v0.1.0, int8 v0.2.0, lora v0.3.0 and alias production (read-only)."""
    from gramops.registry.store import Registry

    tmp = tmp_path_factory.mktemp("populated")
    reg = Registry(tmp / "registry", actor="tester")
    fp32 = register_tagged(reg, write_tiny_bundle(tmp / "fp32", "fp32", seed=1), "fp32", "v0.1.0")
    for family, seed, semver in (("int8", 2, "v0.2.0"), ("lora", 3, "v0.3.0")):
        register_tagged(
            reg, write_tiny_bundle(tmp / family, family, parent=fp32.sha, seed=seed), family, semver
        )
    reg.promote(fp32.sha, reason="the populated fixture's production")
    return reg
