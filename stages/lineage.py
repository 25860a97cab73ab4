"""Stage lineage: render the registry's lineage DAG (mermaid, markdown, PNG) and write who
holds each alias (metrics/aliases.json)."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import write_json, write_text
from gramops.core.stage import run
from gramops.registry.store import Registry
from gramops.report.lineage import (
    aliases_metrics,
    build_graph,
    render_png,
    to_markdown,
    to_mermaid,
)

OUT = Path("plots")
log = logging.getLogger("stages.lineage")


def main() -> None:
    registry = Registry(actor="stage:lineage")
    graph = build_graph(registry.entries(), registry.semvers_of, registry.aliases())
    mermaid = to_mermaid(graph)
    write_text(OUT / "lineage.mmd", mermaid)
    write_text(OUT / "lineage.md", to_markdown(mermaid))
    render_png(graph, OUT / "lineage.png")
    write_json(
        Path("metrics/aliases.json"),
        aliases_metrics(registry.aliases(), registry.entry, registry.semvers_of, registry.state()),
    )
    log.info("lineage of %d nodes, %d edges", len(graph.nodes), len(graph.edges))


if __name__ == "__main__":
    run(main)
