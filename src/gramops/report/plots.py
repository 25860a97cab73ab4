"""Static PNG versions of the plots `dvc plots show` renders interactively.

PNGs go into the README and reports, and are what a reviewer sees in a PR without
running anything. Rendering is deterministic (Agg backend, no timestamps in metadata).
Each panel says what it shows and the statistic that judged it, like the interactive
charts (:mod:`gramops.report.plot_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gramops.core.params import DriftParams
from gramops.report.plot_data import FEATURE_TITLES, LINE_BREAK, OTHER, histogram_caption

REFERENCE_COLOR, CURRENT_COLOR = "#8796ab", "#d9603b"


def panel_title(name: str, report: Mapping[str, Any], params: DriftParams) -> str:
    """What a feature's panel shows, then its caption's lines (statistic, verdict, OTHER)."""
    caption = histogram_caption(report["features"][name], report["histograms"][name], params)
    return "\n".join([FEATURE_TITLES.get(name, name), *caption.split(LINE_BREAK)])


def drift_histograms_png(
    report: Mapping[str, Any], params: DriftParams, week: int, path: Path, columns: int = 2
) -> None:
    """One panel per feature of a drift ``report``: reference and current shares per bin,
    side by side, titled with the feature, its statistic, thresholds and verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import PercentFormatter

    histograms = report["histograms"]
    names = list(histograms)
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.4 * columns, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        data = [r for r in histograms[name] if r["bin"] != OTHER]
        x = np.arange(len(data))
        ax.bar(
            x - 0.2, [r["reference"] for r in data], 0.4, label="reference", color=REFERENCE_COLOR
        )
        ax.bar(x + 0.2, [r["current"] for r in data], 0.4, label="current", color=CURRENT_COLOR)
        labels = [str(r["bin"]) for r in data]
        crowded = len(data) * max(map(len, labels)) > 60  # labels that would overlap level
        ax.set_xticks(
            x,
            labels,
            rotation=35 if crowded else 0,
            ha="right" if crowded else "center",
            rotation_mode="anchor",
            fontsize=7 if len(data) > 12 else 8,
        )
        ax.set_title(panel_title(name, report, params), fontsize=9, loc="left")
        ax.set_ylabel("share of requests", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", color="#e5e5e5")
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        ["reference (corpus)", f"current (traffic, week {week})"],
        loc="upper right",
        ncol=2,
        fontsize=9,
        frameon=False,
    )
    fig.suptitle(
        f"Drift: reference vs live traffic of week {week}, per feature",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
