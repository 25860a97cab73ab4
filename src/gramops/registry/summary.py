"""Compact views of registry entries, for `dvc metrics diff` and reports.

Keys are stable (family and alias names), so `dvc metrics diff main` lines up the same
family's semver, short SHA, quality and size between two commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gramops.core.vocab import short


def entry_summary(entry: Mapping[str, Any], semvers: list[str] | None) -> dict[str, Any]:
    """Semver, short SHA, quality per domain, size and parameter count of one entry
    (``semvers`` None: no semver key, for summaries written before a promotion binds one)."""
    summary: dict[str, Any] = {"family": entry["family"]}
    if semvers is not None:
        summary["semver"] = semvers[-1] if semvers else "untagged"
    summary.update(
        {
            "sha": short(entry["sha"]),
            "size_bytes": entry["size_bytes"],
            "parameters": entry["parameters"],
        }
    )
    for domain, result in sorted(entry.get("metrics", {}).items()):
        summary[f"{domain}_strict_accuracy"] = result["strict_accuracy"]
        summary[f"{domain}_pass_rate"] = result["pass_rate"]
    return summary


def keyed_summaries(
    refs: Mapping[str, str],
    entry: Callable[[str], Mapping[str, Any]],
    semvers_of: Callable[[str], list[str]] | None,
) -> dict[str, Any]:
    """Entry summaries under stable keys (families, or aliases) for `dvc metrics diff`;
    without ``semvers_of`` they carry no semver."""
    return {
        key: entry_summary(entry(sha), semvers_of(sha) if semvers_of else None)
        for key, sha in sorted(refs.items())
    }
