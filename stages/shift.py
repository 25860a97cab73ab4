"""Stage shift: synthetic "live traffic" from the held-out split, shifted by params."""

import logging
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json, write_jsonl
from gramops.core.stage import load_params, run
from gramops.monitoring.shift import make_traffic, verb_domain, week_summaries

CORPUS = Path("data/processed")
log = logging.getLogger("stages.shift")


def main() -> None:
    (params,) = load_params("shift")
    reference = verb_domain(read_jsonl(CORPUS / "train.jsonl"))
    traffic = make_traffic(list(read_jsonl(CORPUS / "test.jsonl")), reference, params)
    write_jsonl(Path("data/shifted/traffic.jsonl"), traffic)
    weeks = week_summaries(traffic, params.weeks)
    for week, summary in enumerate(weeks.values(), start=1):
        log.info("week %d: %s", week, summary)
    write_json(
        Path("metrics/shift.json"),
        {"kind": params.kind, "intensity": params.intensity, "weeks": weeks},
    )


if __name__ == "__main__":
    run(main)
