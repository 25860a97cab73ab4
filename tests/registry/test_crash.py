"""kill -9 registry mutations at random points: the next lock holder repairs every one.

Each round picks one mutation (register, retag, alias move, rollback, promote: an alias
move and a semver binding in one record), computes the state it would produce on a scratch
copy, then runs it in a forked child and SIGKILLs the child after a random delay within
that mutation's measured duration. After the kill, lock-free reads must already show what
recovery leaves; verify (the API, and the CLI for a sample) must pass and the registry must
be exactly the state before or after that mutation, with tags and aliases equal to the
replay of the log and no tmp file left.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gramops.models.identity import canonical_sha, identity_files
from gramops.registry.auditlog import alias_stack, replay
from gramops.registry.backends import LocalMetadataFiles
from gramops.registry.s3 import S3MetadataFiles
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle
from helpers.registry import metadata_state, register_tagged

# Crash, concurrency, tamper and S3 cases: the registry's reliability tier.
pytestmark = pytest.mark.reliability

KILLS_PER_OP = 55
OPS = ("register", "retag", "alias", "rollback", "promote")
# A register hashes the bundle, reads the log and checks its objects before it journals
# anything, and its journaled commit is a single entry file (it binds no semver): its
# kills start later in its run, or too few would land mid-commit.
EARLIEST = {"register": 0.4}
CLI_EVERY = 25
ACTOR = "crash"
GRAMOPS = str(Path(sys.executable).parent / "gramops")


def _mutate(reg: Registry, op: str, arg: Any) -> None:
    if op == "register":
        reg.register(arg, family="fp32")
    elif op == "promote":
        reg.promote(arg, reason="crash test")
    elif op == "retag":
        reg.retag(arg[1], arg[0])
    elif op == "alias":
        reg.set_alias("production", arg)
    else:
        reg.rollback("production")


def _plan(reg: Registry, op: str, rng: random.Random, pool: list[Path]) -> Any:
    """The argument of the next ``op``; every planned mutation changes the registry."""
    shas = reg.shas()
    if op == "register":
        registered = set(shas)
        return next(b for b in pool if canonical_sha(b) not in registered)
    if op == "retag":
        semver, current = rng.choice(sorted(reg.tags().items()))
        return semver, rng.choice([s for s in shas if s != current])
    if op == "alias":
        current = reg.aliases().get("production")
        return rng.choice([s for s in shas if s != current])
    if op == "promote":  # an untagged entry when there is one: it writes aliases and tags
        current = reg.aliases().get("production")
        others = [s for s in shas if s != current]
        return rng.choice([s for s in others if not reg.semvers_of(s)] or others)
    while len(alias_stack(reg.history(), "production")) < 2:  # give rollback a target
        current = reg.aliases().get("production")
        reg.set_alias("production", rng.choice([s for s in shas if s != current]))
    return None


def _seed(reg: Registry, tmp_path: Path) -> None:
    """Three tagged fp32 entries: retag has semvers to move, promote a line to continue."""
    for seed in range(3):
        bundle = tiny_bundle(tmp_path / f"base{seed}", seed=seed)
        register_tagged(reg, bundle, "fp32", f"v0.1.{seed}")


def _lock_free_view(reg: Registry) -> tuple[Any, ...]:
    return reg.tags(), reg.aliases(), reg.shas(), reg.history()


def _run_killed(root: Path, op: str, arg: Any, delay: float) -> bool:
    """Run one mutation in a forked child and SIGKILL it ``delay`` s after it starts.

    Returns whether the child was still running when the kill landed.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: say "starting", mutate, exit without any cleanup
        os.close(read_end)
        try:
            reg = Registry(root, actor=ACTOR)
            reg.aliases()  # connect first (S3): the kill is aimed at the mutation itself
            os.write(write_end, b"x")
            _mutate(reg, op, arg)
        finally:
            os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)
    os.close(read_end)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def test_kill_9_at_random_points_never_leaves_a_half_applied_mutation(
    tmp_path, reliability_summary
):
    rng = random.Random(20261123)
    root = tmp_path / "registry"
    reg = Registry(root, actor=ACTOR)
    _seed(reg, tmp_path)
    pool = [tiny_bundle(tmp_path / f"pool{i}", seed=100 + i) for i in range(KILLS_PER_OP + 5)]
    outcomes: dict[str, Counter[str]] = {op: Counter() for op in OPS}
    started = time.monotonic()
    for round_ in range(KILLS_PER_OP * len(OPS)):
        op = OPS[round_ % len(OPS)]
        arg = _plan(reg, op, rng, pool)
        before = metadata_state(root)
        # the state this mutation produces, and how long it takes, on a scratch copy
        scratch = tmp_path / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(root, scratch, ignore=shutil.ignore_patterns("objects", ".lock"))
        if op == "register":
            # the child finds the objects stored (the store is shared): time it without the
            # copy, or the kills aim at a run far longer than the child's
            for name in identity_files(arg):
                reg.objects.put_file(arg / name)
        tick = time.perf_counter()
        _mutate(Registry(scratch, objects_url=reg.objects_url, actor=ACTOR), op, arg)
        duration = time.perf_counter() - tick
        after = metadata_state(scratch)
        assert after != before

        killed = _run_killed(
            root, op, arg, rng.uniform(EARLIEST.get(op, 0) * duration, 1.3 * duration)
        )
        mid_operation = (root / ".journal.json").exists()
        seen = _lock_free_view(reg)  # before anything takes the lock
        index = (root / "index.jsonl").read_bytes()
        torn = bool(index) and not index.endswith(b"\n")
        if round_ % CLI_EVERY == 0:
            cli = subprocess.run(
                [GRAMOPS, "--registry", str(root), "registry", "verify"],
                capture_output=True,
                text=True,
            )
            assert cli.returncode == 0, cli.stdout + cli.stderr
            assert ("REPAIRED" in cli.stdout) == mid_operation, cli.stdout
            report = reg.verify()
        else:
            report = reg.verify()
            assert bool(report.repaired) == mid_operation
        assert report.ok, (op, report.errors)
        assert not (root / ".journal.json").exists()
        assert not [*root.glob("*.tmp"), *root.glob("entries/*.tmp")]
        assert seen == _lock_free_view(reg), f"a reader saw the {op} that recovery undid"
        state = metadata_state(root)
        assert state in (before, after), f"{op} left a state that is neither before nor after"
        assert (reg.tags(), reg.aliases()) == replay(reg.history())
        if not killed:
            outcome = "finished before the kill"
        elif mid_operation:
            outcome = "mid-op, rolled " + ("forward" if state == after else "back")
            outcome += " (torn log line dropped)" if torn else ""
        else:
            outcome = "between (" + ("after" if state == after else "before") + " the op)"
        outcomes[op][outcome] += 1
    elapsed = time.monotonic() - started

    total = sum(sum(c.values()) for c in outcomes.values())
    mid = sum(n for c in outcomes.values() for k, n in c.items() if k.startswith("mid-op"))
    reliability_summary(
        f"crash: {total} SIGKILLs in {elapsed:.1f} s, {mid} landed mid-operation (journal "
        f"present), {total - mid} between operations or after the child finished"
    )
    for op in OPS:
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(outcomes[op].items()))
        reliability_summary(f"  {op}: {detail}")
    assert total >= 200
    # the random delays must actually hit mutations in flight, for every kind of mutation
    for op in OPS:
        assert sum(n for k, n in outcomes[op].items() if k.startswith("mid-op")) >= 5, outcomes


