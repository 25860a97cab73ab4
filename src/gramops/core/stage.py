"""What every stage script shares: params loading, logging, one BLAS thread, clean errors.

Stage scripts stay thin: ``main()`` reads its params through :func:`load_params`, calls
library functions and writes its declared outputs; :func:`run` wraps it. A stage script
imports :mod:`gramops.core.stage_guard` first, so a Ctrl-C during its imports is quiet too.

Run by DVC (which names the stage in ``DVC_STAGE``), a stage that succeeds appends when it
started and ended to :data:`STAGE_TIMES`, for the MLflow mirror to give each stage's run its
real times. The file is deliberately no DVC output and gitignored: a time in an output would
make ``dvc.lock`` differ on every run. The mirror clears it once it has logged the results.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from gramops.core.errors import GramopsError
from gramops.core.exits import EXIT_INTERRUPTED
from gramops.core.kernels import check_cpu_kernels
from gramops.core.params import read_params_file, validate_all

PARAMS_FILE = Path("params.yaml")
STAGE_TIMES = Path("logs/stage_times.jsonl")
log = logging.getLogger("gramops.stage")


def load_params(*sections: str, path: Path = PARAMS_FILE) -> tuple[Any, ...]:
    """Validate the whole params file (one clear error before any work), return sections."""
    validated = validate_all(read_params_file(path))
    return tuple(validated[name] for name in sections)


def run(main: Callable[[], None]) -> None:
    """Run a stage: INFO logging, one BLAS thread on pinned kernels (the same sums anywhere)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    started = time.perf_counter()
    try:
        check_cpu_kernels()
        with threadpool_limits(limits=1):
            main()
    except GramopsError as exc:
        log.error("%s", exc)
        sys.exit(2)
    except KeyboardInterrupt:  # a script without stage_guard: still one line, still 130
        sys.stderr.write("stage interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    log.info("done in %.1f s", time.perf_counter() - started)
    stage = os.environ.get("DVC_STAGE")
    if stage:
        ended = time.time()
        record_stage_time(stage, process_start(ended), ended)


def process_start(now: float) -> float:
    """When this process started (epoch seconds), so a stage's time includes its imports.

    Linux's ``/proc`` gives it to the clock tick; elsewhere, ``now`` (the caller's fallback).
    """
    try:
        fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return now
    return time.time() - (uptime - started_after_boot)


def record_stage_time(stage: str, started: float, ended: float, path: Path = STAGE_TIMES) -> None:
    """Append one stage execution (epoch milliseconds) to the stage times file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"stage": stage, "start_ms": int(started * 1000), "end_ms": int(ended * 1000)}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")


def read_stage_times(path: Path = STAGE_TIMES) -> dict[str, tuple[int, int]]:
    """Each stage's latest recorded (start, end) in epoch ms; unreadable lines are skipped
    (a line cut short by a kill is no reason to lose the others)."""
    times: dict[str, tuple[int, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return times
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if _valid_row(row):
            times[row["stage"]] = (row["start_ms"], row["end_ms"])
    return times


def _valid_row(row: Any) -> bool:
    return (
        isinstance(row, Mapping)
        and isinstance(row.get("stage"), str)
        and all(type(row.get(k)) is int for k in ("start_ms", "end_ms"))
        and 0 < row["start_ms"] <= row["end_ms"]
    )
