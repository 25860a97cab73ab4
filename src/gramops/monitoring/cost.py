"""Inference cost and cost per unit of quality (CpQU) for registry entries.

The cost that counts is *counted*, not timed: the work one inference call does on the
reference workload (the verb-domain test split, featurized with the model's own feature
settings) is counted from the model's tensor shapes and the workload's sparsity, and
converted to CPU microseconds with per-machine calibration constants
(``cost.calibration`` in params, fitted once per machine by
``benchmarks/cost_calibration.py``). Two models of the same architecture therefore cost
the same, bit for bit, in every run: timing noise cannot flap the gate's cost rule.
CPU time is still measured and logged beside the counted figure, never used by a rule.

Two stages share this: ``cost`` counts (and measures) each costed entry once per model and
workload (:class:`EntryCost`, ``metrics/cost.json``); nothing a traffic shift changes is
among its inputs. ``cpqu`` only combines those costs with each entry's quality
(:class:`CostRow`, ``metrics/cpqu.json``), so a shift variant never re-counts or re-times.

What is counted is what the numpy implementation in :mod:`gramops.models.mlp` spends its time
on (the calibration script prints counted against measured per model, so a change of
implementation that this model misses shows there):

- multiply-accumulates: the sparse first layer (one MAC per active feature and hidden
  unit), the dense output layer, and a LoRA adapter's low-rank products;
- bytes of weights read per call: ``X @ W1.T`` reads the whole of ``W1`` (scipy makes the
  transposed operand contiguous), as does a LoRA adapter's ``A1``; the INT8 model reads
  only the codes of the feature columns the batch activates;
- active features (featurization and sparse bookkeeping, shared by every family);
- sort comparisons: INT8 re-indexes the batch onto its active columns with a sort
  (``np.unique``), counted as ``n * bit_length(n)`` comparisons over the active features;
- a fixed overhead per call.

CpQU divides the price of 1B tokens by the pass rate: a model that is half as often right
costs twice as much per *useful* answer. A pass rate of 0 gives an infinite CpQU (no
amount of money buys a correct answer); JSON has no infinity, so it is written as null.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from gramops.core.errors import GramopsError
from gramops.core.params import CostCalibration
from gramops.core.vocab import short

_SIGNIFICANT = 6
# Only the models this pipeline run built and those holding production or staging are
# costed (their bytes are always here), so what cpqu.json says never depends on which
# other objects happen to be in this machine's store.
NOT_COSTED = "not costed in this run"
UNTAGGED = "untagged"

TensorShapes = Mapping[str, tuple[np.dtype, tuple[int, ...]]]
"""Tensor name to (dtype, shape): what :func:`gramops.models.bundle.weights_spec` returns."""


class CostError(GramopsError, ValueError):
    """Cost inputs that cannot give a meaningful number."""


# -- counting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One inference call over a featurized batch: what the work depends on besides shapes."""

    requests: int
    tokens: int
    active_features: int
    active_columns: int


def workload(X: sp.spmatrix, tokens: int) -> Workload:
    """The workload of one call on ``X`` (one row per request) covering ``tokens`` tokens."""
    if tokens <= 0 or X.shape[0] == 0:
        raise CostError(
            f"cannot count cost per token over {X.shape[0]} requests and {tokens} tokens: "
            "the evaluation set is empty"
        )
    X = sp.csr_matrix(X)
    X.sum_duplicates()
    return Workload(
        requests=int(X.shape[0]),
        tokens=int(tokens),
        active_features=int(X.nnz),
        active_columns=int(np.unique(X.indices).size),
    )


@dataclass(frozen=True)
class Work:
    """Counted work of one inference call; integers, so equal architectures are equal."""

    macs: int
    weight_bytes: int
    active_features: int
    sort_compares: int
    calls: int


def tensor_shapes(tensors: Mapping[str, np.ndarray]) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """The (dtype, shape) of each tensor: all the counting needs of a model's weights."""
    return {
        name: (np.dtype(t.dtype), tuple(int(d) for d in t.shape)) for name, t in tensors.items()
    }


def _shape(tensors: TensorShapes, name: str, family: str) -> tuple[int, ...]:
    try:
        return tensors[name][1]
    except KeyError:
        raise CostError(
            f"{family} model has no tensor {name!r} (has {', '.join(sorted(tensors))}); "
            "cannot count its work"
        ) from None


