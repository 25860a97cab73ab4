"""The static status page: production models, registry entries, drift, costs, the gate.

One self-contained HTML file that renders from ``file://`` with no network: inline CSS,
no scripts, no external URL, only relative links to files of the repository. It holds no
"generated at" time, so the same registry and metrics give the same bytes (a fresh clone's
``dvc repro`` reproduces it); every date on it comes from the registry's audit log.

:func:`status_view` gathers what the page shows from already-read data; :func:`render_html`
turns that view into HTML, escaping every piece of text it did not write itself.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gramops.core.vocab import short
from gramops.registry.auditlog import alias_history, registration_order

DOMAINS = ("verb", "tutor")
DRIFT_HEADERS = (
    "feature",
    "statistic",
    "value",
    "threshold",
    "no-shift quantile",
    "significant",
    "status",
)


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
class StatusView:
    """Everything the page shows, already ordered."""

    aliases: tuple[AliasRow, ...]
    production_history: tuple[Mapping[str, Any], ...]
    entries: tuple[EntryRow, ...]
    drift: Mapping[str, Any]
    gate: Mapping[str, Any]
    usd_per_cpu_hour: float | None


def status_view(
    entries: Mapping[str, Mapping[str, Any]],
    semvers_of: Callable[[str], list[str]],
    aliases: Mapping[str, str],
    history: Sequence[Mapping[str, Any]],
    costs: Mapping[str, Any],
    drift: Mapping[str, Any],
    gate: Mapping[str, Any],
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
    )


# -- rendering ------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em;color:#1b1f24}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace;background:#f6f8fa;padding:0 .2em;white-space:nowrap}
.badge{display:inline-block;padding:.05em .5em;border-radius:.8em;font-weight:600}
.ok{background:#dafbe1;color:#116329}.warn{background:#fff8c5;color:#7d4e00}
.bad{background:#ffebe9;color:#a40e26}.muted{color:#57606a}
.summary{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.summary div{border:1px solid #d0d7de;border-radius:.4em;padding:.5em .9em}
img{max-width:100%;border:1px solid #d0d7de}
""".strip()

BADGE = {
    "promote": "ok",
    "hold": "ok",
    "block": "bad",
    "pass": "ok",
    "fail": "bad",
    "none": "ok",
    "moderate": "warn",
    "major": "bad",
}


class Markup(str):
    """Text that is already HTML: :func:`_cell` passes it through unescaped."""


class Num(str):
    """A formatted number: right-aligned and kept on one line."""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(word: str) -> Markup:
    return Markup(f'<span class="badge {BADGE.get(word, "warn")}">{_e(word)}</span>')


def _sha(sha: str | None) -> Markup:
    if not sha:
        return Markup('<span class="muted">none</span>')
    return Markup(f'<code title="{_e(sha)}">{_e(short(sha))}</code>')


def _cell(value: Any) -> str:
    if isinstance(value, Markup):
        return f"<td>{value}</td>"
    if isinstance(value, Num) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return f'<td class="num">{_e(value)}</td>'
    if value is None:
        return '<td class="muted">–</td>'
    return f"<td>{_e(value)}</td>"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table id="{_e(table_id)}">\n<tr>{head}</tr>\n{body}\n</table>'


def _pct(value: float | None) -> Num | None:
    return None if value is None else Num(f"{100 * value:.1f}%")


def _mb(size: int) -> Num:
    return Num(f"{size / 1e6:.1f} MB")


def _sci(value: float | None) -> Num | None:
    return None if value is None else Num(f"{value:.3g}")


def _cpu(value: float | None) -> Num | None:
    return None if value is None else Num(f"{value:,.0f}")


def _section(title: str, section_id: str, body: str) -> str:
    return f'<section id="{_e(section_id)}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _summary(view: StatusView, label: Callable[[str | None], str]) -> str:
    production = next((a for a in view.aliases if a.alias == "production"), None)
    held = label(production.sha) if production else "no production alias"
    return (
        '<div class="summary">'
        f'<div>production: <strong id="production-model">{_e(held)}</strong></div>'
        f"<div>drift: {_badge(str(view.drift.get('status', 'unknown')))}</div>"
        f"<div>gate: {_badge(str(view.gate.get('decision', 'unknown')))}</div>"
        f"<div>registry entries: <strong>{len(view.entries)}</strong></div>"
        "</div>"
    )


def _aliases(view: StatusView, label: Callable[[str | None], str]) -> str:
    rows = [
        (
            a.alias,
            a.family,
            ", ".join(a.semvers) or "untagged",
            _sha(a.sha),
            a.since,
            a.moved_by,
            a.how,
            a.earlier_moves,
        )
        for a in view.aliases
    ]
    table = _table(
        "aliases",
        ("alias", "family", "semver", "SHA", "since", "moved by", "how", "earlier moves"),
        rows,
    )
    history = [
        (
            label(p["sha"]),
            p["from"],
            p["until"] or "now",
            p["moved_by"],
            p["how"],
            p.get("reason") or "",
        )
        for p in reversed(view.production_history)
    ]
    return (
        table + "\n<p>Every model that held <code>production</code>, newest first "
        "(from <code>models/registry/index.jsonl</code>):</p>\n"
        + _table(
            "production-history", ("model", "from", "until", "moved by", "how", "why"), history
        )
    )


