"""Stage status: the static status page status/index.html (registry, drift, costs, gate).

Runs after the gate and lineage, so it shows the aliases the gate just moved. Every input
is checked before anything is written; the page is replaced atomically.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import read_json, write_text
from gramops.core.stage import run
from gramops.registry.store import Registry
from gramops.report.status import status_view
from gramops.report.status_page import PAGE, check_inputs, page_html

ROOT = Path(".")
log = logging.getLogger("stages.status")


def main() -> None:
    check_inputs(ROOT)
    registry = Registry(actor="stage:status")
    view = status_view(
        registry.entries(),
        registry.semvers_of,
        registry.aliases(),
        registry.history(),
        costs=read_json(ROOT / "metrics/cpqu.json"),
        drift=read_json(ROOT / "metrics/drift.json"),
        gate=read_json(ROOT / "metrics/gate.json"),
    )
    write_text(ROOT / PAGE, page_html(view, PAGE))
    log.info(
        "status page %s: %d aliases, %d entries, drift %s, gate %s",
        PAGE,
        len(view.aliases),
        len(view.entries),
        view.drift.get("status"),
        view.gate.get("decision"),
    )


if __name__ == "__main__":
    run(main)
