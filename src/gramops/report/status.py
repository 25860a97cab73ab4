"""The status page's view: production models, registry entries, drift, traffic, the gate.

:func:`status_view` gathers what the page shows from already-read data (the registry's
entries, aliases and audit log, the pipeline's metrics); the template
(``templates/status.html.j2``, rendered by :mod:`gramops.report.status_page`) only lays
it out. The view holds no "generated at" time and no git commit, so the same registry and
metrics give the same page (a fresh clone's ``dvc repro`` reproduces its bytes); what it
was built from is the registry state it names (the audit log's last sequence number and
chain head) and its inputs' hashes, the ones ``dvc.lock`` records for the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gramops.core.vocab import short
from gramops.registry.auditlog import alias_history, registration_order
from gramops.report.status_sections import (
    MlflowLinks,
    RuleRow,
    TrafficSummary,
    WeeklyTrend,
    gate_rule_rows,
    traffic_summary,
    weekly_trend,
)

DOMAINS = ("verb", "tutor")


@dataclass(frozen=True)
class AliasRow:
    """Who holds an alias now, and since when (the move that put it there)."""

    alias: str
    sha: str
    family: str
    semvers: tuple[str, ...]
    since: str | None
    moved_by: str | None
    how: str | None
    earlier_moves: int


@dataclass(frozen=True)
class EntryRow:
    """One registry entry with its quality and, when measured, its cost."""

    sha: str
    family: str
    semvers: tuple[str, ...]
    aliases: tuple[str, ...]
    parent: str | None
    size_bytes: int
    registered_at: str | None
    metrics: Mapping[str, Mapping[str, float]]
    cpu_us_per_1k_tokens: float | None
    usd_per_1b_tokens: float | None
    cpqu: float | None


@dataclass(frozen=True)
class BuiltFrom:
    """The registry state and input files a page was built from.

    ``seq`` and ``head`` are the audit log's last sequence number and chain head
    (:meth:`gramops.registry.reader.RegistryReader.state`): every registry operation
    appends a record, so a page whose numbers differ from the registry's is stale.
    ``inputs`` are (path, md5) pairs, the hashes ``dvc.lock`` records for the stage's deps.
    """

    seq: int
    head: str
    inputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StatusView:
    """Everything the page shows, already ordered."""

    aliases: tuple[AliasRow, ...]
    production_history: tuple[Mapping[str, Any], ...]
    entries: tuple[EntryRow, ...]
    drift: Mapping[str, Any]
    gate: Mapping[str, Any]
    usd_per_cpu_hour: float | None
    built: BuiltFrom = field(default_factory=lambda: BuiltFrom(seq=0, head=""))
    trend: WeeklyTrend = field(default_factory=lambda: WeeklyTrend(weeks=(), rows=()))
    traffic: TrafficSummary | None = None
    rules: tuple[RuleRow, ...] = ()
    mlflow: MlflowLinks | None = None

    def label(self, sha: str | None) -> str:
        """``family semver (short SHA)``, the way models are named across the project."""
        if not sha:
            return "none"
        entry = next((e for e in self.entries if e.sha == sha), None)
        if entry is None:
            return f"unregistered ({short(sha)})"
        return f"{entry.family} {', '.join(entry.semvers) or 'untagged'} ({short(sha)})"

    @property
    def production(self) -> AliasRow | None:
        return next((a for a in self.aliases if a.alias == "production"), None)

    @property
    def gate_stale(self) -> str | None:
        """Why the gate's decision on this page judged another registry state, if it did."""
        judged = self.gate.get("registry", {}).get("seq")
        if judged is None or not self.built.head or judged == self.built.seq:
            return None
        return (
            f"the gate judged audit log record {judged}, but this page shows the registry at "
            f"record {self.built.seq}: run `dvc repro` for a decision on the registry as it is"
        )


def status_view(
    entries: Mapping[str, Mapping[str, Any]],
    semvers_of: Callable[[str], list[str]],
    aliases: Mapping[str, str],
    history: Sequence[Mapping[str, Any]],
    costs: Mapping[str, Any],
    drift: Mapping[str, Any],
    gate: Mapping[str, Any],
    traffic: Mapping[str, Any] | None = None,
    built: BuiltFrom | None = None,
    mlflow: MlflowLinks | None = None,
) -> StatusView:
    """Gather the page's rows from the registry (entries, aliases, audit log) and metrics.

    ``costs`` is ``metrics/cpqu.json``, whose entries are keyed by short SHA, so an entry
    registered after the last cost run shows no cost rather than a wrong one.
    """
    cost_by_sha = costs.get("entries", {})
    aliases_of: dict[str, list[str]] = {}
    for name, sha in sorted(aliases.items()):
        aliases_of.setdefault(sha, []).append(name)
    alias_rows = []
    for name, sha in sorted(aliases.items()):
        periods = alias_history(history, name)
        current = periods[-1] if periods and periods[-1]["sha"] == sha else None
        alias_rows.append(
            AliasRow(
                alias=name,
                sha=sha,
                family=entries[sha]["family"] if sha in entries else "unregistered",
                semvers=tuple(semvers_of(sha)),
                since=current["from"] if current else None,
                moved_by=current["moved_by"] if current else None,
                how=current["how"] if current else None,
                earlier_moves=max(len(periods) - 1, 0),
            )
        )
    rows = []
    for sha, entry in entries.items():
        cost = cost_by_sha.get(short(sha), {})
        rows.append(
            EntryRow(
                sha=sha,
                family=entry["family"],
                semvers=tuple(semvers_of(sha)),
                aliases=tuple(aliases_of.get(sha, ())),
                parent=entry.get("parent_sha"),
                size_bytes=int(entry["size_bytes"]),
                registered_at=entry.get("registered_at"),
                metrics=entry.get("metrics", {}),
                cpu_us_per_1k_tokens=cost.get("cpu_us_per_1k_tokens"),
                usd_per_1b_tokens=cost.get("usd_per_1b_tokens"),
                cpqu=cost.get("cpqu"),
            )
        )
    # in registration order (the audit log's, since several entries share a second)
    order = {sha: i for i, sha in enumerate(registration_order(history))}
    rows.sort(key=lambda r: (order.get(r.sha, len(order)), r.registered_at or "", r.sha))
    return StatusView(
        aliases=tuple(alias_rows),
        production_history=tuple(alias_history(history, "production")),
        entries=tuple(rows),
        drift=drift,
        gate=gate,
        usd_per_cpu_hour=costs.get("usd_per_cpu_hour"),
        built=built or BuiltFrom(seq=0, head=""),
        trend=weekly_trend(drift),
        traffic=traffic_summary(traffic) if traffic is not None else None,
        rules=gate_rule_rows(gate),
        mlflow=mlflow,
    )
