"""Both models' answers to the replayed traffic, and the router that splits it between them.

Both models have already answered every request of the replayed traffic (the traffic
stage runs them); the strategies (:mod:`gramops.monitoring.traffic_strategies`) only decide which
answers each would have *used*. That makes shadow, A/B and canary comparable on the same
requests and keeps all of it pure: arrays in, JSON-ready dicts out.

Routing hashes ``f"{salt}:{request_id}"`` with SHA-256 instead of drawing random numbers
or using ``hash()`` (salted per process): the same request always takes the same arm, in
every run and every process, which is what a real router keyed on a request or user id
does. Each strategy has its own salt so its split is independent of the others'. Canary
steps compare the route value with a growing threshold, so the requests in the canary at
1% are still in it at 5%: a ramp only ever adds requests, it never reshuffles them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gramops.core.errors import GramopsError
from gramops.inference.evaluate import passes
from gramops.monitoring.stats import rounded


class TrafficError(GramopsError):
    """Replay inputs or strategy settings that cannot be evaluated."""


def share(flags: NDArray[np.bool_]) -> float | None:
    """Share of True, or None for no requests (a rate of 0/0 is unknown, not zero)."""
    return rounded(flags.mean()) if flags.size else None


# --------------------------------------------------------------------------- routing


def route(request_id: str, salt: str) -> float:
    """Deterministic position of ``request_id`` in [0, 1) for the router keyed by ``salt``.

    The top 53 bits of the digest are used so the division by 2**53 is exact in a float and
    can never round up to 1.0.
    """
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def routes(request_ids: Sequence[str], salt: str) -> NDArray[np.float64]:
    """:func:`route` of every request, in order."""
    return np.fromiter(
        (route(i, salt) for i in request_ids), dtype=np.float64, count=len(request_ids)
    )


def _check_fraction(fraction: float, name: str) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise TrafficError(f"{name} is {fraction}; it must be a fraction in [0, 1]")


def assign(request_ids: Sequence[str], fraction: float, salt: str) -> NDArray[np.bool_]:
    """Which requests go to the challenger (True) when ``fraction`` of traffic is routed to it."""
    _check_fraction(fraction, "fraction")
    return routes(request_ids, salt) < fraction


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Replay:
    """Both models' answers to every replayed request, aligned by position.

    ``*_pass`` is True when the predicted form is in the record's acceptable set;
    ``*_strict`` when it equals the gold form. ``records`` carry ``tokens``, ``verb_index``
    and ``form`` (gold) for the example rows.
    """

    request_ids: Sequence[str]
    champion_pass: NDArray[np.bool_]
    challenger_pass: NDArray[np.bool_]
    champion_strict: NDArray[np.bool_]
    challenger_strict: NDArray[np.bool_]
    champion_forms: Sequence[str]
    challenger_forms: Sequence[str]
    records: Sequence[Mapping[str, Any]]

    @classmethod
    def build(
        cls,
        request_ids: Sequence[str],
        champion_pass: ArrayLike,
        challenger_pass: ArrayLike,
        champion_strict: ArrayLike,
        challenger_strict: ArrayLike,
        champion_forms: Sequence[str],
        challenger_forms: Sequence[str],
        records: Sequence[Mapping[str, Any]],
    ) -> Replay:
        """Validate lengths and uniqueness once, so every strategy can index freely."""
        n = len(request_ids)
        if len(set(request_ids)) != n:
            raise TrafficError("request_ids contain duplicates; each request needs a unique id")
        arrays = {
            "champion_pass": np.asarray(champion_pass, dtype=bool),
            "challenger_pass": np.asarray(challenger_pass, dtype=bool),
            "champion_strict": np.asarray(champion_strict, dtype=bool),
            "challenger_strict": np.asarray(challenger_strict, dtype=bool),
        }
        sizes = {name: len(a) for name, a in arrays.items()}
        sizes |= {
            "champion_forms": len(champion_forms),
            "challenger_forms": len(challenger_forms),
            "records": len(records),
        }
        wrong = {name: size for name, size in sizes.items() if size != n}
        if wrong:
            raise TrafficError(
                f"{len(request_ids)} request_ids but lengths {wrong}; every input must have "
                "one entry per request, in the same order"
            )
        return cls(
            request_ids=list(request_ids),
            champion_forms=list(champion_forms),
            challenger_forms=list(challenger_forms),
            records=list(records),
            **arrays,
        )

    def __len__(self) -> int:
        return len(self.request_ids)


def outcomes(
    records: Sequence[Mapping[str, Any]], forms: Sequence[str]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per record: did the predicted form pass (in ``acceptable``) and hit the gold form."""
    if len(forms) != len(records):
        raise TrafficError(f"{len(forms)} predicted forms for {len(records)} records")
    passed = np.array(passes(records, forms), bool)
    strict = np.array([f == r["form"] for f, r in zip(forms, records, strict=True)], bool)
    return passed, strict
