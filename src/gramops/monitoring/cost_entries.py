"""The registry entries the cost and cpqu stages price: which, in what order, each one's
counted cost (stage cost) and each one's row (stage cpqu).

Every entry gets a row, in registration order (as the audit log records it, read through
:mod:`gramops.registry.auditlog`), so the table reads like the registry's history. Costed
are only the models this run built, the gate's candidate and those holding production or
staging: their bytes are always here, so what ``metrics/cpqu.json`` says never depends on
which other objects happen to be in this machine's store. Every other entry gets its
quality and no cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gramops.core.params import CostParams
from gramops.core.vocab import short
from gramops.inference.evaluate import pass_rate
from gramops.inference.predictor import Predictor
from gramops.models.bundle import read_metadata, weights_spec
from gramops.models.features import featurize
from gramops.monitoring.challenger import load_registered
from gramops.monitoring.cost import (
    CostRow,
    EntryCost,
    TensorShapes,
    count_work,
    measure_cpu_seconds,
    median,
    per_1k_tokens,
    workload,
)
from gramops.registry.auditlog import registration_order
from gramops.registry.store import Registry

# the aliases whose holders are always costed: the gate compares with production, and
# staging is the next release
COSTED_ALIASES = ("production", "staging")

Records = Sequence[Mapping[str, Any]]


class RegistryView(Protocol):
    """What :func:`listed_entries` reads of a registry."""

    def history(self) -> list[dict[str, Any]]: ...
    def entry(self, ref: str) -> dict[str, Any]: ...
    def semvers_of(self, sha: str) -> list[str]: ...


@dataclass(frozen=True)
class Listed:
    """A registry entry as the cost table lists it: its newest semver, and whether this run
    costs it."""

    sha: str
    semver: str | None
    entry: Mapping[str, Any]
    costed: bool

    @property
    def reference_pass_rate(self) -> float:
        """The pass rate on the verb-domain reference split, recorded at registration."""
        return self.entry["metrics"]["verb"]["pass_rate"]


def costed_shas(built: Mapping[str, str], candidate: str, aliases: Mapping[str, str]) -> set[str]:
    """The SHAs this run costs: those it built (``metrics/registry.json:shas``), the gate's
    candidate and the holders of :data:`COSTED_ALIASES`; the gate compares the candidate's
    CpQU with production's, so both are always costed."""
    costed = {*built.values(), candidate}
    return costed | {aliases[a] for a in COSTED_ALIASES if a in aliases}


def listed_entries(registry: RegistryView, costed: set[str]) -> list[Listed]:
    """Every registered entry, in registration order, marked costed or not."""
    return [
        Listed(
            sha,
            (registry.semvers_of(sha) or [None])[-1],
            registry.entry(sha),
            sha in costed,
        )
        for sha in registration_order(registry.history())
    ]


def bundle_shapes(bundle: Path, base: Path | None) -> TensorShapes:
    """Tensor shapes from config.json (a LoRA model: its base's and the adapter's)."""
    shapes = dict(weights_spec(read_metadata(bundle, "config.json"), bundle))
    if base is not None:
        shapes.update(weights_spec(read_metadata(base, "config.json"), base))
    return shapes


def counted_cost(
    sha: str,
    family: str,
    predictor: Predictor,
    shapes: TensorShapes,
    test: Records,
    params: CostParams,
) -> tuple[EntryCost, float]:
    """The counted cost of one entry on the reference ``test`` records (from ``shapes``),
    and the CPU µs per 1k tokens measured over the same call (median of ``cost.repeats``;
    reported, never written or used)."""
    tokens = sum(len(r["tokens"]) for r in test)
    load = workload(featurize(test, predictor.features), tokens)
    counted = EntryCost.counted(
        sha,
        family,
        count_work(family, shapes, load),
        load,
        calibration=params.calibration,
        usd_per_cpu_hour=params.usd_per_cpu_hour,
    )
    seconds = median(measure_cpu_seconds(lambda: predictor.predict(test), params.repeats))
    return counted, per_1k_tokens(seconds * 1e6, tokens)


def entry_costs(
    registry: Registry, costed: Iterable[str], test: Records, params: CostParams, workdir: Path
) -> list[tuple[EntryCost, float]]:
    """Each costed entry's counted cost and measured CPU µs per 1k tokens, in SHA order;
    each is loaded (verified) into ``workdir``."""
    results = []
    for sha in sorted(costed):
        bundles = Path(workdir) / short(sha)
        _, predictor = load_registered(registry, sha, bundles)
        entry = registry.entry(sha)
        family = entry["family"]
        base = bundles / short(entry.get("parent_sha")) if family == "lora" else None
        shapes = bundle_shapes(bundles / short(sha), base)
        results.append(counted_cost(sha, family, predictor, shapes, test, params))
    return results


def traffic_pass_rate(predictor: Predictor, current: Records) -> float | None:
    """The pass rate on this week's traffic; None on logged traffic, which has no gold (its
    pass rate is unknown, not zero)."""
    if not current or not all("acceptable" in r for r in current):
        return None
    return pass_rate(current, predictor.predict(current).forms)


def cost_rows(
    registry: Registry, costs: Mapping[str, EntryCost], current: Records, workdir: Path
) -> list[CostRow]:
    """A row per registry entry (:func:`listed_entries`): the entries ``costs`` prices get
    their cost and, when ``current`` has gold answers, their pass rate on it (each loaded
    into ``workdir`` for that); every other entry its reference quality alone."""
    rows = []
    # logged traffic has no gold: no pass rate to compute, so no model to load
    gold = bool(current) and all("acceptable" in r for r in current)
    for listed in listed_entries(registry, set(costs)):
        if not listed.costed:
            rows.append(
                CostRow.not_costed(
                    listed.sha, listed.semver, listed.entry, listed.reference_pass_rate
                )
            )
            continue
        on_traffic = None
        if gold:
            _, predictor = load_registered(registry, listed.sha, Path(workdir) / short(listed.sha))
            on_traffic = traffic_pass_rate(predictor, current)
        rows.append(
            CostRow.priced(
                listed.semver,
                listed.entry,
                costs[listed.sha],
                pass_rate=listed.reference_pass_rate,
                traffic_pass_rate=on_traffic,
            )
        )
    return rows
