"""Stage status: the static status page status/ (index.html and the images it shows).

Runs after the gate and lineage. Every input is checked before anything is written; each
file is replaced atomically. The page states the registry state it shows (the audit log's
last record), which `gramops status --check` compares with the registry's.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import atomic_write, read_json, write_text
from gramops.core.params import load_section
from gramops.core.stage import run
from gramops.registry.store import Registry
from gramops.report.status import BuiltFrom, status_view
from gramops.report.status_page import (
    AUDIT_LOG,
    IMAGES,
    INPUTS,
    PAGE,
    check_inputs,
    input_hashes,
    render_html,
)
from gramops.report.status_sections import MlflowLinks

ROOT = Path(".")
log = logging.getLogger("stages.status")


def main() -> None:
    params = load_section(ROOT / "params.yaml", "status")
    check_inputs(ROOT)
    registry = Registry(actor="stage:status")
    state = registry.state()
    view = status_view(
        registry.entries(),
        registry.semvers_of,
        registry.aliases(),
        registry.history(),
        costs=read_json(ROOT / "metrics/cpqu.json"),
        drift=read_json(ROOT / "metrics/drift.json"),
        gate=read_json(ROOT / "metrics/gate.json"),
        traffic=read_json(ROOT / "metrics/traffic.json"),
        built=BuiltFrom(state["seq"], state["head"], input_hashes(ROOT, [*INPUTS, AUDIT_LOG])),
        mlflow=MlflowLinks.of(params),
    )
    for image in IMAGES:
        atomic_write(ROOT / PAGE.parent / image.name, (ROOT / image.source).read_bytes())
    write_text(ROOT / PAGE, render_html(view))
    log.info("status page %s at audit log record %d", PAGE, state["seq"])


if __name__ == "__main__":
    run(main)
