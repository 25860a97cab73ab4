"""Static PNG versions of the plots `dvc plots show` renders interactively.

PNGs go into the README and reports, and are what a reviewer sees in a PR without
running anything. Rendering is deterministic (Agg backend, no timestamps in metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REFERENCE_COLOR, CURRENT_COLOR = "#9aa7b8", "#d9603b"


def drift_histograms_png(
    histograms: Mapping[str, Sequence[Mapping[str, Any]]],
    features: Mapping[str, Mapping[str, Any]],
    path: Path,
    columns: int = 2,
) -> None:
    """One panel per feature: reference and current shares per bin, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(histograms)
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        data = histograms[name]
        x = np.arange(len(data))
        ax.bar(
            x - 0.2, [r["reference"] for r in data], 0.4, label="reference", color=REFERENCE_COLOR
        )
        ax.bar(x + 0.2, [r["current"] for r in data], 0.4, label="current", color=CURRENT_COLOR)
        ax.set_xticks(
            x,
            [str(r["bin"]) for r in data],
            rotation=60,
            ha="right",
            fontsize=6 if len(data) > 15 else 8,
        )
        info = features[name]
        stat = info["decided_by"]
        ax.set_title(
            f"{name}: {stat.upper()} {info[stat]:.3f} ({info['status']}"
            f"{', significant' if info['significant'] else ''})",
            fontsize=10,
        )
        ax.set_ylabel("share")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