S3_KILLS_PER_OP = 4


def _s3_state(meta: S3MetadataFiles) -> dict[str, bytes | None]:
    names = [f"entries/{n}" for n in meta.names("entries")]
    return {name: meta.read(name) for name in ("index.jsonl", "tags.json", "aliases.json", *names)}


def test_kill_9_on_s3_is_recovered_and_the_dead_holders_lock_broken(
    s3_bucket, tmp_path, monkeypatch, reliability_summary
):
    """On S3 no kernel releases a dead holder's lock: the next mutation breaks it at expiry."""
    monkeypatch.setenv("GRAMOPS_REGISTRY_LOCK_TTL", "0.5")
    root = f"{s3_bucket}/crash"
    rng = random.Random(7)
    reg = Registry(root, actor=ACTOR)
    meta = S3MetadataFiles(root)
    _seed(reg, tmp_path)
    pool = [tiny_bundle(tmp_path / f"pool{i}", seed=100 + i) for i in range(S3_KILLS_PER_OP + 2)]
    durations: dict[str, float] = {}
    for op in OPS:  # how long each mutation takes here, to aim the kills inside it
        arg = _plan(reg, op, rng, pool)
        tick = time.perf_counter()
        _mutate(reg, op, arg)
        durations[op] = time.perf_counter() - tick
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for round_ in range(S3_KILLS_PER_OP * len(OPS)):
        op = OPS[round_ % len(OPS)]
        arg = _plan(reg, op, rng, pool)
        before = _s3_state(meta)
        _run_killed(root, op, arg, rng.uniform(0, 1.3 * durations[op]))
        mid_operation = meta.exists(".journal.json")
        lock_left = meta.exists(".lock")
        with reg._locked():  # the next lock holder: waits out the TTL, breaks, recovers
            pass
        assert bool(reg.recoveries) == mid_operation
        reg.recoveries.clear()
        report = reg.verify()
        assert report.ok and not report.repaired, (op, report.errors)
        records = reg.history()
        grown = len(records) - len((before["index.jsonl"] or b"").splitlines())
        assert grown in (0, 1)
        if grown == 0:
            after = _s3_state(meta)
            assert after == before, f"{op} was half-applied"
        else:
            assert records[-1]["op"] == op and records[-1]["actor"] == ACTOR
        assert (reg.tags(), reg.aliases()) == replay(records)
        outcomes[
            ("mid-op" if mid_operation else "between") + (", lock left behind" if lock_left else "")
        ] += 1
    elapsed = time.monotonic() - started
    # every abandoned lock was broken by a later mutation: the registry is usable
    current = reg.aliases().get("production")
    reg.set_alias("production", next(s for s in reg.shas() if s != current))
    assert not meta.exists(".lock")
    reliability_summary(
        f"crash on S3: {sum(outcomes.values())} SIGKILLs in {elapsed:.1f} s: "
        + ", ".join(f"{k}: {n}" for k, n in sorted(outcomes.items()))
    )
    assert sum(n for k, n in outcomes.items() if "lock left" in k) >= 3, outcomes


