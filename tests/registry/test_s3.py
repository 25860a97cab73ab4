"""Registry metadata and objects on S3 (moto): the team-scale set-up, configured by URLs only."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import gramops.registry.journal as registry_module
from gramops.models.identity import canonical_sha
from gramops.registry.auditlog import replay
from gramops.registry.s3 import S3MetadataFiles
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle

# Crash, concurrency, tamper and S3 cases: the registry's reliability tier.
pytestmark = pytest.mark.reliability


def test_register_promote_rollback_and_materialize_on_s3(s3_bucket, tmp_path, monkeypatch):
    root = f"{s3_bucket}/registry"
    monkeypatch.setenv("GRAMOPS_REGISTRY", root)
    reg = Registry(actor="alice")  # the root comes from the environment alone
    assert reg.url == root and reg.objects_url == f"{root}/objects"
    first = reg.register(tiny_bundle(tmp_path / "a"), family="fp32")
    second = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32")
    assert (first.semver, second.semver) == (None, None)
    assert reg.promote(first.sha, reason="first", first_semver="v0.1.0").semver == "v0.1.0"
    assert reg.promote(second.sha, reason="second").semver == "v0.1.1"
    assert reg.rollback("production", reason="back") == (first.sha, second.sha)
    assert reg.resolve("production") == first.sha and reg.resolve(second.sha[:10]) == second.sha
    assert [r["op"] for r in reg.history()] == [
        "register",
        "register",
        "promote",
        "promote",
        "rollback",
    ]
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
    assert reg.gc() == []  # every object is referenced
    # the CLI finds the same registry from the environment alone
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "gramops"), "registry", "verify"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and "ok: 8 objects checked" in cli.stdout, cli.stdout + cli.stderr


def _promote_many(root: str, actor: str, shas: list[str], semvers: list[str], errors: list) -> None:
    try:
        reg = Registry(root, actor=actor)
        for sha, semver in zip(shas, semvers, strict=True):
            reg.set_alias("production", sha)
            reg.tag(sha, semver)
    except Exception as exc:  # surfaced by the test thread below
        errors.append(exc)


def test_two_clones_promote_concurrently_and_see_each_other_with_no_lost_update(
    s3_bucket, tmp_path
):
    root = f"{s3_bucket}/shared"
    alice, bob = Registry(root, actor="alice"), Registry(root, actor="bob")
    shas = [
        alice.register(tiny_bundle(tmp_path / f"m{i}", seed=i), family="fp32").sha for i in range(4)
    ]
    errors: list = []
    plans = {
        "alice": (alice, shas[:2] * 3, [f"v1.{i}.0" for i in range(6)]),
        "bob": (bob, shas[2:] * 3, [f"v2.{i}.0" for i in range(6)]),
    }
    threads = [
        threading.Thread(target=_promote_many, args=(root, actor, s, v, errors))
        for actor, (_reg, s, v) in plans.items()
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started
    assert not errors, errors
    # each clone sees the other's promotions
    for reg in (alice, bob):
        tags = reg.tags()
        assert all(tags[f"v1.{i}.0"] == shas[i % 2] for i in range(6))
        assert all(tags[f"v2.{i}.0"] == shas[2 + i % 2] for i in range(6))
    records = bob.history()
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    for actor in ("alice", "bob"):
        mine = [r for r in records if r["actor"] == actor and r["op"] in ("alias", "tag")]
        assert len(mine) == 12  # 6 alias moves (each changes the holder) and 6 tags
    moves = [r for r in records if r["op"] == "alias"]
    # no lost update: every move replaced the holder the previous move had set
    assert [m["previous"] for m in moves] == [None] + [m["new"] for m in moves[:-1]]
    assert (alice.tags(), alice.aliases()) == replay(records)
    assert alice.verify().ok
    assert elapsed < 60


def test_a_stale_lock_of_a_dead_holder_is_broken_after_its_expiry(s3_bucket, tmp_path, caplog):
    root = f"{s3_bucket}/stale"
    reg = Registry(root, actor="alice")
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    meta = S3MetadataFiles(root)
    dead = {"owner": "dead", "holder": "bob@laptop pid 4242", "expires": time.time() - 5}
    meta.write(".lock", json.dumps(dead).encode())
    with caplog.at_level(logging.WARNING):
        reg.set_alias("production", sha)
    assert "broke a stale registry lock held by bob@laptop pid 4242" in caplog.text
    assert reg.aliases() == {"production": sha} and not meta.exists(".lock")


def test_a_live_lock_makes_a_mutation_time_out_naming_the_lock_and_its_holder(
    s3_bucket, tmp_path, monkeypatch
):
    root = f"{s3_bucket}/busy"
    reg = Registry(root, actor="alice")
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    meta = S3MetadataFiles(root)
    live = {"owner": "other", "holder": "bob@laptop pid 7", "expires": time.time() + 600}
    meta.write(".lock", json.dumps(live).encode())
    monkeypatch.setattr(registry_module, "LOCK_TIMEOUT_S", 0.5)
    before = reg.history()
    with pytest.raises(RegistryError) as err:
        reg.set_alias("production", sha)
    message = str(err.value)
    assert f"{root}/.lock" in message and "held by bob@laptop pid 7" in message
    assert "waited 0.5 s" in message
    assert reg.history() == before and reg.aliases() == {}
    assert json.loads(meta.read(".lock")) == live  # a live lock is never broken


def test_a_holder_whose_lock_was_taken_writes_nothing_and_leaves_the_new_lock(
    s3_bucket, tmp_path, caplog
):
    root = f"{s3_bucket}/stalled"
    reg = Registry(root, actor="alice")
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    meta = S3MetadataFiles(root)
    thief = {"owner": "bob-token", "holder": "bob@ci pid 9", "expires": time.time() + 600}
    before = reg.history()
    with caplog.at_level(logging.WARNING), reg._locked():
        # alice stalled past her TTL and bob broke the lock: simulate bob's takeover
        meta.write(".lock", json.dumps(thief).encode())
        with pytest.raises(RegistryError, match="expired and is now held by bob@ci pid 9"):
            reg.set_alias("production", sha)
    assert reg.history() == before and reg.aliases() == {}
    assert not meta.exists(".journal.json")
    assert json.loads(meta.read(".lock")) == thief  # alice's release left bob's lock alone
    assert "taken by bob@ci pid 9; not releasing it" in caplog.text
