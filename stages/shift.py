"""Stage shift: the live traffic the monitoring stages read (data/shifted/traffic.jsonl).

`shift.source: synthetic` resamples the held-out split, shifted by params
(gramops.monitoring.shift); `log` reads a captured `gramops serve` request log
(`shift.log`, under the declared dependency data/requests/; gramops.monitoring.logged_traffic).
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json, write_jsonl
from gramops.core.stage import load_params, run
from gramops.monitoring.shift import make_traffic, verb_domain, week_summaries

CORPUS = Path("data/processed")
log = logging.getLogger("stages.shift")


def main() -> None:
    (params,) = load_params("shift")
    if params.source == "log":
        # imported here: parsing a request log (pydantic, the request schema) is what only
        # this source needs, and a synthetic shift variant should not pay for it
        from gramops.monitoring.logged_traffic import log_traffic, log_week_summaries, read_log

        lines = read_log(Path(params.log))
        traffic, refused = log_traffic(lines, params.log)
        weeks = log_week_summaries(traffic)
        summary = {"source": "log", "log": params.log, "lines": len(lines), "refused": refused}
    else:
        reference = verb_domain(read_jsonl(CORPUS / "train.jsonl"))
        traffic = make_traffic(list(read_jsonl(CORPUS / "test.jsonl")), reference, params)
        weeks = week_summaries(traffic, params.weeks)
        summary = {"kind": params.kind, "intensity": params.intensity}
    write_jsonl(Path("data/shifted/traffic.jsonl"), traffic)
    for week, figures in weeks.items():
        log.info("%s: %s", week, figures)
    write_json(Path("metrics/shift.json"), {**summary, "weeks": weeks})


if __name__ == "__main__":
    run(main)
