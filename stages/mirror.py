"""Stage mirror (last): stage results and the model registry into MLflow, metrics/mirror.json.

MLflow is checked first, so an unreachable server fails before the registry is touched;
every stage before this one stays done and the next `dvc repro` re-runs only this one.
"""

import os
from pathlib import Path
from typing import Any

from gramops.jsonio import write_json
from gramops.pipeline import collect_stage_results, git_commit
from gramops.registry import Registry
from gramops.stage import run
from gramops.tracking import (
    connect,
    default_tracking_uri,
    mirror_model_registry,
    mirror_stage_results,
    mirror_summary,
)

ROOT = Path(".")
OUT = Path("metrics/mirror.json")


def registration_order(registry: Registry) -> list[dict[str, Any]]:
    """Entries in the order they were registered: MLflow numbers versions in this order."""
    entries = registry.entries()
    seq = {r["sha"]: r["seq"] for r in registry.history() if r.get("op") == "register"}
    return [entries[sha] for sha in sorted(entries, key=lambda s: (seq.get(s, 1 << 62), s))]


def main() -> None:
    tracker = connect(default_tracking_uri(ROOT))
    results = collect_stage_results(ROOT, skip=("mirror",))
    mirror_stage_results(
        tracker,
        results,
        ROOT,
        git_commit=git_commit(ROOT),
        dvc_exp=os.environ.get("DVC_EXP_NAME"),
    )
    registry = Registry(actor="stage:mirror")
    entries = registration_order(registry)
    models = mirror_model_registry(
        tracker,
        entries,
        semvers={e["sha"]: registry.semvers_of(e["sha"]) for e in entries},
        aliases=registry.aliases(),
        materialize=lambda sha, dest: (
            registry.materialize(sha, dest) if registry.objects_present(sha) else None
        ),
    )
    for sha, pointer in models.pointers.items():
        registry.annotate(sha, "mlflow", pointer)
    write_json(OUT, mirror_summary(results, models))


if __name__ == "__main__":
    run(main)
