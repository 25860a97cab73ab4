"""Stage traffic: replay this week's traffic through shadow, A/B and canary routers.

Champion = the `production` alias, challenger = `traffic.challenger` (a ref, or a family
name for its newest entry). Both models answer every request offline; each strategy then
sees only the answers its routing would have served, so all three are computed from one
replay and are deterministic per request id.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np

from gramops import traffic
from gramops.jsonio import read_jsonl, write_json
from gramops.monitoring import load_registered, resolve_challenger
from gramops.registry import Registry
from gramops.stage import load_params, run

TRAFFIC = Path("data/shifted/traffic.jsonl")
log = logging.getLogger("stages.traffic")


def main() -> None:
    (params,) = load_params("traffic")
    requests = list(read_jsonl(TRAFFIC))
    latest = max(r["week"] for r in requests)
    current = [r for r in requests if r["week"] == latest]
    registry = Registry(actor="stage:traffic")
    challenger_sha = resolve_challenger(registry, params.challenger)
    with tempfile.TemporaryDirectory(prefix="gramops-traffic-") as tmp:
        champion_sha, champion = load_registered(registry, "production", Path(tmp))
        _, challenger = load_registered(registry, challenger_sha, Path(tmp))
        answers = {"champion": champion.predict(current), "challenger": challenger.predict(current)}
    forms = {arm: p.forms for arm, p in answers.items()}
    passed = {
        arm: np.array([f in r["acceptable"] for f, r in zip(forms[arm], current, strict=True)])
        for arm in answers
    }
    strict = {
        arm: np.array([f == r["form"] for f, r in zip(forms[arm], current, strict=True)])
        for arm in answers
    }
    ids = [r["request_id"] for r in current]
    replay = traffic.Replay.build(
        request_ids=ids,
        records=current,
        champion_pass=passed["champion"],
        challenger_pass=passed["challenger"],
        champion_strict=strict["champion"],
        challenger_strict=strict["challenger"],
        champion_forms=forms["champion"],
        challenger_forms=forms["challenger"],
    )
    shadow = traffic.shadow(replay, params.shadow_fraction, params.examples)
    ab = traffic.ab_test(replay, params.ab_split, params.alpha, params.mde, params.power)
    canary = traffic.canary(replay, params.canary_steps, params.alpha)

    def who(sha: str) -> dict:
        return {
            "sha": sha[:12],
            "semvers": registry.semvers_of(sha),
            "family": registry.entry(sha)["family"],
        }

    write_json(
        Path("metrics/traffic.json"),
        {
            "champion": who(champion_sha),
            "challenger": who(challenger_sha),
            "requests": len(current),
            "week": current[0]["week"],
            # every request answered by both: the full comparison the gate uses
            "replay": {
                arm: {
                    "passed": int(passed[arm].sum()),
                    "n": len(current),
                    "pass_rate": round(float(passed[arm].mean()), 6),
                }
                for arm in passed
            },
            "shadow": shadow,
            "ab": ab,
            "canary": canary,
        },
    )
    Path("plots").mkdir(exist_ok=True)
    with Path("plots/canary.csv").open("w", encoding="utf-8") as fh:
        fh.write("step,arm,pass_rate\n")
        for step in canary["steps"]:
            for arm in ("champion", "challenger"):
                rate = step[f"{arm}_pass_rate"]
                if rate is not None:
                    fh.write(f"{step['fraction']},{arm},{rate}\n")
    label = {
        sha: f"{who(sha)['family']} {', '.join(who(sha)['semvers'])} ({sha[:12]})"
        for sha in (champion_sha, challenger_sha)
    }
    Path("metrics/TRAFFIC.md").write_text(
        traffic.report_markdown(shadow, ab, canary, label[champion_sha], label[challenger_sha]),
        encoding="utf-8",
    )
    log.info(
        "champion %s vs challenger %s: A/B p=%s, canary %s",
        label[champion_sha],
        label[challenger_sha],
        ab["test"]["p_value"],
        "completed" if canary["completed"] else f"aborted at {canary['stopped_at']}",
    )


if __name__ == "__main__":
    run(main)
