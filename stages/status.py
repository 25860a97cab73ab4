"""Stage status: the static status page status/index.html (registry, drift, costs, gate).

Runs after the gate and lineage, so it shows the aliases the gate just moved. Every input
is checked before anything is written; the page is replaced atomically.
"""

import logging
import os
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_json
from gramops.core.stage import run
from gramops.registry.store import Registry
from gramops.report.status import render_html, status_view

OUT = Path("status/index.html")
# metrics file -> the stage that writes it (named in the error when one is missing)
INPUTS = {
    Path("metrics/drift.json"): "drift",
    Path("metrics/cpqu.json"): "cpqu",
    Path("metrics/gate.json"): "gate",
}
LINKS = (
    ("Cost per unit of quality, per registry entry", Path("metrics/COSTS.md")),
    ("Traffic replay: shadow, A/B, canary", Path("metrics/TRAFFIC.md")),
    ("Lineage diagram (mermaid)", Path("plots/lineage.md")),
    ("Drift histograms", Path("plots/drift.png")),
    ("Drift week over week (CSV)", Path("plots/drift_weekly.csv")),
    ("Deploy gate decision (JSON)", Path("metrics/gate.json")),
)
IMAGES = (
    ("Model lineage: registry entries, parents and corpus", Path("plots/lineage.png")),
    ("Drift: reference vs current histograms", Path("plots/drift.png")),
)
log = logging.getLogger("stages.status")


def _relative(target: Path) -> str:
    """``target`` as seen from the page's directory, with forward slashes."""
    return Path(os.path.relpath(target, OUT.parent)).as_posix()


def main() -> None:
    missing = [f"{path} (stage {stage})" for path, stage in INPUTS.items() if not path.exists()]
    if missing:
        raise GramopsError(
            "status page: missing input " + ", ".join(missing) + "; run `dvc repro` first"
        )
    registry = Registry(actor="stage:status")
    view = status_view(
        registry.entries(),
        registry.semvers_of,
        registry.aliases(),
        registry.history(),
        costs=read_json(Path("metrics/cpqu.json")),
        drift=read_json(Path("metrics/drift.json")),
        gate=read_json(Path("metrics/gate.json")),
    )
    page = render_html(
        view,
        links=[(text, _relative(path)) for text, path in LINKS],
        images=[(alt, _relative(path)) for alt, path in IMAGES],
    )
    OUT.parent.mkdir(exist_ok=True)
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, OUT)
    log.info(
        "status page %s: %d aliases, %d entries, drift %s, gate %s",
        OUT,
        len(view.aliases),
        len(view.entries),
        view.drift.get("status"),
        view.gate.get("decision"),
    )


if __name__ == "__main__":
    run(main)
