"""What the status stage puts on the page around the view: its inputs, links and images.

The page lives at ``status/index.html`` and is opened from ``file://`` or in a PR, so its
links are relative to the page's own directory. Every input is checked before anything is
written: a page built from half the metrics would look complete and be wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.report.status import StatusView, render_html

PAGE = Path("status/index.html")
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


def check_inputs(root: Path, inputs: Mapping[Path, str] = INPUTS) -> None:
    """Raise one error naming every missing input and the stage that writes it."""
    missing = [
        f"{path} (stage {stage})" for path, stage in inputs.items() if not (root / path).exists()
    ]
    if missing:
        raise GramopsError(
            "status page: missing input " + ", ".join(missing) + "; run `dvc repro` first"
        )


def relative_to_page(items: Sequence[tuple[str, Path]], page: Path = PAGE) -> list[tuple[str, str]]:
    """``(text, path)`` pairs with each path as seen from the page's directory, forward slashes."""
    return [(text, Path(os.path.relpath(path, page.parent)).as_posix()) for text, path in items]


def page_html(view: StatusView, page: Path = PAGE) -> str:
    """The whole page for ``view``, with the pipeline's reports and plots linked from ``page``."""
    return render_html(
        view, links=relative_to_page(LINKS, page), images=relative_to_page(IMAGES, page)
    )
