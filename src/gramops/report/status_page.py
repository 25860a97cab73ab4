"""The status page rendered: its inputs, its images, the template, and its staleness.

The page is ``status/index.html``, rendered from ``templates/status.html.j2`` with Jinja2's
autoescaping (every value is escaped unless the template says otherwise, which it never
does). ``status/`` is publishable on its own: the images it shows are copied beside it
(declared stage outputs), and its only other links are absolute ones into the MLflow UI
``params.yaml:status`` names. No script, no stylesheet or font from elsewhere.

A static page cannot notice that the registry moved after it was built, so it states the
registry state it shows, visibly and in two ``<meta>`` tags (the audit log's last sequence
number and chain head); :func:`staleness` compares them with the registry's current state
(``gramops status --check``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.report.status import DOMAINS, StatusView
from gramops.report.status_sections import SPARK_HEIGHT, SPARK_WIDTH, drift_order

PAGE = Path("status/index.html")
# metrics file -> the stage that writes it (named in the error when one is missing)
INPUTS = {
    Path("metrics/drift.json"): "drift",
    Path("metrics/traffic.json"): "traffic",
    Path("metrics/cpqu.json"): "cpqu",
    Path("metrics/gate.json"): "gate",
    Path("plots/lineage.png"): "lineage",
    Path("plots/drift.png"): "drift",
}
AUDIT_LOG = Path("models/registry/index.jsonl")


@dataclass(frozen=True)
class Image:
    alt: str
    source: Path
    # the copy's file name in the page's directory
    name: str


IMAGES = (
    Image(
        "Model lineage: registry entries, parents and corpus",
        Path("plots/lineage.png"),
        "lineage.png",
    ),
    Image("Drift: reference vs current histograms", Path("plots/drift.png"), "drift.png"),
)
SEQ_META, HEAD_META = "gramops-registry-seq", "gramops-registry-head"


def check_inputs(root: Path, inputs: Mapping[Path, str] = INPUTS) -> None:
    """Raise one error naming every missing input and the stage that writes it."""
    missing = [
        f"{path} (stage {stage})" for path, stage in inputs.items() if not (root / path).exists()
    ]
    if missing:
        raise GramopsError(
            "status page: missing input " + ", ".join(missing) + "; run `dvc repro` first"
        )


def input_hashes(root: Path, paths: list[Path]) -> tuple[tuple[str, str], ...]:
    """(path, md5 of its bytes): the hash ``dvc.lock`` records for a file dependency."""
    return tuple(
        (path.as_posix(), hashlib.md5((root / path).read_bytes()).hexdigest()) for path in paths
    )


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f}%"


def _sci(value: float | None) -> str | None:
    return None if value is None else f"{value:.3g}"


def _cpu(value: float | None) -> str | None:
    return None if value is None else f"{value:,.0f}"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@cache
def _environment() -> Any:
    # jinja2 is imported here, not at module import: `gramops status --check` needs none
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("gramops.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, sci=_sci, cpu=_cpu, mb=_mb, short=short)
    return env


def render_html(view: StatusView, images: tuple[Image, ...] = IMAGES) -> str:
    """The page for ``view``, showing ``images`` (copied beside the page under their names)."""
    for image in images:
        if "/" in image.name or image.name.startswith("."):
            raise ValueError(f"status page image {image.name!r} must be a file name in status/")
    return (
        _environment()
        .get_template("status.html.j2")
        .render(
            view=view,
            images=images,
            domains=DOMAINS,
            drift_order=drift_order(view.drift.get("features", {})),
            spark_size=(SPARK_WIDTH, SPARK_HEIGHT),
            seq_meta=SEQ_META,
            head_meta=HEAD_META,
        )
    )


# -- staleness -------------------------------------------------------------------------------

_META = re.compile(r'<meta name="(?P<name>[a-z-]+)" content="(?P<value>[^"]*)">')


def stated_state(html: str) -> tuple[int, str] | None:
    """The (sequence number, chain head) a page says it reflects; None if it says none."""
    metas = {m["name"]: m["value"] for m in _META.finditer(html)}
    if SEQ_META not in metas or HEAD_META not in metas or not metas[SEQ_META].isdigit():
        return None
    return int(metas[SEQ_META]), metas[HEAD_META]


def staleness(
    page: Path,
    stated: tuple[int, str] | None,
    state: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Why ``page`` (stating ``stated``) no longer shows the registry ``state`` describes
    (:meth:`~gramops.registry.reader.RegistryReader.state`), in one line; None if current.
    ``history`` (the audit log's records) names the operations since the page's record."""
    rebuild = "rebuild it with `dvc repro status`"
    if stated is None:
        return f"{page} does not state the registry state it shows; {rebuild}"
    seq, head = stated
    if (seq, head) == (state["seq"], state["head"]):
        return None
    if seq == state["seq"]:
        return (
            f"{page} is stale: it shows audit log record {seq} with chain head {short(head)}, "
            f"the registry's record {seq} has head {short(state['head'])} (another history); "
            f"{rebuild}"
        )
    moved = state["seq"] - seq
    if moved > 0:
        ops = [str(r.get("op")) for r in history if int(r.get("seq") or 0) > seq]
        since = f"{moved} registry operation{'s' if moved != 1 else ''} since"
        since += f": {', '.join(ops)}" if ops else ""
    else:
        since = "the registry has fewer records than the page shows"
    return (
        f"{page} is stale: it shows audit log record {seq}, the registry is at record "
        f"{state['seq']} ({since}); {rebuild}"
    )
