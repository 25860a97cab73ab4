"""The alias follower: verified loads, atomic swaps, failed reloads that keep the old model."""

import threading
import time
from pathlib import Path

import pytest

from gramops.inference.requests import PredictRequest
from gramops.serving.holder import AliasFollower, AliasHolder, ServeError, load_alias, load_model
from gramops.serving.service import Service
from helpers.serving import tamper

REQUEST = PredictRequest(sentence="She ___ home.", lemma="go")


def test_load_alias_names_the_model_it_serves(registry, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    model = load_alias(registry, "production", workdir)
    assert (model.sha, model.semver, model.family) == (
        registry.resolve("v0.1.0"),
        "v0.1.0",
        "fp32",
    )
    assert list(workdir.iterdir()) == []  # the bundle files are gone once loaded
    lora = load_alias(registry, "shadow", workdir)  # a LoRA adapter loads with its base
    assert (lora.family, lora.semver) == ("lora", "v0.3.0")


def test_a_tampered_production_refuses_to_start_naming_alias_and_model(registry, serve_params):
    tamper(registry, "production")
    with pytest.raises(ServeError) as refused:
        Service.open(registry, serve_params())
    message = str(refused.value)
    assert "alias 'production' points at" in message
    assert "tampered" in message and "gramops registry verify" in message


def test_missing_bytes_or_alias_refuse_to_start(registry, serve_params):
    with pytest.raises(ServeError, match="alias 'nightly' is not set"):
        Service.open(registry, serve_params(alias="nightly"))
    weights = next(f for f in registry.entry("v0.1.1")["files"] if "safetensors" in f["path"])
    Path(registry.objects.path_of(weights["object"])).unlink()
    with pytest.raises(ServeError, match="alias 'canary' points at .* cannot be served.*missing"):
        Service.open(registry, serve_params(alias="canary"))


def _follower(registry, holder, tmp_path, **kwargs):
    calls = []

    def loader(sha):
        calls.append(sha)
        return load_model(registry, sha, tmp_path)

    return AliasFollower(registry, {holder.alias: holder}, loader, **kwargs), calls


def test_a_move_is_loaded_and_swapped_and_a_rollback_followed(registry, tmp_path):
    holder = AliasHolder("production", load_alias(registry, "production", tmp_path))
    follower, _ = _follower(registry, holder, tmp_path)
    follower.check()
    assert holder.reloads == 0  # nothing moved
    registry.promote("v0.1.1", reason="test")
    follower.check()
    assert (holder.model.semver, holder.reloads) == ("v0.1.1", 1)
    registry.rollback(reason="test")
    follower.check()
    assert (holder.model.semver, holder.reloads) == ("v0.1.0", 2)


def test_a_failed_reload_keeps_the_old_model_and_retries_after_the_wait(registry, tmp_path):
    holder = AliasHolder("production", load_alias(registry, "production", tmp_path))
    now = [0.0]
    follower, calls = _follower(registry, holder, tmp_path, retry_seconds=10, clock=lambda: now[0])
    tamper(registry, "v0.1.1")
    target = registry.promote("v0.1.1", reason="test").sha
    follower.check()
    assert holder.model.semver == "v0.1.0"  # still serving the old model
    assert holder.failure is not None and holder.failure.target == target
    assert "tampered" in holder.failure.error and holder.failed_reloads == 1
    follower.check()
    assert len(calls) == 1  # not retried before the wait
    now[0] = 11
    follower.check()
    assert len(calls) == 2 and holder.failure.attempts == 2
    registry.rollback(reason="the new model's bytes are bad")
    follower.check()  # the alias is back on the served model: the failure is over
    assert holder.failure is None and holder.model.semver == "v0.1.0"


def test_an_in_flight_call_finishes_on_the_model_it_started_with(service, registry):
    holder = service.primary
    old = holder.model
    started, release = threading.Event(), threading.Event()

    class Slow:
        def predict(self, records):
            started.set()
            release.wait(5)
            return old.predictor.predict(records)

    holder.model = type(old)(old.sha, old.semver, old.family, Slow(), old.loaded_at)
    result = {}
    worker = threading.Thread(target=lambda: result.update(s=service.answer([REQUEST], None)))
    worker.start()
    assert started.wait(5)
    registry.promote("v0.1.1", reason="test")
    deadline = time.monotonic() + 2
    while holder.model.sha == old.sha and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holder.model.semver == "v0.1.1"  # swapped while the call was in flight
    release.set()
    worker.join(5)
    assert result["s"].model.sha == old.sha  # ... which finished on its own model
    assert service.answer([REQUEST], None).model.semver == "v0.1.1"


def test_the_running_follower_switches_within_two_seconds(service, registry):
    for ref in ("v0.1.1", "v0.1.0", "v0.1.1"):
        start = time.monotonic()
        registry.promote(ref, reason="test")
        while service.primary.model.semver != ref:
            assert time.monotonic() - start < 2, f"still serving the old model after 2 s ({ref})"
            time.sleep(0.01)
