"""Shared helpers of the benchmarks: timing, the machine line and the PASS/FAIL table.

Each benchmark is a script (``python benchmarks/<name>.py``) that prints one table of
measured figures; ratios are what the targets are about, absolute times are indicative.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# each family's weights file in a pipeline workspace's models/<family>/
WEIGHTS = {"fp32": "model.safetensors", "int8": "model.safetensors", "lora": "adapter.safetensors"}


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time of ``repeat`` calls, and the last result: the least disturbed run
    on a machine other processes share."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def median_of(repeat: int, fn: Callable[[], Any]) -> float:
    """Median wall time of ``repeat`` calls (for figures where the typical run matters)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> str:
    """What the figures were measured on, including how busy the machine was."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}, "
        f"load average {load}"
    )


@dataclass(frozen=True)
class Row:
    """One measured figure; ``ok`` is None when the figure has no target."""

    what: str
    measured: str
    target: str = ""
    ok: bool | None = None


def print_table(title: str, rows: list[Row]) -> bool:
    """Print a markdown table of the rows; True when every row with a target passed."""
    print(f"\n## {title}\n\n{machine()}\n")
    header = ("measurement", "measured", "target", "result")
    lines = [
        (r.what, r.measured, r.target, "" if r.ok is None else ("PASS" if r.ok else "FAIL"))
        for r in rows
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        print(fmt(line))
    return all(r.ok is not False for r in rows)


def pin_one_core() -> None:
    """Run on one core, as the stages do, so timings compare like with like."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def verb_test_records(repo: Path) -> list[dict[str, Any]]:
    """The reference test split's verb records of a reproduced workspace; exits with what
    to run when the workspace has no models or corpus yet."""
    from gramops.core.fileio import read_jsonl

    models = repo / "models"
    test_split = repo / "data/processed/test.jsonl"
    missing = [
        str(p)
        for p in (test_split, *(models / f / w for f, w in WEIGHTS.items()))
        if not p.is_file()
    ]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run `dvc repro` (or `make repro`) first")
    return [r for r in read_jsonl(test_split) if r["domain"] == "verb"]
