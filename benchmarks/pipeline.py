"""Pipeline: a shift variant against a cold pipeline and against DVC's own floor; no-op repro.

All in one run, in a fresh clone of the committed repository (``git clone`` of ``--rev``
into a temporary directory, removed at the end), with the project's venv and the clone's
own ``src/`` (package installation is not timed; the corpus download is, in the first run):

- first ``dvc repro`` in the fresh clone: every stage from the corpus download on
  (target <= 60 s);
- no-op ``dvc repro`` against ``dvc status`` on the reproduced clone: both only check what
  changed, so the ratio is the pipeline's own overhead (target <= 1.3x). The two commands
  alternate, ``--repeat`` times each, and medians are compared;
- cold pipeline, ``dvc repro -f``: every stage runs, nothing restored;
- ``dvc exp run -S shift.intensity=0.5``: a shifted-traffic variant, which should re-run
  only the stages whose inputs a shift changes (target <= 35% of the cold pipeline);
- DVC's floor: the same ``dvc exp run`` on a pipeline generated from the clone's stages
  (same names, dependencies, params and outputs; ``evaluate@fp32`` becomes
  ``evaluate-fp32``) whose commands only write a digest of their inputs to their outputs,
  in its own temporary git repository. What is left is DVC's own work: hashing, locking,
  the experiment commit, one interpreter per stage (target: the variant <= 3x the floor).

The last three run ``--rounds`` times, interleaved (cold, variant, floor; the variants at
intensities 0.5, 0.4, 0.3, ...), and medians are compared: machine load moves each figure
by tens of percent between minutes, a round's three runs see about the same load.

    .venv/bin/python benchmarks/pipeline.py [--repeat 5] [--rounds 3] [--repo .] [--rev HEAD]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row, print_table

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
VARIANT = ["exp", "run", "-S"]
INTENSITIES = (0.5, 0.4, 0.3, 0.2, 0.1)

# The floor's one command: every output gets the sha256 of the stage's inputs (its
# dependencies' bytes and params.yaml); directories get it in a file. JSON stays JSON so
# DVC can read the metrics.
FLOOR_STAGE = '''"""Write a digest of this stage's inputs to each of its outputs."""
import hashlib, json, sys
from pathlib import Path

stage = json.loads(Path("floor_spec.json").read_text())[sys.argv[1]]
digest = hashlib.sha256(Path("params.yaml").read_bytes())
for dep in stage["deps"]:
    path = Path(dep)
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            digest.update(file.read_bytes())
text = json.dumps({"inputs": digest.hexdigest()})
for out, is_dir in stage["outs"].items():
    path = Path(out) / "digest.json" if is_dir else Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
