"""Stage lineage: render the registry's lineage DAG (mermaid, markdown, PNG)."""

import logging
from pathlib import Path

from gramops.core.fileio import write_json
from gramops.core.stage import run
from gramops.registry.store import Registry
from gramops.registry.summary import keyed_summaries
from gramops.report.lineage import build_graph, render_png, to_markdown, to_mermaid

OUT = Path("plots")
log = logging.getLogger("stages.lineage")


def main() -> None:
    registry = Registry(actor="stage:lineage")
    graph = build_graph(registry.entries(), registry.semvers_of, registry.aliases())
    mermaid = to_mermaid(graph)
    OUT.mkdir(exist_ok=True)
    (OUT / "lineage.mmd").write_text(mermaid, encoding="utf-8")
    (OUT / "lineage.md").write_text(to_markdown(mermaid), encoding="utf-8")
    render_png(graph, OUT / "lineage.png")
    # Aliases move after register (`gramops promote`, rollback), so their summary is
    # written here, not by register. The audit log's chain head beside them makes a
    # rewritten registry history show in `dvc metrics diff` and in review.
    state = registry.state()
    write_json(
        Path("metrics/aliases.json"),
        {
            "aliases": keyed_summaries(registry.aliases(), registry.entry, registry.semvers_of),
            "audit_log": {"records": state["records"], "seq": state["seq"], "head": state["head"]},
        },
    )
    log.info("lineage of %d nodes, %d edges", len(graph.nodes), len(graph.edges))


if __name__ == "__main__":
    run(main)
