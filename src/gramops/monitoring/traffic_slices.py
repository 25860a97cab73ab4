"""Slices of the reference split a tutor's users feel: each gold Penn tag, irregular vs
regular verbs, each domain.

Per slice, each model's passes and strict hits are counted for the gate's slice rule; the
statistics on them live in :mod:`gramops.monitoring.gate_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gramops.corpus.inflection import is_irregular
from gramops.monitoring.traffic_replay import outcomes


def slice_names(record: Mapping[str, Any]) -> list[str]:
    """The slices a record belongs to: its gold tag, its verb's regularity, its domain.

    Names use a colon (``tag:VBD``), not ``=``: the mirror logs traffic.json as MLflow
    metrics, whose names may not contain ``=``.
    """
    regularity = "irregular" if is_irregular(record["lemma"]) else "regular"
    return [f"tag:{record['tag']}", f"verb:{regularity}", f"domain:{record['domain']}"]


def slice_counts(
    records: Sequence[Mapping[str, Any]], forms: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Slice name -> ``{"n", "passed", "strict"}`` for one model's ``forms``."""
    passed, strict = outcomes(records, forms)
    counts: dict[str, dict[str, int]] = {}
    for record, ok, exact in zip(records, passed, strict, strict=True):
        for name in slice_names(record):
            row = counts.setdefault(name, {"n": 0, "passed": 0, "strict": 0})
            row["n"] += 1
            row["passed"] += int(ok)
            row["strict"] += int(exact)
    return dict(sorted(counts.items()))


def slices(
    records: Sequence[Mapping[str, Any]],
    candidate_forms: Sequence[str],
    production_forms: Sequence[str],
) -> dict[str, dict[str, dict[str, int]]]:
    """Slice name -> ``{"candidate": counts, "production": counts}`` on the same records."""
    candidate = slice_counts(records, candidate_forms)
    production = slice_counts(records, production_forms)
    return {
        name: {"candidate": candidate[name], "production": production[name]} for name in candidate
    }