'''


def env(clone: Path | None = None) -> dict[str, str]:
    """Stages call ``python``: the venv's, first on PATH, importing the clone's ``src/`` (the
    venv's editable install points at another checkout). The clone's own mlflow.db is the
    store (no inherited MLFLOW_TRACKING_URI); `dvc exp run` commits, so git needs a user."""
    values = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    values["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    if clone is not None:
        values["PYTHONPATH"] = str(clone / "src")
    for role in ("AUTHOR", "COMMITTER"):
        values.setdefault(f"GIT_{role}_NAME", "gramops bench")
        values.setdefault(f"GIT_{role}_EMAIL", "bench@gramops.invalid")
    return values


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time of a command and its output; a failure stops the benchmark with it."""
    start = time.perf_counter()
    # one stream, so each stage's log lines stay next to DVC's "Running stage" line
    result = subprocess.run(
        args, cwd=cwd, env=env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-6000:]}")
    return elapsed, result.stdout


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, stdout=subprocess.DEVNULL)


def _times(seconds: list[float]) -> str:
    """The median, and every round's time (they move with the machine's load)."""
    each = ", ".join(f"{s:.1f}" for s in seconds)
    return f"{statistics.median(seconds):.1f} s (rounds: {each})"


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def stage_seconds(output: str) -> str:
    """Each stage's own time as it logs it (``done in``), slowest first: where a run goes."""
    found = re.findall(r"Running stage '([^']+)'.*?done in ([0-9.]+) s", output, flags=re.S)
    ranked = sorted(found, key=lambda pair: -float(pair[1]))
    return ", ".join(f"{name} {seconds} s" for name, seconds in ranked)


def floor_spec(clone: Path) -> tuple[dict, dict]:
    """The clone's stages as the floor needs them: ``(dvc.yaml stages, floor_spec.json)``."""
    from dvc.dependency import ParamsDependency
    from dvc.repo import Repo

    stages, spec = {}, {}
    with Repo(str(clone)) as repo:
        for stage in repo.index.stages:
            name = stage.addressing.replace("@", "-")
            deps = [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)]
            params = [p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params]
            outs: dict[str, list] = {"outs": [], "metrics": [], "plots": []}
            for out in stage.outs:
                kind = "metrics" if out.metric else "plots" if out.plot else "outs"
                flags = {} if out.use_cache else {out.def_path: {"cache": False}}
                outs[kind].append(flags or out.def_path)
            stages[name] = {
                "cmd": f"python floor_stage.py {name}",
                "deps": deps,
                **({"params": params} if params else {}),
                **{kind: paths for kind, paths in outs.items() if paths},
            }
            spec[name] = {
                "deps": deps,
                "outs": {o.def_path: (clone / o.def_path).is_dir() for o in stage.outs},
            }
    return stages, spec


def build_floor(clone: Path, floor: Path) -> None:
    """A git + DVC repository with the floor pipeline, reproduced and committed; its source
    dependencies (what no stage writes) copied from the clone."""
    stages, spec = floor_spec(clone)
    produced = {out for s in spec.values() for out in s["outs"]}
    floor.mkdir()
    for dep in sorted({d for s in spec.values() for d in s["deps"]} - produced):
        source, target = clone / dep, floor / dep
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)
        else:
            target.write_text("placeholder\n")
    shutil.copy2(clone / "params.yaml", floor / "params.yaml")
    (floor / "floor_stage.py").write_text(FLOOR_STAGE)
    (floor / "floor_spec.json").write_text(json.dumps(spec, indent=1))
    (floor / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=1))
    git(floor, "init", "-q")
    timed([DVC, "init", "-q"], floor)
    timed([DVC, "repro"], floor)
    git(floor, "add", "-A")
    git(floor, "commit", "-qm", "floor pipeline")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--rev", default="HEAD", help="the commit to clone")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        choices=range(1, len(INTENSITIES) + 1),
        help="cold / variant / floor rounds, interleaved; medians are compared",
    )
    parser.add_argument("--tmp", default=None, help="where the temporary clone goes")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gramops-bench-pipeline-", dir=args.tmp) as tmp:
        clone = Path(tmp) / "gramops"
        git(Path(tmp), "clone", "--quiet", str(args.repo.resolve()), str(clone))
        git(clone, "checkout", "--quiet", "--detach", args.rev)

        first, output = timed([DVC, "repro"], clone)
        ran = stages_run(output)
        rows.append(
            Row(
                f"fresh clone `dvc repro` ({len(ran)} stages)",
                f"{first:.1f} s",
                "<= 60 s",
                first <= 60,
            )
        )

        status_times, repro_times = [], []
        for _ in range(args.repeat):
            elapsed, output = timed([DVC, "status"], clone)
            status_times.append(elapsed)
            elapsed, output = timed([DVC, "repro"], clone)
            if stages_run(output):
                sys.exit(f"a second `dvc repro` re-ran {stages_run(output)}; not a no-op")
            repro_times.append(elapsed)
        status, noop = statistics.median(status_times), statistics.median(repro_times)
        rows.append(Row("`dvc status` (median)", f"{status:.2f} s"))
        rows.append(Row("no-op `dvc repro` (median)", f"{noop:.2f} s"))
        rows.append(
            Row("no-op repro / status", f"{noop / status:.2f}x", "<= 1.3x", noop / status <= 1.3)
        )

        # the variant starts from a committed, reproduced workspace, as a user's would
        git(clone, "add", "-A")
        git(clone, "commit", "--quiet", "--allow-empty", "-m", "reproduced")
        floor = Path(tmp) / "floor"
        build_floor(clone, floor)

        # Rounds interleave the three runs so a change in machine load hits all of them;
        # each round's variant is a new intensity, so nothing is restored from a cache.
        colds, shifts, floors = [], [], []
        for round_, intensity in enumerate(INTENSITIES[: args.rounds]):
            cold, cold_output = timed([DVC, "repro", "-f"], clone)
            variant = [*VARIANT, f"shift.intensity={intensity}"]
            shift, output = timed([DVC, *variant], clone)
            floor_time, floor_output = timed([DVC, *variant], floor)
            colds.append(cold)
            shifts.append(shift)
            floors.append(floor_time)
            if round_ == 0:
                round_one = (cold_output, output, stages_run(output), stages_run(floor_output))
        cold_output, output, ran, floor_ran = round_one
        cold, shift = statistics.median(colds), statistics.median(shifts)
        floor_time = statistics.median(floors)
        rows.append(
            Row(f"cold `dvc repro -f` ({len(stages_run(cold_output))} stages)", _times(colds))
        )
        rows.append(Row("  its stages' own time (round 1)", stage_seconds(cold_output)))
        rows.append(
            Row(
                f"`dvc exp run -S shift.intensity=0.5, 0.4, ...` ({', '.join(ran)})", _times(shifts)
            )
        )
        rows.append(Row("  its stages' own time (round 1)", stage_seconds(output)))
        rows.append(Row(f"the floor's same runs ({len(floor_ran)} stages)", _times(floors)))
        rows.append(
            Row(
                "shift variant / cold (medians)",
                f"{shift / cold:.0%}",
                "<= 35%",
                shift / cold <= 0.35,
            )
        )
        rows.append(
            Row(
                "shift variant / floor (medians)",
                f"{shift / floor_time:.2f}x",
                "<= 3x",
                shift / floor_time <= 3,
            )
        )
    ok = print_table("Pipeline", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
