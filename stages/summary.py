"""Stage summary: the headline metrics (metrics/summary.json), the one file dvc.yaml
declares as metrics, so `dvc metrics show`, `dvc metrics diff` and `dvc exp show` lead with
it. It repeats numbers of the detail files (gramops.report.summary says which); those are
shown with `dvc metrics show metrics/<file>.json`.
"""

import json
from pathlib import Path

from gramops.core.fileio import read_json, write_text
from gramops.core.stage import run
from gramops.report.summary import headline

METRICS = Path("metrics")
# headline() argument: the detail file it reads
DETAIL = {"built": "registry", "gate": "gate", "drift": "drift", "costs": "cpqu", "shift": "shift"}


def main() -> None:
    detail = {arg: read_json(METRICS / f"{name}.json") for arg, name in DETAIL.items()}
    # in headline()'s order, not sorted: DVC shows the keys as the file orders them
    text = json.dumps(headline(**detail), indent=2, ensure_ascii=False) + "\n"
    write_text(METRICS / "summary.json", text)


if __name__ == "__main__":
    run(main)
