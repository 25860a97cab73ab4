"""A Hypothesis profile for the reliability tests: deterministic and quick.

``derandomize`` makes every run try the same examples, so a failure reproduces from the
test name alone and CI never flakes on a newly drawn input; no example database is
written into the repository. The profile is registered, not loaded, so it applies only
to the tests that ask for it (``@settings.get_profile(PROFILE)``), never session-wide.

The fixtures build tiny bundles with exactly the tensors, dtypes and config keys of real
ones, so a loader that accepts them would accept a real bundle, and byte snapshots to
prove that a refused input left nothing written.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from gramops.bundle import save_bundle
from gramops.jsonio import write_json
from gramops.model import TAGS

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
    from gramops.registry import Registry

    tmp = tmp_path_factory.mktemp("populated")
    reg = Registry(tmp / "registry", actor="tester")
    fp32 = reg.register(
        write_tiny_bundle(tmp / "fp32", "fp32", seed=1), family="fp32", seed_semver="v0.1.0"
    ).sha
    for family, seed, semver in (("int8", 2, "v0.2.0"), ("lora", 3, "v0.3.0")):
        reg.register(
            write_tiny_bundle(tmp / family, family, parent=fp32, seed=seed),
            family=family,
            seed_semver=semver,
        )
    reg.set_alias("production", fp32)
    return reg
