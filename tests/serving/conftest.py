"""Serving fixtures: a registry of tiny models and a started service over it."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gramops.core.params import ServeParams
from gramops.registry.store import Registry
from gramops.serving.service import Service
from helpers.bundles import tiny_bundle
from helpers.registry import register_tagged


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """fp32 v0.1.0 (production), fp32 v0.1.1, lora v0.3.0 on v0.1.0 (alias shadow)."""
    reg = Registry(tmp_path / "registry", actor="tester")
    first = register_tagged(reg, tiny_bundle(tmp_path / "a", "fp32", seed=1), "fp32", "v0.1.0")
    register_tagged(reg, tiny_bundle(tmp_path / "b", "fp32", seed=2), "fp32", "v0.1.1")
    lora = tiny_bundle(tmp_path / "lora", "lora", parent=first.sha, seed=3)
    register_tagged(reg, lora, "lora", "v0.3.0")
    reg.promote(first.sha, reason="serving tests")
    reg.set_alias("shadow", "v0.3.0")
    reg.set_alias("canary", "v0.1.1")
    return reg


@pytest.fixture
def serve_params(tmp_path: Path) -> Callable[..., ServeParams]:
    def make(**changes: Any) -> ServeParams:
        data: dict[str, Any] = {
            "poll_seconds": 0.05,
            "request_log": {"path": str(tmp_path / "logs" / "requests.jsonl")},
        }
        data.update(changes)
        return ServeParams.model_validate(data)

    return make


@pytest.fixture
def service(registry: Registry, serve_params) -> Iterator[Service]:
    """A started service over ``registry`` serving production (no shadow, no canary)."""
    svc = Service.open(registry, serve_params())
    svc.start()
    yield svc
    svc.stop()
