"""Tampering: verify names what was changed, and loading the ref refuses with a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gramops.core.fileio import write_json
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle
from helpers.registry import register_tagged

# Crash, concurrency, tamper and S3 cases: the registry's reliability tier.
pytestmark = pytest.mark.reliability

GRAMOPS = str(Path(sys.executable).parent / "gramops")


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry", actor="tester")
    fp32 = register_tagged(registry, tiny_bundle(tmp_path / "fp32"), "fp32", "v0.1.0")
    lora = tiny_bundle(tmp_path / "lora", "lora", parent=fp32.sha, seed=3)
    register_tagged(registry, lora, "lora", "v0.2.0")
    registry.promote(fp32.sha, reason="tamper fixture")
    assert registry.verify().ok
    return registry


def _object_of(reg: Registry, ref: str, name: str) -> str:
    return next(f["object"] for f in reg.entry(ref)["files"] if f["path"] == name)


def _cli_verify(reg: Registry) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRAMOPS, "--registry", str(reg.root), "registry", "verify"],
        capture_output=True,
        text=True,
    )


def test_a_flipped_byte_in_a_stored_object_is_named_and_never_loaded(reg, tmp_path):
    sha = reg.resolve("v0.1.0")
    key = _object_of(reg, "v0.1.0", "model.safetensors")
    path = Path(reg.objects.path_of(key))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = reg.verify()
    assert not report.ok and [tuple(p) for p in report.tampered] == [
        (sha, "model.safetensors", key)
    ]
    cli = _cli_verify(reg)
    assert cli.returncode == 1
    assert f"TAMPERED  {sha[:12]} (v0.1.0, production) model.safetensors" in cli.stdout
    dest = tmp_path / "out"
    with pytest.raises(RegistryError, match=f"object {key} for model.safetensors is tampered"):
        reg.materialize("production", dest)
    assert not any(dest.iterdir())  # nothing half-copied under a trusted name
    # the LoRA adapter shares nothing with the base's weights: it still loads
    assert (reg.materialize("v0.2.0", tmp_path / "lora-out") / "adapter.safetensors").is_file()


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("parent_sha", "0" * 64, "files list and parent_sha hash to"),
        ("metrics", {"verb": {"count": 4, "pass_rate": 0.99, "strict_accuracy": 0.9}}, "metrics"),
        ("corpus_dvc_hash", "feedfacefeedfacefeedfacefeedface.dir", "corpus_dvc_hash"),
        ("family", "int8", "family"),
        ("size_bytes", 1, "size_bytes"),
    ],
)
def test_an_edited_entry_is_named_by_verify_and_refused_by_materialize(
    reg, tmp_path, field, value, named
):
    sha = reg.resolve("v0.2.0")
    entry = reg.entry(sha)
    write_json(reg.entry_path(sha), {**entry, field: value})  # a hand edit
    report = reg.verify()
    assert not report.ok
    mentions = [e for e in report.errors if str(reg.entry_path(sha)) in e and named in e]
    assert mentions, report.errors
    assert "edited" in mentions[0]
    with pytest.raises(RegistryError, match=named):
        reg.materialize("v0.2.0", tmp_path / "out")
    assert not (tmp_path / "out" / "adapter.safetensors").exists()


def test_an_edited_file_digest_in_an_entry_is_named(reg, tmp_path):
    sha = reg.resolve("v0.1.0")
    entry = reg.entry(sha)
    files = [dict(f) for f in entry["files"]]
    files[0]["sha256"] = "1" * 64
    write_json(reg.entry_path(sha), {**entry, "files": files})
    report = reg.verify()
    assert any(str(reg.entry_path(sha)) in e and "edited" in e for e in report.errors)
    with pytest.raises(RegistryError, match="the entry was edited"):
        reg.materialize("v0.1.0", tmp_path / "out")


def test_a_semver_whose_object_is_missing_is_named_and_fails_to_load(reg, tmp_path):
    sha = reg.resolve("v0.2.0")
    key = _object_of(reg, "v0.2.0", "adapter.safetensors")
    Path(reg.objects.path_of(key)).unlink()
    report = reg.verify()
    assert not report.ok and [tuple(p) for p in report.missing] == [
        (sha, "adapter.safetensors", key)
    ]
    cli = _cli_verify(reg)
    assert cli.returncode == 1
    assert f"MISSING   {sha[:12]} (v0.2.0) adapter.safetensors" in cli.stdout
    with pytest.raises(RegistryError, match=f"adapter.safetensors cannot be loaded: object {key}"):
        reg.materialize("v0.2.0", tmp_path / "out")


def test_a_semver_pointing_at_an_unregistered_sha_is_named_and_fails_to_load(reg, tmp_path):
    ghost = "f" * 64
    write_json(reg.tags_path, {**reg.tags(), "v0.9.0": ghost})
    report = reg.verify()
    assert f"{reg.tags_path}: v0.9.0 -> {ghost}, which is not registered" in report.errors
    assert any("differs from what" in e and "v0.9.0" in e for e in report.errors)
    with pytest.raises(RegistryError, match=f"SHA {ghost} has no entry file"):
        reg.materialize("v0.9.0", tmp_path / "out")


def test_a_tampered_object_on_s3_is_named_and_refused(s3_bucket, tmp_path):
    reg = Registry(f"{s3_bucket}/tamper", actor="tester")
    sha = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0").sha
    key = _object_of(reg, sha, "config.json")
    reg.objects.fs.pipe_file(reg.objects.path_of(key), json.dumps({"hidden": 4}).encode())
    report = reg.verify()
    assert [tuple(p) for p in report.tampered] == [(sha, "config.json", key)]
    with pytest.raises(RegistryError, match="tampered"):
        reg.materialize("v0.1.0", tmp_path / "out")
