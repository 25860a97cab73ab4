"""Pipeline: cold `dvc repro` in a fresh clone, no-op `dvc repro` vs `dvc status`, a shift variant.

All three in one fresh clone of the committed repository (``git clone`` of HEAD into a
temporary directory, removed at the end), with the project's venv (package installation is
not timed; the corpus download is, it is part of a cold run):

- cold ``dvc repro``: every stage from the corpus download on (target <= 60 s);
- no-op ``dvc repro`` against ``dvc status`` on the same, fully reproduced repo: both
  only check what changed, so the ratio is the pipeline's own overhead (target <= 1.3x).
  The two commands alternate, ``--repeat`` times each, and medians are compared;
- ``dvc exp run -S shift.intensity=0.5``: a shifted-traffic variant, which re-runs only
  shift and what follows it (target <= 20% of the cold run).

    .venv/bin/python benchmarks/pipeline.py [--repeat 5] [--repo .]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Row, print_table

BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")


def env() -> dict[str, str]:
    """Stages call ``python``: the venv's, first on PATH. The clone's own mlflow.db is the
    store (no inherited MLFLOW_TRACKING_URI); `dvc exp run` commits, so git needs a user."""
    values = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    values["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    for role in ("AUTHOR", "COMMITTER"):
        values.setdefault(f"GIT_{role}_NAME", "gramops bench")
        values.setdefault(f"GIT_{role}_EMAIL", "bench@gramops.invalid")
    return values


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time of a command and its output; a failure stops the benchmark with it."""
    start = time.perf_counter()
    # one stream, so each stage's log lines stay next to DVC's "Running stage" line
    result = subprocess.run(
        args, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-6000:]}")
    return elapsed, result.stdout


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def stage_seconds(output: str) -> str:
    """Each stage's own time as it logs it (``done in``), slowest first: where a run goes."""
    found = re.findall(r"Running stage '([^']+)'.*?done in ([0-9.]+) s", output, flags=re.S)
    ranked = sorted(found, key=lambda pair: -float(pair[1]))
    return ", ".join(f"{name} {seconds} s" for name, seconds in ranked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--tmp", default=None, help="where the temporary clone goes")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gramops-bench-pipeline-", dir=args.tmp) as tmp:
        clone = Path(tmp) / "gramops"
        subprocess.run(["git", "clone", "--quiet", str(args.repo), str(clone)], check=True)

        cold, output = timed([DVC, "repro"], clone)
        ran = stages_run(output)
        rows.append(
            Row(f"cold `dvc repro` ({len(ran)} stages)", f"{cold:.1f} s", "<= 60 s", cold <= 60)
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

        shift, output = timed([DVC, "exp", "run", "-S", "shift.intensity=0.5"], clone)
        ran = stages_run(output)
        rows.append(
            Row(f"`dvc exp run -S shift.intensity=0.5` ({', '.join(ran)})", f"{shift:.1f} s")
        )
        rows.append(
            Row("shift variant / cold", f"{shift / cold:.0%}", "<= 20%", shift / cold <= 0.2)
        )
        rows.append(
            Row("  its stages' own time (interpreter start not included)", stage_seconds(output))
        )
    ok = print_table("Pipeline", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
