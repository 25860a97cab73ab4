"""Registry metadata and objects on S3 (moto): the team-scale set-up, configured by URLs only."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

import gramops.registry as registry_module
from gramops.identity import canonical_sha
from gramops.objectstore import S3MetadataFiles
from gramops.registry import Registry, RegistryError, _replay

from .conftest import tiny_bundle


def test_register_tag_alias_rollback_and_materialize_on_s3(s3_bucket, tmp_path, monkeypatch):
    root = f"{s3_bucket}/registry"
    monkeypatch.setenv("GRAMOPS_REGISTRY", root)
    reg = Registry(actor="alice")  # the root comes from the environment alone
    assert reg.url == root and reg.objects_url == f"{root}/objects"
    first = reg.register(tiny_bundle(tmp_path / "a"), family="fp32", seed_semver="v0.1.0")
    second = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32", seed_semver="v0.1.0")
    assert (first.semver, second.semver) == ("v0.1.0", "v0.1.1")
    reg.set_alias("production", first.sha)
    reg.set_alias("production", second.sha)
    assert reg.rollback("production") == (first.sha, second.sha)
    assert reg.resolve("production") == first.sha and reg.resolve(second.sha[:10]) == second.sha
    assert [r["op"] for r in reg.history()] == ["register", "register", "alias", "alias", "rollback"]
    out = reg.materialize("v0.1.1", tmp_path / "out")
    assert canonical_sha(out) == second.sha
    report = reg.verify()
    assert report.ok and report.checked == 8, report.errors
    # everything lives in the bucket: no journal or lock left behind, nothing on local disk
    meta = S3MetadataFiles(root)
    assert meta.names("entries") == sorted(f"{s}.json" for s in (first.sha, second.sha))
    assert not meta.exists(".journal.json") and not meta.exists(".lock")
    with pytest.raises(RegistryError, match="not on local disk"):
        _ = reg.root
