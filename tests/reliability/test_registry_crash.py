"""kill -9 registry mutations at random points: the next lock holder repairs every one.

Each round picks one mutation (register, retag, alias move, rollback), computes the state
it would produce on a scratch copy, then runs it in a forked child and SIGKILLs the child
after a random delay within that mutation's measured duration. After the kill, verify (the
API, and the CLI for a sample) must pass and the registry must be exactly the state before
or after that mutation, with tags and aliases equal to the replay of the log.
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

from gramops.identity import canonical_sha
from gramops.registry import Registry, _alias_stack, _replay

from .conftest import metadata_state, tiny_bundle

KILLS_PER_OP = 55
OPS = ("register", "retag", "alias", "rollback")
CLI_EVERY = 25
ACTOR = "crash"
GRAMOPS = str(Path(sys.executable).parent / "gramops")


def _mutate(reg: Registry, op: str, arg: Any) -> None:
    if op == "register":
        reg.register(arg, family="fp32", seed_semver="v0.1.0")
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
    while len(_alias_stack(reg.history(), "production")) < 2:  # give rollback a target
        current = reg.aliases().get("production")
        reg.set_alias("production", rng.choice([s for s in shas if s != current]))
    return None


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
    for seed in range(3):
        reg.register(
            tiny_bundle(tmp_path / f"base{seed}", seed=seed), family="fp32", seed_semver="v0.1.0"
        )
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
        tick = time.perf_counter()
        _mutate(Registry(scratch, objects_url=reg.objects_url, actor=ACTOR), op, arg)
        duration = time.perf_counter() - tick
        after = metadata_state(scratch)
        assert after != before

        killed = _run_killed(root, op, arg, rng.uniform(0, 1.3 * duration))
        mid_operation = (root / ".journal.json").exists()
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
        state = metadata_state(root)
        assert state in (before, after), f"{op} left a state that is neither before nor after"
        assert (reg.tags(), reg.aliases()) == _replay(reg.history())
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
