"""Mirror: wall time of the `mirror` stage (MLflow import included), and with 1,000 runs stored.

Runs ``python stages/mirror.py`` as DVC does, in a temporary copy of the workspace (its
``dvc.lock``, metrics, plots, model metadata and registry, objects included; so the
workspace's registry and ``mlflow.db`` are never touched) against a SQLite store in that
copy. The store is a copy of an empty, already migrated database: creating one runs
MLflow's schema migrations (seconds), a one-time cost of a new store, timed separately.

- ``import mlflow`` alone, in a fresh interpreter (what every mirror pays first);
- the full pipeline into an empty store: every stage result logged, three model versions
  with their bundle files (target <= 3 s, wall time);
- the same again: nothing new, every result found by its tags (the usual no-op);
- one stage result changed (a new ``drift`` lock entry): one child run and a new parent;
- with 1,000 runs of other pipeline executions already in the store: the full pipeline,
  then the no-op again (target <= 3 s each).

Each figure is the fastest of ``--repeat`` runs (a new store copy each time where the
scenario needs one), with that run's CPU time (user + system, child included).

Needs the pipeline's outputs: run ``dvc repro`` first (``make bench`` does).

    .venv/bin/python benchmarks/mirror.py [--runs 1000] [--repo .]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from common import Row, print_table

from gramops.tracking.connect import connect
from gramops.tracking.pipeline import collect_stage_results
from gramops.tracking.runs import mirror_stage_results

BIN = Path(sys.executable).parent
# the pipeline's definition; what else the mirror reads comes from its deps in dvc.yaml, and
# the rest of the workspace (data, caches, venv) is not copied
DEFINITION = ("dvc.yaml", "dvc.lock", "params.yaml", "stages")
SKIPPED = shutil.ignore_patterns("*.safetensors", "data", ".lock")
TARGET_S = 3.0


def copy_workspace(repo: Path, dest: Path) -> None:
    """The files the mirror reads. Weights are not needed: bundles come from the registry."""
    (dest / ".dvc").mkdir(parents=True)
    deps = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["mirror"]["deps"]
    read = {Path(dep).parts[0] for dep in deps} - {"src"}  # the library comes from the venv
    for name in sorted({*DEFINITION, *read}):
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=SKIPPED if name != "models" else None)
        else:
            shutil.copy2(source, dest / name)


@dataclass(frozen=True)
class Timing:
    """Wall time (best of the repeats) and the CPU time of that run, child process included:
    CPU time barely moves when other processes load the machine, wall time does."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def run_mirror(workspace: Path, uri: str) -> Timing:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "python"), "stages/mirror.py"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"mirror failed in {workspace}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Timing(elapsed, cpu)


def best(timings: list[Timing]) -> Timing:
    return min(timings, key=lambda t: t.wall)


def timed_python(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / "python"), "-c", code], check=True)
    return time.perf_counter() - start


def change_stage(workspace: Path, stage: str, mark: str) -> None:
    """Give one stage a new dvc.lock entry, as re-running it with other params would."""
    lock_path = workspace / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8"))
    lock["stages"][stage]["cmd"] = f"{lock['stages'][stage]['cmd']} # {mark}"
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")


def fill_store(workspace: Path, uri: str, runs: int) -> int:
    """Log other pipeline executions (every stage result with another lock hash) until
    the store holds ``runs`` runs; returns how many it holds."""
    tracker = connect(uri)
    results = collect_stage_results(workspace)
    per_execution = len(results) + 1
    for i in range(-(-runs // per_execution)):
        variant = [dataclasses.replace(r, lock_hash=f"{i:08d}{r.lock_hash[8:]}") for r in results]
        mirror_stage_results(tracker, variant, workspace, git_commit=f"{i:040x}")
    return len(tracker.client.search_runs([tracker.experiment_id], max_results=50_000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    if (
        not (args.repo / "metrics/gate.json").is_file()
        or not (args.repo / "models/registry/objects").is_dir()
    ):
        sys.exit("the pipeline's outputs are missing: run `dvc repro` (or `make repro`) first")
    target = f"<= {TARGET_S:.0f} s"
    rows = []
    with tempfile.TemporaryDirectory(prefix="gramops-bench-mirror-", dir=args.tmp) as tmp:
        root = Path(tmp)
        template = root / "template.db"
        migrate = timed_python(
            f"from mlflow.tracking import MlflowClient; "
            f"MlflowClient(tracking_uri='sqlite:///{template}').search_experiments()"
        )
        imports = min(timed_python("import mlflow") for _ in range(args.repeat))
        rows.append(Row("import mlflow (fresh interpreter)", f"{imports:.2f} s"))
        rows.append(
            Row("new SQLite store: MLflow's schema migrations (once per store)", f"{migrate:.2f} s")
        )

        def store(source: Path, name: str) -> str:
            shutil.copyfile(source, root / f"{name}.db")
            return f"sqlite:///{root / f'{name}.db'}"

        workspace = root / "ws"
        copy_workspace(args.repo, workspace)
        full, noop, one = [], [], []
        for i in range(args.repeat):
            uri = store(template, f"empty{i}")
            full.append(run_mirror(workspace, uri))
            noop.append(run_mirror(workspace, uri))
        for i in range(args.repeat):
            change_stage(workspace, "drift", f"change {i}")
            one.append(run_mirror(workspace, uri))
        for label, timings in (
            ("full pipeline, empty store", full),
            ("no-op (all results already logged)", noop),
            ("one stage result changed", one),
        ):
            fastest = best(timings)
            rows.append(Row(label, str(fastest), target, fastest.wall <= TARGET_S))

        busy_ws = root / "busy"
        copy_workspace(args.repo, busy_ws)
        busy_template = root / "busy-template.db"
        shutil.copyfile(template, busy_template)
        held = fill_store(busy_ws, f"sqlite:///{busy_template}", args.runs)
        full, noop = [], []
        for i in range(args.repeat):
            uri = store(busy_template, f"busy{i}")
            full.append(run_mirror(busy_ws, uri))
            noop.append(run_mirror(busy_ws, uri))
        for label, timings in (
            (f"full pipeline, {held:,} runs in the store", full),
            (f"no-op, {held:,} runs in the store", noop),
        ):
            fastest = best(timings)
            rows.append(Row(label, str(fastest), target, fastest.wall <= TARGET_S))
    ok = print_table("Mirror", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