def _bytes(tensors: TensorShapes, *names: str) -> int:
    return sum(
        int(np.prod(tensors[n][1], dtype=np.int64)) * np.dtype(tensors[n][0]).itemsize
        for n in names
    )


def count_work(family: str, tensors: TensorShapes, load: Workload) -> Work:
    """Work of one call of the ``family`` model with these tensors on ``load``.

    ``tensors`` of a LoRA model hold its FP32 base's tensors and the adapter's. Only shapes
    and dtypes are read, never values: same architecture and workload, same work.
    """
    n, nnz = load.requests, load.active_features
    if family in ("fp32", "lora"):
        hidden, _ = _shape(tensors, "W1", family)
        tags, _ = _shape(tensors, "W2", family)
        macs = nnz * hidden + n * hidden * tags
        weight_bytes = _bytes(tensors, "W1", "b1", "W2", "b2")
        sort_compares = 0
        if family == "lora":
            rank, _ = _shape(tensors, "W1.lora_A", family)
            # X·A1ᵀ, then ·B1ᵀ; hidden·A2ᵀ, then ·B2ᵀ (the adapter is never merged)
            macs += nnz * rank + n * rank * hidden + n * hidden * rank + n * rank * tags
            weight_bytes += _bytes(tensors, "W1.lora_A", "W1.lora_B", "W2.lora_A", "W2.lora_B")
    elif family == "int8":
        hidden, _ = _shape(tensors, "W1.q", family)
        tags, _ = _shape(tensors, "W2.q", family)
        macs = nnz * hidden + n * hidden * tags
        code_bytes = np.dtype(tensors["W1.q"][0]).itemsize
        weight_bytes = load.active_columns * hidden * code_bytes + _bytes(
            tensors, "W1.scale", "b1", "W2.q", "W2.scale", "b2"
        )
        sort_compares = nnz * nnz.bit_length()
    else:
        raise CostError(f"unknown model family {family!r}: cannot count its work")
    return Work(
        macs=int(macs),
        weight_bytes=int(weight_bytes),
        active_features=int(nnz),
        sort_compares=int(sort_compares),
        calls=1,
    )


def counted_cpu_us(work: Work, calibration: CostCalibration) -> float:
    """CPU microseconds this machine spends on ``work`` (``cost.calibration`` constants)."""
    return (
        work.macs / calibration.macs_per_us
        + work.weight_bytes / calibration.weight_bytes_per_us
        + work.active_features / calibration.features_per_us
        + work.sort_compares / calibration.sort_compares_per_us
        + work.calls * calibration.us_per_call
    )


def per_1k_tokens(cpu_us: float, tokens: int) -> float:
    """CPU microseconds per 1,000 tokens, so models compare per unit of work, not per run."""
    if tokens <= 0:
        raise CostError(f"cannot price per token with {tokens} tokens: the evaluation set is empty")
    if cpu_us < 0:
        raise CostError(f"CPU time cannot be negative, got {cpu_us} µs")
    return cpu_us * 1000.0 / tokens


# -- measuring (informational) ---------------------------------------------------------------


def measure_cpu_seconds(
    fn: Callable[[], object],
    repeats: int,
    *,
    clock: Callable[[], float] = time.process_time,
) -> list[float]:
    """CPU seconds of each of ``repeats`` calls of ``fn``, after one untimed warm-up call.

    CPU time rather than wall time, so other processes on a shared machine do not inflate
    it; the warm-up pays for cold caches and lazy initialisation that serving does not.
    ``clock`` is injectable so tests can check exactly which calls are timed.
    """
    if repeats < 1:
        raise CostError(f"repeats must be at least 1 (cost.repeats), got {repeats}")
    fn()
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


# -- pricing ---------------------------------------------------------------------------------


def usd_per_1b_tokens(cpu_us_per_1k: float, usd_per_cpu_hour: float) -> float:
    """Price of 1B tokens at ``usd_per_cpu_hour`` (``cost.usd_per_cpu_hour`` in params)."""
    # 1B tokens = 1e6 x 1k tokens, and 1e6 µs = 1 s: the µs per 1k are the seconds per 1B
    cpu_hours_per_1b = cpu_us_per_1k / 3600.0
    return cpu_hours_per_1b * usd_per_cpu_hour