def _run_dying_at_step(root: Path, op: str, arg: Any, step: int, torn: bool) -> int:
    """Run one mutation in a forked child that dies (``os._exit``) before its ``step``-th
    metadata write; with ``torn``, that write is a log append cut in half. Exit code 0 means
    the mutation had fewer steps and finished."""
    pid = os.fork()
    if pid == 0:
        try:
            steps = iter(range(step + 1))

            def dying(method: Any) -> Any:
                def wrapper(self: Any, name: str, *args: Any) -> Any:
                    if next(steps) == step:
                        if torn and method is LocalMetadataFiles.append_jsonl:
                            with open(self.path(name), "ab") as fh:
                                fh.write(b'{"seq":99,"op":"torn","ti')
                        os._exit(9)
                    return method(self, name, *args)

                return wrapper

            for attr in ("write", "delete", "append_jsonl", "truncate"):
                setattr(LocalMetadataFiles, attr, dying(getattr(LocalMetadataFiles, attr)))
            _mutate(Registry(root, actor=ACTOR), op, arg)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_kill_before_every_single_write_of_every_mutation_is_recovered(
    tmp_path, reliability_summary
):
    """The random kills above, made exhaustive: every write boundary of every mutation."""
    rng = random.Random(5)
    root = tmp_path / "registry"
    reg = Registry(root, actor=ACTOR)
    _seed(reg, tmp_path)
    pool = [tiny_bundle(tmp_path / f"pool{i}", seed=100 + i) for i in range(30)]
    kills: Counter[str] = Counter()
    for op in OPS:
        for torn in (False, True):
            step = 0
            while True:
                arg = _plan(reg, op, rng, pool)
                before = metadata_state(root)
                code = _run_dying_at_step(root, op, arg, step, torn)
                seen = _lock_free_view(reg)
                report = reg.verify()
                assert report.ok, (op, step, report.errors)
                assert seen == _lock_free_view(reg), f"{op} killed before write {step} was shown"
                assert (reg.tags(), reg.aliases()) == replay(reg.history())
                if code == 0:
                    break
                assert code == 9
                state = metadata_state(root)
                grown = len(state["index.jsonl"]) - len(before["index.jsonl"])
                assert grown in (0, 1), (op, step)
                if grown == 0:
                    assert state == before, f"{op} killed before write {step} was half-applied"
                else:
                    assert state["index.jsonl"][-1]["op"] == op
                kills[op] += 1
                step += 1
    reliability_summary(
        "crash at every write boundary (and mid-append): "
        + ", ".join(f"{op}: {n} kills" for op, n in kills.items())
    )
    assert all(kills[op] >= 4 for op in OPS), kills
