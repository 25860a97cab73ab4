"""The headline metrics (``metrics/summary.json``, written by stage gate beside its
verdict): the pipeline's state in ~20 keys.

`dvc metrics show`, `dvc metrics diff` and `dvc exp show` show the files dvc.yaml declares
as ``metrics``; this is the only one, so they lead with it and stay narrow. Every number
it repeats comes from a detail file (each a plain stage output, git-tracked, and shown
with `dvc metrics show <file>`):

- who holds production, the gate's candidate and its verdict (``metrics/gate.json``,
  labelled from ``metrics/cpqu.json``, which lists every registry entry);
- the traffic the monitoring stages read (``metrics/shift.json``);
- the reference pass rate of each model this run built, per domain
  (``metrics/registry.json``);
- the largest drift statistic of the current week, its feature, the overall status and
  the retrain flag (``metrics/drift.json``);
- each built model's counted cost in USD per 1B tokens (``metrics/cpqu.json``): this tiny
  model costs cents per billion tokens, so per million tokens would print as 0.0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.vocab import short

NONE = "none"


class SummaryError(GramopsError, ValueError):
    """A detail file lacks what the headline repeats."""


def _field(doc: Mapping[str, Any], name: str, *keys: str) -> Any:
    value: Any = doc
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            raise SummaryError(
                f"{name} has no {'.'.join(keys)}: it was written by another version of the "
                "pipeline; run `dvc repro` to rebuild it"
            )
        value = value[key]
    return value


def label(costs: Mapping[str, Any], sha: str | None) -> str:
    """``family semver`` (``family`` and the short SHA when untagged), as the cost table
    names entries; ``none`` for no SHA."""
    if not sha:
        return NONE
    row = _field(costs, "metrics/cpqu.json", "entries", short(sha))
    semver = row.get("semver")
    return f"{row['family']} {short(sha) if semver in (None, 'untagged') else semver}"


def traffic_label(shift: Mapping[str, Any]) -> str:
    """The traffic the monitoring stages read: ``kind intensity``, or ``log``."""
    if shift.get("source") == "log":
        return "log"
    kind = _field(shift, "metrics/shift.json", "kind")
    return f"{kind} {_field(shift, 'metrics/shift.json', 'intensity'):g}"


def largest_drift(drift: Mapping[str, Any]) -> tuple[float, str]:
    """The current week's largest deciding statistic (PSI or KL) and ``feature statistic``."""
    features = _field(drift, "metrics/drift.json", "features")
    if not features:
        raise SummaryError("metrics/drift.json has no features; run `dvc repro drift`")
    name, stats = max(features.items(), key=lambda item: item[1][item[1]["decided_by"]])
    return stats[stats["decided_by"]], f"{name} {stats['decided_by']}"


def headline(
    built: Mapping[str, Any],
    gate: Mapping[str, Any],
    drift: Mapping[str, Any],
    costs: Mapping[str, Any],
    shift: Mapping[str, Any],
) -> dict[str, Any]:
    """``metrics/summary.json`` from ``metrics/registry.json`` (``built``), ``gate.json``,
    ``drift.json``, ``cpqu.json`` (``costs``) and ``shift.json``, in reading order: DVC
    shows keys in the file's order, so the first screen of `dvc exp show` has who is in
    production, the candidate, the verdict, the traffic and its drift."""
    families = _field(built, "metrics/registry.json", "families")
    shas = _field(built, "metrics/registry.json", "shas")
    largest, feature = largest_drift(drift)
    return {
        "production": label(costs, gate.get("production")),
        "candidate": label(costs, gate.get("candidate")),
        "gate": _field(gate, "metrics/gate.json", "decision"),
        "traffic": traffic_label(shift),
        "drift": {
            "max": largest,
            "feature": feature,
            "retrain": bool(_field(drift, "metrics/drift.json", "retrain")),
            "status": _field(drift, "metrics/drift.json", "status"),
        },
        "pass_rate": {
            family: {"verb": row["verb_pass_rate"], "tutor": row["tutor_pass_rate"]}
            for family, row in sorted(families.items())
        },
        "usd_per_1b_tokens": {
            family: _field(costs, "metrics/cpqu.json", "entries", short(sha))["usd_per_1b_tokens"]
            for family, sha in sorted(shas.items())
        },
    }


def summary_text(summary: Mapping[str, Any]) -> str:
    """``metrics/summary.json``'s text: keys in :func:`headline`'s order, not sorted, since
    DVC shows them in the file's order."""
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
