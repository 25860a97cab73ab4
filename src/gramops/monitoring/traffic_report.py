"""The traffic report people read (``metrics/TRAFFIC.md``) and the canary plot's rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gramops.monitoring.stats import ROUND

CANARY_FIELDS = ("step", "arm", "pass_rate")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def _p(value: float | None) -> str:
    """A p-value for people: values rounded to 0 are shown as below the rounding step."""
    if value is None:
        return "n/a"
    return f"< {10.0**-ROUND:g}" if value < 10.0**-ROUND else f"{value:.4g}"


def _p_clause(value: float | None) -> str:
    text = _p(value)
    return text if text.startswith("<") else f"= {text}"


def _cell(value: object) -> str:
    """Escape pipes so a token like ``|`` cannot split a markdown table cell."""
    return str(value).replace("|", "\\|")


def report_markdown(
    shadow: Mapping[str, Any],
    ab: Mapping[str, Any],
    canary: Mapping[str, Any],
    champion: str,
    challenger: str,
) -> str:
    """A short human-readable report: for each strategy, the question and its answer."""
    test = ab["test"]
    verdict = "significant" if ab["significant"] else "not significant"
    power = "" if ab["adequately_powered"] else " (under-powered: more traffic needed)"
    if canary["completed"]:
        outcome = "reached 100% without a significant regression"
    else:
        outcome = f"aborted at {_pct(canary['stopped_at'])}: the challenger was significantly worse"
    lines = [
        f"# Traffic replay: `{challenger}` (challenger) vs `{champion}` (champion)",
        "",
        "## Shadow",
        f"*Question:* {shadow['question']}",
        "",
        f"On {shadow['n_shadowed']} mirrored requests ({_pct(shadow['fraction'])} of "
        f"{shadow['n_requests']}): pass rate {_pct(shadow['champion_pass_rate'])} (champion) "
        f"vs {_pct(shadow['challenger_pass_rate'])} (challenger); strict accuracy "
        f"{_pct(shadow['champion_strict_accuracy'])} vs "
        f"{_pct(shadow['challenger_strict_accuracy'])}; the answers differ on "
        f"{shadow['disagreements']} ({_pct(shadow['disagreement_rate'])}).",
    ]
    if shadow["examples"]:
        lines += ["", "| sentence | gold | champion | challenger |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(row['sentence'])} | {_cell(row['gold'])} | {_cell(row['champion'])} | "
            f"{_cell(row['challenger'])} |"
            for row in shadow["examples"]
        ]
    lines += [
        "",
        "## A/B test",
        f"*Question:* {ab['question']}",
        "",
        f"Champion {_pct(ab['champion']['pass_rate'])} (n = {ab['champion']['n']}), challenger "
        f"{_pct(ab['challenger']['pass_rate'])} (n = {ab['challenger']['n']}): difference "
        f"{test['diff']:+.4f}, {100 * (1 - test['alpha']):.0f}% CI "
        f"[{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], z = {test['z']:.3f}, "
        f"p {_p_clause(test['p_value'])}: {verdict}{power}. Detecting a difference of "
        f"{ab['mde']} at power {ab['power']} needs {ab['required_per_arm']} requests per arm.",
        "",
        "## Canary",
        f"*Question:* {canary['question']}",
        "",
        f"The ramp {outcome}.",
        "",
        "| step | n challenger | challenger pass | champion pass | p (worse) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_pct(s['fraction'])} | {s['n_challenger']} | {_pct(s['challenger_pass_rate'])} | "
        f"{_pct(s['champion_pass_rate'])} | "
        f"{_p(s['p_worse'])} |"
        for s in canary["steps"]
    ]
    return "\n".join(lines) + "\n"


def slices_markdown(table: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """The reference split's slices, both models side by side (the gate judges them)."""
    lines = [
        "",
        "## Slices of the reference test split",
        "",
        "| slice | n | candidate pass | production pass | candidate strict | production strict |",
        "|---|---|---|---|---|---|",
    ]
    for name, sides in table.items():
        cand, prod = sides["candidate"], sides["production"]
        lines.append(
            f"| {_cell(name)} | {cand['n']} | {_pct(cand['passed'] / cand['n'])} | "
            f"{_pct(prod['passed'] / prod['n'])} | {_pct(cand['strict'] / cand['n'])} | "
            f"{_pct(prod['strict'] / prod['n'])} |"
        )
    return "\n".join(lines) + "\n"


def canary_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``plots/canary.csv``: pass rate per canary step and arm (none without a candidate:
    the plot's file then holds its header only, so it always exists)."""
    return [
        {"step": step["fraction"], "arm": arm, "pass_rate": step[f"{arm}_pass_rate"]}
        for step in metrics.get("canary", {}).get("steps", [])
        for arm in ("champion", "challenger")
        if step[f"{arm}_pass_rate"] is not None
    ]
