"""Stage mirror (last): stage results, and registry entries as versions of one loadable MLflow
Model (`gramops`, with the registry's aliases), into MLflow; metrics/mirror.json.

MLflow is checked first, so an unreachable server fails before anything is logged; every
stage before this one stays done and the next `dvc repro` re-runs only this one. The
registry is only read: the MLflow pointers go into metrics/mirror.json (run ids into
metrics/mirror_runs.json), never back into
the registry (a stage writing what it and others depend on never lets the pipeline settle).
The stage times the runs were given are cleared once logged: a time left there would be
taken for a later result's, which may come from DVC's run-cache without running.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import os
from pathlib import Path

from gramops.core.fileio import write_json
from gramops.core.stage import STAGE_TIMES, run
from gramops.registry.store import Registry
from gramops.tracking.connect import connect, default_tracking_uri
from gramops.tracking.models import mirror_registry, mirror_run_ids, mirror_summary
from gramops.tracking.pipeline import collect_stage_results, git_commit
from gramops.tracking.runs import mirror_stage_results

ROOT = Path(".")
OUT = Path("metrics/mirror.json")
# run ids are this MLflow store's own: beside the output, not in it (dvc.lock stays the same)
RUN_IDS = Path("metrics/mirror_runs.json")


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
    models = mirror_registry(tracker, Registry(actor="stage:mirror"))
    write_json(RUN_IDS, mirror_run_ids(models))
    write_json(OUT, mirror_summary(results, models))
    STAGE_TIMES.unlink(missing_ok=True)


if __name__ == "__main__":
    run(main)
