"""Many processes mutating one registry: every successful operation logged exactly once.

Each worker process runs a random mix of register, tag, retag, promote (an alias move that
binds the family's next semver in the same record), raw alias moves, rollback and annotate,
and writes down every operation that reported a change. The log must hold
exactly those records, per worker and in the worker's order, with consecutive sequence
numbers, and every record's ``previous`` must be the value the records before it left:
an update computed from a stale read would show up as a wrong ``previous``, and a
promotion that read the tags before another bound a semver would bind it twice.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gramops.registry.auditlog import replay
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle
from helpers.registry import register_tagged

# Crash, concurrency, tamper and S3 cases: the registry's reliability tier.
pytestmark = pytest.mark.reliability

WORKERS = 8
OPS_PER_WORKER = 50
REGISTERS_PER_WORKER = 3
S3_OPS_PER_WORKER = 12


def _worker(root: str, index: int, ops: int, bundles: list[str], out: str, barrier: Any) -> None:
    rng = random.Random(index)
    reg = Registry(root, actor=f"w{index}")
    done: list[list[Any]] = []
    pending = [Path(b) for b in bundles]
    barrier.wait()
    for step in range(ops):
        shas = reg.shas()
        kind = rng.choice(
            ["register", "tag", "retag", "promote", "alias", "alias", "rollback", "annotate"]
        )
        if kind == "register" and not pending:
            kind = "tag"
        if kind == "register":
            result = reg.register(pending.pop(), family="fp32")
            if result.created:
                done.append(["register", result.sha, result.semver, None])
        elif kind == "tag":
            semver = f"v{10 + index}.{step}.0"
            done.append(["tag", reg.tag(rng.choice(shas), semver), semver, None])
        elif kind == "promote":
            result = reg.promote(rng.choice(shas), reason=f"w{index} step {step}")
            if result.changed:
                done.append(["promote", result.sha, result.semver, "production"])
        elif kind == "retag":
            semver = rng.choice(sorted(reg.tags()))
            new, previous = reg.retag(rng.choice(shas), semver)
            if new != previous:
                done.append(["retag", new, semver, None])
        elif kind == "alias":
            alias = rng.choice(["production", "challenger"])
            new, previous = reg.set_alias(alias, rng.choice(shas))
            if new != previous:
                done.append(["alias", new, None, alias])
        elif kind == "rollback":
            try:
                new, _previous = reg.rollback("production")
            except RegistryError:  # unset, or no earlier holder: refused, nothing logged
                continue
            done.append(["rollback", new, None, "production"])
        else:
            sha = rng.choice(shas)
            reg.annotate(sha, f"note_w{index}", step)
            done.append(["annotate", sha, None, None])
    Path(out).write_text(json.dumps(done))


def run_workers(
    root: str, tmp_path: Path, workers: int, ops: int, watch: Callable[[], None] | None = None
) -> tuple[list[list[list[Any]]], float]:
    """Run ``workers`` forked processes on ``root``; their logged ops and the wall time.

    ``watch`` is called over and over while they run (a reader racing the writers).
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    outs = [tmp_path / f"w{i}.json" for i in range(workers)]
    procs = []
    for i in range(workers):
        bundles = [
            str(tiny_bundle(tmp_path / f"w{i}b{j}", seed=1000 * (i + 1) + j))
            for j in range(REGISTERS_PER_WORKER)
        ]
        procs.append(
            ctx.Process(target=_worker, args=(root, i, ops, bundles, str(outs[i]), barrier))
        )
    started = time.monotonic()
    for proc in procs:
        proc.start()
    while watch is not None and any(p.is_alive() for p in procs):
        watch()
    for proc in procs:
        proc.join(300)
    elapsed = time.monotonic() - started
    assert [p.exitcode for p in procs] == [0] * workers
    return [json.loads(out.read_text()) for out in outs], elapsed


def check_log(reg: Registry, done: list[list[list[Any]]]) -> int:
    """Assert the log holds exactly the workers' successful ops and no stale update."""
    records = reg.history()
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    for i, ops in enumerate(done):
        mine = [
            [r["op"], r["sha"], r["semver"], r["alias"]] for r in records if r["actor"] == f"w{i}"
        ]
        assert mine == ops, f"worker w{i}: log and successful ops differ"
    assert sum(len(ops) for ops in done) == sum(1 for r in records if r["actor"] != "setup")
    tags: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for r in records:  # each record's previous is what the records before it left
        if r["op"] == "retag":
            assert r["previous"] == tags[r["semver"]], r
        if r["op"] in ("alias", "promote", "rollback"):
            assert r["previous"] == aliases.get(r["alias"]), r
        if r["op"] == "promote":  # its semver is the entry's own, or one no one held
            assert tags.get(r["semver"], r["sha"]) == r["sha"], r
        replay_tags, replay_aliases = replay([r])
        tags.update(replay_tags)
        aliases.update(replay_aliases)
    assert (reg.tags(), reg.aliases()) == replay(records) == (tags, aliases)
    report = reg.verify()
    assert report.ok, report.errors
    return len(records)


def _seed_registry(reg: Registry, tmp_path: Path) -> None:
    """Three tagged fp32 entries: every retag has a semver to move, every promotion a
    family line to continue."""
    for seed in range(3):
        bundle = tiny_bundle(tmp_path / f"base{seed}", seed=seed)
        register_tagged(reg, bundle, "fp32", f"v0.1.{seed}")


def test_8_processes_x_50_mixed_operations_lose_nothing(tmp_path, reliability_summary):
    root = tmp_path / "registry"
    reg = Registry(root, actor="setup")
    _seed_registry(reg, tmp_path)
    reader = Registry(root, actor="reader")
    verdicts: list[bool] = []

    def verify_while_they_run() -> None:
        report = reader.verify()
        assert report.ok, report.errors
        verdicts.append(report.ok)

    done, elapsed = run_workers(str(root), tmp_path, WORKERS, OPS_PER_WORKER, verify_while_they_run)
    logged = check_log(reg, done)
    assert verdicts  # the reader did race the writers
    reliability_summary(
        f"concurrency (local): {WORKERS} processes x {OPS_PER_WORKER} ops in {elapsed:.1f} s, "
        f"{logged - 6} changes logged exactly once; {len(verdicts)} verify runs meanwhile, "
        "all ok"
    )


def test_4_processes_on_s3_lose_nothing(s3_bucket, tmp_path, reliability_summary):
    root = f"{s3_bucket}/concurrent"
    reg = Registry(root, actor="setup")
    _seed_registry(reg, tmp_path)
    done, elapsed = run_workers(root, tmp_path, 4, S3_OPS_PER_WORKER)
    logged = check_log(reg, done)
    reliability_summary(
        f"concurrency (S3, moto): 4 processes x {S3_OPS_PER_WORKER} ops in {elapsed:.1f} s, "
        f"{logged - 6} changes logged exactly once, verify ok"
    )
