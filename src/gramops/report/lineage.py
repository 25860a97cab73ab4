"""Render model lineage: text chains for the CLI, mermaid + markdown + PNG for the pipeline.

Lineage is a DAG: every model points at its parent (INT8 and LoRA at the FP32 model they
were derived from), and every model records the DVC hash of the corpus it was trained on,
the key that `dvc checkout`/`dvc pull` restore that exact corpus with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.core.vocab import short
from gramops.registry.summary import keyed_summaries


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # "model" or "corpus"
    lines: tuple[str, ...]
    depth: int


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]  # (from, to): corpus -> model, parent -> child


def _pass_rates(entry: Mapping[str, Any]) -> str:
    metrics = entry.get("metrics", {})
    return " · ".join(
        f"{domain} pass {100 * result['pass_rate']:.1f}%"
        for domain, result in sorted(metrics.items())
    )


def build_graph(
    entries: Mapping[str, Mapping[str, Any]],
    semvers_of: Callable[[str], list[str]],
    aliases: Mapping[str, str],
) -> Graph:
    """Nodes and edges of the whole registry, in a deterministic order."""
    by_sha = dict(entries)

    def depth(sha: str) -> int:
        parent = by_sha[sha].get("parent_sha")
        return 1 if parent is None or parent not in by_sha else 1 + depth(parent)

    aliases_of: dict[str, list[str]] = {}
    for alias, sha in sorted(aliases.items()):
        aliases_of.setdefault(sha, []).append(alias)
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    order = sorted(by_sha, key=lambda s: (depth(s), by_sha[s]["family"], semvers_of(s), s))
    for sha in order:
        entry = by_sha[sha]
        versions = semvers_of(sha)
        lines = [f"{entry['family']} {', '.join(versions) or 'untagged'}", short(sha)]
        if rates := _pass_rates(entry):
            lines.append(rates)
        if sha in aliases_of:
            lines.append("alias: " + ", ".join(aliases_of[sha]))
        nodes[f"m_{short(sha)}"] = Node(f"m_{short(sha)}", "model", tuple(lines), depth(sha))
        parent = entry.get("parent_sha")
        if parent is not None and parent in by_sha:
            edges.append((f"m_{short(parent)}", f"m_{short(sha)}"))
        elif entry.get("corpus_dvc_hash"):
            corpus = entry["corpus_dvc_hash"]
            cid = "c_" + short(corpus.split(".")[0])
            nodes.setdefault(cid, Node(cid, "corpus", ("corpus (DVC hash)", corpus), 0))
            edges.append((cid, f"m_{short(sha)}"))
    ordered = sorted(nodes.values(), key=lambda n: (n.depth, n.id))
    return Graph(tuple(ordered), tuple(sorted(edges)))


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for node in graph.nodes:
        label = "<br/>".join(node.lines).replace('"', "'")
        shape = f'[("{label}")]' if node.kind == "corpus" else f'["{label}"]'
        lines.append(f"    {node.id}{shape}")
    lines.extend(f"    {a} --> {b}" for a, b in graph.edges)
    return "\n".join(lines) + "\n"


def to_markdown(mermaid: str) -> str:
    return (
        "# Model lineage\n\n"
        "Every model links to its parent, and base models to the DVC hash of the corpus they\n"
        "were trained on (`dvc checkout`/`dvc pull` restore that exact corpus).\n\n"
        f"```mermaid\n{mermaid}```\n"
    )


def chain_text(chain: Sequence[Mapping[str, Any]]) -> str:
    """``int8 v0.2.0 (ab12…) → fp32 v0.1.0 (cd34…) → corpus 0e1b….dir`` from Registry.lineage."""
    parts = []
    for link in chain:
        if link["kind"] == "corpus":
            parts.append(f"corpus {link['dvc_hash']}")
        else:
            versions = ", ".join(link.get("semvers", [])) or "untagged"
            parts.append(f"{link['family']} {versions} ({short(link['sha'])})")
    return " → ".join(parts)


def aliases_metrics(
    aliases: Mapping[str, str],
    entry: Callable[[str], Mapping[str, Any]],
    semvers_of: Callable[[str], list[str]],
    state: Mapping[str, Any],
) -> dict[str, Any]:
    """``metrics/aliases.json``: who holds each alias, and the audit log's chain head.

    Aliases move after register (`gramops promote`, rollback), so their summary is written by
    the lineage stage, not by register. The chain head beside them makes a rewritten registry
    history show in `dvc metrics diff` and in review.
    """
    return {
        "aliases": keyed_summaries(aliases, entry, semvers_of),
        "audit_log": {"records": state["records"], "seq": state["seq"], "head": state["head"]},
    }


def _columns(graph: Graph) -> dict[int, list[Node]]:
    """Nodes per depth, each column ordered by its parents' places in the column before
    (siblings by name), so arrows run side by side instead of across each other."""
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes:
        columns.setdefault(node.depth, []).append(node)
    parent = {child: source for source, child in graph.edges}
    place: dict[str, float] = {}
    for depth in sorted(columns):
        nodes = columns[depth]
        nodes.sort(key=lambda n: (place.get(parent.get(n.id, ""), 0.0), n.lines[0], n.id))
        place.update({n.id: row / len(nodes) for row, n in enumerate(nodes)})
    return columns


def _colors(node: Node) -> tuple[str, str]:
    if node.kind == "corpus":
        return "#f3efe0", "#555"
    if any(line.startswith("alias: ") for line in node.lines):
        return "#dcf2e0", "#2e7d32"
    return "#e8f1fb", "#555"


def render_png(graph: Graph, path: Path) -> None:
    """A left-to-right drawing of the lineage DAG (matplotlib, Agg; deterministic layout)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = _columns(graph)
    rows = max(len(c) for c in columns.values())
    width, height = 3.6 * len(columns), max(2.2, 1.5 * rows)
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(0, rows)
    ax.axis("off")
    boxes = {}
    for col, depth in enumerate(sorted(columns)):
        nodes = columns[depth]
        for row, node in enumerate(nodes):
            x, y = col + 0.5, rows - (row + 0.5) * rows / len(nodes)
            face, edge = _colors(node)
            boxes[node.id] = ax.text(
                x,
                y,
                "\n".join(node.lines),
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.5", "facecolor": face, "edgecolor": edge},
            )
    for a, b in graph.edges:
        # Anchored at the box centres and clipped by the boxes, so arrows meet the edges.
        ax.annotate(
            "",
            xy=boxes[b].get_position(),
            xytext=boxes[a].get_position(),
            arrowprops={
                "arrowstyle": "->",
                "color": "#555",
                "shrinkA": 3,
                "shrinkB": 3,
                "patchA": boxes[a].get_bbox_patch(),
                "patchB": boxes[b].get_bbox_patch(),
            },
        )
    ax.set_title(
        "Model lineage: each arrow points from what a model was built from to the model\n"
        "(corpus → FP32 → INT8 and LoRA); green boxes hold an alias",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", pad_inches=0.2, metadata={"Software": None})
    plt.close(fig)
