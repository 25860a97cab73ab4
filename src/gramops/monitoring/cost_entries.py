"""The registry entries the cpqu stage prices: which, in what order, and each one's row.

Every entry gets a row, in registration order (as the audit log records it, read through
:mod:`gramops.registry.auditlog`), so the table reads like the registry's history. Costed
are only the models this run built, the gate's candidate and those holding production or
staging: their bytes are always here, so what ``metrics/cpqu.json`` says never depends on
which other objects happen to be in this machine's store. Every other entry gets its
quality and no cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    TensorShapes,
    count_work,
    measure_cpu_seconds,
    median,
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


def counted_row(
    listed: Listed,
    predictor: Predictor,
    shapes: TensorShapes,
    test: Records,
    current: Records,
    params: CostParams,
) -> CostRow:
    """The row of a costed entry: its work on the reference ``test`` records counted from
    ``shapes``, its CPU time on them measured (reported, never used), its pass rate on this
    week's traffic (``current``; None on a request log, which has no gold)."""
    tokens = sum(len(r["tokens"]) for r in test)
    load = workload(featurize(test, predictor.features), tokens)
    work = count_work(listed.entry["family"], shapes, load)
    seconds = median(measure_cpu_seconds(lambda: predictor.predict(test), params.repeats))
    return CostRow.counted(
        listed.sha,
        listed.semver,
        listed.entry,
        work,
        load,
        calibration=params.calibration,
        usd_per_cpu_hour=params.usd_per_cpu_hour,
        pass_rate=listed.reference_pass_rate,
        # logged traffic has no gold answers: its pass rate is unknown, not zero
        traffic_pass_rate=pass_rate(current, predictor.predict(current).forms)
        if all("acceptable" in r for r in current)
        else None,
        measured_cpu_s=seconds,
    )


def cost_rows(
    registry: Registry,
    costed: set[str],
    test: Records,
    current: Records,
    params: CostParams,
    workdir: Path,
) -> list[CostRow]:
    """A row per registry entry (:func:`listed_entries`); each costed one is loaded into
    ``workdir`` and counted (:func:`counted_row`)."""
    rows = []
    for listed in listed_entries(registry, costed):
        if not listed.costed:
            rows.append(
                CostRow.not_costed(
                    listed.sha, listed.semver, listed.entry, listed.reference_pass_rate
                )
            )
            continue
        sha, entry = listed.sha, listed.entry
        bundles = Path(workdir) / short(sha)
        _, predictor = load_registered(registry, sha, bundles)
        base = bundles / short(entry.get("parent_sha")) if entry["family"] == "lora" else None
        shapes = bundle_shapes(bundles / short(sha), base)
        rows.append(counted_row(listed, predictor, shapes, test, current, params))
    return rows