def _entries(view: StatusView, label: Callable[[str | None], str]) -> str:
    headers = ["semver", "family", "SHA", "aliases", "parent", "size"]
    for domain in DOMAINS:
        headers += [f"{domain} strict", f"{domain} pass"]
    headers += ["CPU µs / 1k tokens", "USD / 1B tokens", "CpQU", "registered"]
    rows = []
    for e in view.entries:
        row: list[Any] = [
            ", ".join(e.semvers) or "untagged",
            e.family,
            _sha(e.sha),
            ", ".join(e.aliases),
            label(e.parent) if e.parent else None,
            _mb(e.size_bytes),
        ]
        for domain in DOMAINS:
            result = e.metrics.get(domain, {})
            row += [_pct(result.get("strict_accuracy")), _pct(result.get("pass_rate"))]
        row += [
            _cpu(e.cpu_us_per_1k_tokens),
            _sci(e.usd_per_1b_tokens),
            _sci(e.cpqu),
            e.registered_at,
        ]
        rows.append(row)
    price = (
        f" at ${view.usd_per_cpu_hour:g} per CPU hour" if view.usd_per_cpu_hour is not None else ""
    )
    return (
        _table("entries", headers, rows)
        + '\n<p class="muted">Cost: CPU time per 1,000 tokens counted from each model\'s '
        f"work and this machine's calibration{_e(price)}; CpQU = USD per 1B tokens / "
        "reference pass rate (lower is better).</p>"
    )


def _drift(drift: Mapping[str, Any]) -> str:
    features = drift.get("features", {})

    def ratio(name: str) -> float:
        f = features[name]
        return f[f["decided_by"]] / f["threshold"] if f.get("threshold") else 0.0

    rows = []
    for name in sorted(features, key=lambda n: (-ratio(n), n)):
        f = features[name]
        stat = f["decided_by"]
        rows.append(
            (
                name,
                stat.upper(),
                Num(f"{f[stat]:.4f}"),
                Num(f"{f['threshold']:g}"),
                Num(f"{f.get('null', {}).get(stat, 0.0):.4f}"),
                "yes" if f.get("significant") else "no",
                _badge(str(f.get("status", "unknown"))),
            )
        )
    current = drift.get("current", {})
    production = drift.get("production", {})
    reasons = "".join(f"<li>{_e(r)}</li>" for r in drift.get("reasons", []))
    return (
        f'<p>Overall <span id="drift-status">{_badge(str(drift.get("status", "unknown")))}'
        f"</span>, retrain: <strong>{_e('yes' if drift.get('retrain') else 'no')}</strong>; "
        f"week {_e(current.get('week', '?'))} of traffic ({_e(current.get('records', '?'))} "
        f"requests) against production {_e(', '.join(production.get('semvers', [])))} "
        f"{_sha(production.get('sha'))}.</p>\n<ul>{reasons}</ul>\n"
        + _table(
            "drift-features",
            DRIFT_HEADERS,
            rows,
        )
    )


def _gate(gate: Mapping[str, Any], label: Callable[[str | None], str]) -> str:
    rules = [
        (
            f"{who}{r['name']}",
            _badge(str(r["verdict"])),
            _word(r.get("value")),
            _word(r.get("threshold")),
            r["detail"],
        )
        for who, key in (("", "rules"), ("production: ", "production_rules"))
        for r in gate.get(key, [])
    ]
    reasons = "".join(f"<li>{_e(r)}</li>" for r in gate.get("reasons", []))
    # gate.json names production/candidate; files from before issue 11, champion/challenger
    production = gate.get("production", gate.get("champion"))
    candidate = gate.get("candidate", gate.get("challenger"))
    compared = (
        f"candidate {_e(label(candidate))} against production {_e(label(production))}"
        if candidate
        else f"no candidate; production is {_e(label(production))}"
    )
    return (
        f'<p>Decision <span id="gate-decision">{_badge(str(gate.get("decision", "unknown")))}'
        f"</span>: {compared}.</p>\n<ul>{reasons}</ul>\n"
        + _table(
            "gate-rules",
            ("rule", "verdict", "value", "threshold", "detail"),
            rules,
        )
    )


def _word(value: Any) -> Any:
    """Booleans read as words in a table cell (a threshold of ``False`` is "no")."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _links(links: Sequence[tuple[str, str]], images: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<li><a href="{_e(href)}">{_e(text)}</a></li>' for text, href in links)
    figures = "".join(
        f'<figure><img src="{_e(src)}" alt="{_e(alt)}"><figcaption>{_e(alt)}</figcaption></figure>'
        for alt, src in images
    )
    return f"<ul>{items}</ul>\n{figures}"


def render_html(
    view: StatusView,
    links: Sequence[tuple[str, str]] = (),
    images: Sequence[tuple[str, str]] = (),
) -> str:
    """The page. ``links``/``images`` are (text, relative href) pairs, shown in this order.

    Hrefs must be relative: the page is opened from ``file://`` and in a PR, offline.
    """
    for _text, href in (*links, *images):
        if "://" in href or href.startswith(("/", "//")):
            raise ValueError(f"status page link {href!r} must be a relative path")
    by_sha = {e.sha: e for e in view.entries}

    def label(sha: str | None) -> str:
        """``family semver (short SHA)``, the way models are named across the project."""
        if not sha:
            return "none"
        if sha not in by_sha:
            return f"unregistered ({short(sha)})"
        entry = by_sha[sha]
        return f"{entry.family} {', '.join(entry.semvers) or 'untagged'} ({short(sha)})"

    body = "\n".join(
        (
            "<h1>gramops status</h1>",
            '<p class="muted">Built by the <code>status</code> stage of <code>dvc repro</code>'
            " from the registry and the pipeline's metrics; dates are those of the registry's "
            "audit log (UTC).</p>",
            _summary(view, label),
            _section("Aliases", "aliases-section", _aliases(view, label)),
            _section("Registry entries", "entries-section", _entries(view, label)),
            _section("Drift", "drift", _drift(view.drift)),
            _section("Deploy gate", "gate", _gate(view.gate, label)),
            _section("Reports and plots", "links", _links(links, images)),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>gramops status</title>\n"
        f"<style>\n{CSS}\n</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
