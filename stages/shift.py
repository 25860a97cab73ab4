"""Stage shift: synthetic "live traffic" from the held-out split, shifted by params."""

import logging
from collections import Counter
from pathlib import Path

from gramops.core.fileio import read_jsonl, write_json, write_jsonl
from gramops.core.stage import load_params, run
from gramops.monitoring.shift import make_traffic

CORPUS = Path("data/processed")
OUT = Path("data/shifted/traffic.jsonl")
log = logging.getLogger("stages.shift")


def main() -> None:
    (params,) = load_params("shift")
    reference = [r for r in read_jsonl(CORPUS / "train.jsonl") if r["domain"] == "verb"]
    pool = list(read_jsonl(CORPUS / "test.jsonl"))
    traffic = make_traffic(pool, reference, params)
    write_jsonl(OUT, traffic)
    weeks = {}
    for week in range(1, params.weeks + 1):
        batch = [r for r in traffic if r["week"] == week]
        tags = Counter(r["tag"] for r in batch)
        weeks[f"week_{week:02d}"] = {
            "requests": len(batch),
            "tutor_share": round(sum(r["domain"] == "tutor" for r in batch) / len(batch), 4),
            "mean_tokens": round(sum(len(r["tokens"]) for r in batch) / len(batch), 3),
            "past_share": round(tags["VBD"] / len(batch), 4),
        }
        log.info("week %d: %s", week, weeks[f"week_{week:02d}"])
    write_json(
        Path("metrics/shift.json"),
        {"kind": params.kind, "intensity": params.intensity, "weeks": weeks},
    )


if __name__ == "__main__":
    run(main)
