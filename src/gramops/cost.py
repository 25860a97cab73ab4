"""Inference cost and cost per unit of quality (CpQU) for registry entries.

Cost is what a model costs *here*: CPU seconds per 1,000 tokens on this machine, priced at
a configured dollar rate per CPU hour. It is a measurement, noisy and machine-dependent,
so it is reported next to a model and never enters its canonical identity.

CpQU divides the price of 1,000 tokens by the pass rate: a model that is half as often
right costs twice as much per *useful* answer. A pass rate of 0 gives an infinite CpQU
(no amount of money buys a correct answer); JSON has no infinity, so it is written as null.

CPU time (``time.process_time``) rather than wall time is measured so other processes on
a shared machine do not inflate a model's cost; one warm-up call is discarded because it
pays for lazy imports, allocator growth and cold caches that steady-state serving does not.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gramops.errors import GramopsError

SHORT = 12
_SIGNIFICANT = 6
NOT_MEASURED = "not measured (bytes not in this object store)"


class CostError(GramopsError, ValueError):
    """Cost inputs that cannot give a meaningful number."""


def measure_cpu_seconds(
    fn: Callable[[], object],
    repeats: int,
    *,
    clock: Callable[[], float] = time.process_time,
) -> list[float]:
    """CPU seconds of each of ``repeats`` calls of ``fn``, after one untimed warm-up call.

    ``clock`` is injectable so tests can check exactly which calls are timed.
    """
    if repeats < 1:
        raise CostError(f"repeats must be at least 1 (cost.repeats), got {repeats}")
    fn()  # warm-up: cold caches and lazy initialisation are not steady-state cost
    timings = []
    for _ in range(repeats):
        start = clock()
        fn()
        timings.append(clock() - start)
    return timings


def median(values: Sequence[float]) -> float:
    """Median of repeated timings: robust to one run hit by a scheduler hiccup or GC."""
    if not values:
        raise CostError("no timings to take the median of: measure at least one run")
    return float(statistics.median(values))


def cpu_per_1k_tokens(seconds: float, tokens: int) -> float:
    """CPU seconds per 1,000 tokens, so models are compared per unit of work, not per run."""
    if tokens <= 0:
        raise CostError(f"cannot price per token with {tokens} tokens: the evaluation set is empty")
    if seconds < 0:
        raise CostError(f"CPU seconds cannot be negative, got {seconds}")
    return seconds * 1000.0 / tokens


def usd_per_1k_tokens(cpu_s_per_1k_tokens: float, usd_per_cpu_hour: float) -> float:
    """Price of 1,000 tokens at ``usd_per_cpu_hour`` (``cost.usd_per_cpu_hour`` in params)."""
    return cpu_s_per_1k_tokens / 3600.0 * usd_per_cpu_hour


def cpqu(cost_per_1k_usd: float, pass_rate: float) -> float:
    """Cost per unit of quality: cost of 1,000 tokens / pass rate.

    A pass rate of 0 returns ``math.inf``: no spending buys a correct answer from that
    model. Callers writing JSON turn it into null (see :meth:`CostRow.to_dict`).
    """
    if not 0.0 <= pass_rate <= 1.0:
        raise CostError(f"pass rate must be within [0, 1], got {pass_rate}")
    if cost_per_1k_usd < 0:
        raise CostError(f"cost per 1k tokens cannot be negative, got {cost_per_1k_usd}")
    if pass_rate == 0.0:
        return math.inf
    return cost_per_1k_usd / pass_rate


def _json_number(value: float | None) -> float | None:
    """Round to significant digits (costs are ~1e-7 dollars: fixed decimals would zero them)
    and map infinity to None, which JSON can carry."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{_SIGNIFICANT}g}")