def cpqu(usd_per_1b: float, pass_rate: float) -> float:
    """Cost per unit of quality: USD per 1B tokens / pass rate (``math.inf`` at rate 0)."""
    if not 0.0 <= pass_rate <= 1.0:
        raise CostError(f"pass rate must be within [0, 1], got {pass_rate}")
    if usd_per_1b < 0:
        raise CostError(f"cost per 1B tokens cannot be negative, got {usd_per_1b}")
    if pass_rate == 0.0:
        return math.inf
    return usd_per_1b / pass_rate


def _json_number(value: float | None) -> float | None:
    """Round to significant digits and map infinity to None, which JSON can carry.

    Rounding a counted figure is deterministic, so equal work stays equal after it.
    """
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{_SIGNIFICANT}g}")


@dataclass(frozen=True)
class EntryCost:
    """The counted cost of one registry entry: what the cost stage writes per entry to
    ``metrics/cost.json`` and the cpqu stage combines with quality. It depends only on the
    model's shapes, the reference workload and the calibration, never on live traffic."""

    sha: str
    family: str
    tokens: int
    work: Work
    cpu_us_per_1k_tokens: float
    usd_per_1b_tokens: float

    @classmethod
    def counted(
        cls,
        sha: str,
        family: str,
        work: Work,
        load: Workload,
        *,
        calibration: CostCalibration,
        usd_per_cpu_hour: float,
    ) -> EntryCost:
        """Price ``work`` done over ``load``; rounded as written, so a cost read back from
        ``metrics/cost.json`` equals the one computed."""
        counted_1k = per_1k_tokens(counted_cpu_us(work, calibration), load.tokens)
        usd = usd_per_1b_tokens(counted_1k, usd_per_cpu_hour)
        return cls(sha, family, load.tokens, work, _json_number(counted_1k), _json_number(usd))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EntryCost:
        """An entry of ``metrics/cost.json``; a missing or mistyped field names the entry."""
        try:
            return cls(
                sha=str(data["sha"]),
                family=str(data["family"]),
                tokens=int(data["tokens"]),
                work=Work(**data["work"]),
                cpu_us_per_1k_tokens=float(data["cpu_us_per_1k_tokens"]),
                usd_per_1b_tokens=float(data["usd_per_1b_tokens"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CostError(
                f"metrics/cost.json: entry {data.get('sha', '?')!r} is not a counted cost "
                f"({exc!r}); run `dvc repro cost`"
            ) from None


def entry_costs_json(
    costs: Sequence[EntryCost], calibration: CostCalibration, usd_per_cpu_hour: float
) -> dict[str, Any]:
    """``metrics/cost.json``: the counted cost of each costed entry, keyed by short SHA."""
    return {
        "usd_per_cpu_hour": usd_per_cpu_hour,
        "calibration": calibration.model_dump(),
        "entries": {short(c.sha): c.to_dict() for c in costs},
    }


def read_entry_costs(data: Mapping[str, Any]) -> dict[str, EntryCost]:
    """The costs of ``metrics/cost.json`` by full SHA."""
    costs = (EntryCost.from_dict(entry) for entry in (data.get("entries") or {}).values())
    return {c.sha: c for c in costs}


@dataclass(frozen=True)
class CostRow:
    """Cost and quality of one registry entry; cost fields are None for an entry this run
    does not cost (neither built by it nor holding production or staging)."""

    sha: str
    family: str
    semver: str
    size_bytes: int
    pass_rate: float
    traffic_pass_rate: float | None
    cpu_us_per_1k_tokens: float | None
    usd_per_1b_tokens: float | None
    cpqu: float | None
    cpqu_traffic: float | None
    work: Work | None
    costed: bool

    @classmethod
    def priced(
        cls,
        semver: str | None,
        entry: Mapping[str, Any],
        cost: EntryCost,
        *,
        pass_rate: float,
        traffic_pass_rate: float | None,
    ) -> CostRow:
        """A row whose cost is ``cost`` (from the cost stage), divided by its quality."""
        usd = cost.usd_per_1b_tokens
        return cls(
            sha=cost.sha,
            family=entry["family"],
            semver=semver or UNTAGGED,
            size_bytes=int(entry["size_bytes"]),
            pass_rate=pass_rate,
            traffic_pass_rate=traffic_pass_rate,
            cpu_us_per_1k_tokens=cost.cpu_us_per_1k_tokens,
            usd_per_1b_tokens=usd,
            cpqu=cpqu(usd, pass_rate),
            cpqu_traffic=None if traffic_pass_rate is None else cpqu(usd, traffic_pass_rate),
            work=cost.work,
            costed=True,
        )

    @classmethod
    def not_costed(
        cls, sha: str, semver: str | None, entry: Mapping[str, Any], pass_rate: float
    ) -> CostRow:
        """A row for an entry this run does not cost: its quality is recorded, its cost not."""
        return cls(
            sha=sha,
            family=entry["family"],
            semver=semver or UNTAGGED,
            size_bytes=int(entry["size_bytes"]),
            pass_rate=pass_rate,
            traffic_pass_rate=None,
            cpu_us_per_1k_tokens=None,
            usd_per_1b_tokens=None,
            cpqu=None,
            cpqu_traffic=None,
            work=None,
            costed=False,
        )

    @property
    def label(self) -> str:
        """``family semver``, or ``family`` and the short SHA for an untagged entry."""
        tag = short(self.sha) if self.semver == UNTAGGED else self.semver
        return f"{self.family} {tag}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: floats to 6 significant digits, an infinite CpQU as null."""
        data = asdict(self)
        return {
            key: _json_number(value) if isinstance(value, float) else value
            for key, value in data.items()
        }


def costs_json(
    rows: Sequence[CostRow], calibration: CostCalibration, usd_per_cpu_hour: float
) -> dict[str, Any]:
    """``metrics/cpqu.json``: entries keyed by short SHA (untagged entries share no semver)."""
    return {
        "usd_per_cpu_hour": usd_per_cpu_hour,
        "calibration": calibration.model_dump(),
        "entries": {short(row.sha): row.to_dict() for row in rows},
    }


# -- reports ---------------------------------------------------------------------------------


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
    return "∞ (pass rate 0)" if math.isinf(value) else f"{value:.4g}"


COSTS_HEADER = (
    "| Model | SHA | Size | Pass rate (reference) | Pass rate (traffic) "
    "| CPU µs / 1k tokens (counted) | USD / 1B tokens | CpQU (USD / 1B tokens / pass rate) |"
)


def costs_markdown(
    rows: Sequence[CostRow], calibration: CostCalibration, usd_per_cpu_hour: float
) -> str:
    """``metrics/COSTS.md``: one table row per registry entry, in the store or not."""
    lines = [
        "# Cost per unit of quality",
        "",
        "Cost is counted, not timed: the work of one inference call over the reference test "
        "split (multiply-accumulates, bytes of weights read, active features, sort "
        "comparisons) converted to CPU time with this machine's calibration "
        f"(`cost.calibration`: {calibration.machine or 'machine not named'}), priced at "
        f"${usd_per_cpu_hour:g} per CPU hour. Models of the same architecture cost the same "
        "in every run. The cost stage logs the CPU time it measures beside it (it differs "
        "every run, so no file records it and no rule uses it; "
        "`benchmarks/cost_calibration.py` tables both). CpQU is USD per 1B tokens "
        "divided by the reference pass rate: a model right half as often costs twice as "
        "much per useful answer. Costed are the models this run built, the gate's candidate "
        "and those holding production or staging.",
        "",
        COSTS_HEADER,
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        counted = _number(row.cpu_us_per_1k_tokens, ".1f") if row.costed else NOT_COSTED
        lines.append(
            f"| {row.label} | `{short(row.sha)}` | {_size(row.size_bytes)} "
            f"| {_number(row.pass_rate, '.4f')} | {_number(row.traffic_pass_rate, '.4f')} "
            f"| {counted} | {_number(row.usd_per_1b_tokens, '.4g')} | {_cpqu_cell(row.cpqu)} |"
        )
    return "\n".join(lines) + "\n"


SCATTER_FIELDS = ("label", "usd_per_1b_tokens", "pass_rate")


def scatter_rows(rows: Sequence[CostRow]) -> list[dict[str, Any]]:
    """Points for the cost-vs-quality ``dvc plots`` scatter; entries without a cost have no
    x coordinate, so they are left out rather than drawn at zero cost."""
    return [
        {
            "label": row.label,
            "usd_per_1b_tokens": _json_number(row.usd_per_1b_tokens),
            "pass_rate": _json_number(row.pass_rate),
        }
        for row in rows
        if row.usd_per_1b_tokens is not None
    ]