@dataclass(frozen=True)
class CostRow:
    """Cost and quality of one registry entry; the cost fields are None when not measured."""

    semver: str
    sha: str
    family: str
    size_bytes: int
    pass_rate_reference: float
    pass_rate_traffic: float | None
    cpu_s_per_1k_tokens: float | None
    usd_per_1k_tokens: float | None
    cpqu: float | None
    cpqu_traffic: float | None
    measured: bool

    @classmethod
    def from_measurement(
        cls,
        semver: str,
        sha: str,
        entry: Mapping[str, Any],
        pass_rate_reference: float,
        pass_rate_traffic: float,
        cpu_s_per_1k: float,
        usd_per_cpu_hour: float,
    ) -> CostRow:
        """A row for an entry whose bytes were available and whose cost was timed."""
        usd = usd_per_1k_tokens(cpu_s_per_1k, usd_per_cpu_hour)
        return cls(
            semver=semver,
            sha=sha[:SHORT],
            family=entry["family"],
            size_bytes=int(entry["size_bytes"]),
            pass_rate_reference=pass_rate_reference,
            pass_rate_traffic=pass_rate_traffic,
            cpu_s_per_1k_tokens=cpu_s_per_1k,
            usd_per_1k_tokens=usd,
            cpqu=cpqu(usd, pass_rate_reference),
            cpqu_traffic=cpqu(usd, pass_rate_traffic),
            measured=True,
        )

    @classmethod
    def unmeasured(
        cls, semver: str, sha: str, entry: Mapping[str, Any], pass_rate_reference: float
    ) -> CostRow:
        """A row for an entry registered elsewhere: its quality is recorded, its cost is not
        (the model cannot be run without its bytes)."""
        return cls(
            semver=semver,
            sha=sha[:SHORT],
            family=entry["family"],
            size_bytes=int(entry["size_bytes"]),
            pass_rate_reference=pass_rate_reference,
            pass_rate_traffic=None,
            cpu_s_per_1k_tokens=None,
            usd_per_1k_tokens=None,
            cpqu=None,
            cpqu_traffic=None,
            measured=False,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: floats to 6 significant digits, an infinite CpQU as null."""
        return {
            key: _json_number(value) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }


def _size(size_bytes: int) -> str:
    """Decimal units, as object stores and disks report sizes."""
    if size_bytes < 1000:
        return f"{size_bytes} B"
    value = size_bytes / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _cpqu_cell(value: float | None) -> str:
    if value is None:
        return "—"
    return "∞ (pass rate 0)" if math.isinf(value) else f"{value:.3g}"


def costs_markdown(rows: Sequence[CostRow], usd_per_cpu_hour: float) -> str:
    """``metrics/COSTS.md``: one table row per registry entry, measured or not."""
    lines = [
        "# Cost per unit of quality",
        "",
        "CpQU (cost per unit of quality) is the price of 1,000 tokens divided by the pass "
        "rate on the reference test split, so a model that is right half as often costs "
        "twice as much per useful answer; costs are CPU time measured on this machine "
        f"(priced at ${usd_per_cpu_hour:g} per CPU hour) and are reports, never part of a "
        "model's identity.",
        "",
        "| Version | SHA | Family | Size | Pass rate (reference) | Pass rate (traffic) "
        "| CPU s / 1k tokens | $ / 1k tokens | CpQU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.measured:
            cpu, usd = (
                _number(row.cpu_s_per_1k_tokens, ".4g"),
                _number(row.usd_per_1k_tokens, ".3g"),
            )
        else:
            cpu, usd = NOT_MEASURED, "—"
        lines.append(
            f"| {row.semver} | `{row.sha[:SHORT]}` | {row.family} | {_size(row.size_bytes)} "
            f"| {_number(row.pass_rate_reference, '.4f')} "
            f"| {_number(row.pass_rate_traffic, '.4f')} "
            f"| {cpu} | {usd} | {_cpqu_cell(row.cpqu)} |"
        )
    return "\n".join(lines) + "\n"


def scatter_rows(rows: Sequence[CostRow]) -> list[dict[str, Any]]:
    """Points for the cost-vs-quality ``dvc plots`` scatter; unmeasured entries have no
    x coordinate, so they are left out rather than drawn at zero cost."""
    return [
        {
            "label": f"{row.family} {row.semver}",
            "usd_per_1k_tokens": _json_number(row.usd_per_1k_tokens),
            "pass_rate": _json_number(row.pass_rate_reference),
        }
        for row in rows
        if row.measured and row.usd_per_1k_tokens is not None
    ]
