"""Shadow, A/B and canary: what each deployment strategy would have shown on the replay.

Each takes a :class:`~gramops.monitoring.traffic_replay.Replay` (both models' answers to every
request) and uses only the answers its routing would have served, so the three are
comparable on the same requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from gramops.monitoring.traffic_replay import Replay, TrafficError, assign, routes, share
from gramops.monitoring.traffic_stats import required_sample_size, two_proportion_ztest

_SLOT = "[___]"
DEFAULT_CANARY_STEPS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 1.0)

SHADOW_QUESTION = (
    "Would the challenger answer live requests as well as the champion, "
    "without any user seeing its answers?"
)
AB_QUESTION = (
    "Do users served by the challenger get an acceptable verb form at a different rate "
    "than users served by the champion, beyond what chance explains?"
)
CANARY_QUESTION = (
    "Can the challenger's share of live traffic be raised step by step to 100% without it "
    "ever being significantly worse than the champion at any step?"
)


def marked_sentence(tokens: Sequence[str], verb_index: int) -> str:
    """The sentence with the verb slot blanked, as a reviewer would be shown it."""
    if not 0 <= verb_index < len(tokens):
        raise TrafficError(f"verb_index {verb_index} is outside the {len(tokens)} tokens")
    return " ".join(_SLOT if i == verb_index else t for i, t in enumerate(tokens))


def shadow(
    replay: Replay, fraction: float = 0.1, examples: int = 5, salt: str = "shadow"
) -> dict[str, Any]:
    """Shadow deployment: the champion answers every request, a fraction is mirrored.

    All rates are on the mirrored requests only, because those are the ones a real shadow
    would have challenger answers for. The comparison is paired (same requests), so the
    counts of requests only one model passes are reported too.
    """
    if examples < 0:
        raise TrafficError(f"examples is {examples}; it must be 0 or more")
    mirrored = assign(replay.request_ids, fraction, salt)
    idx = np.flatnonzero(mirrored)
    champ = np.asarray(replay.champion_forms, dtype=object)[idx]
    chall = np.asarray(replay.challenger_forms, dtype=object)[idx]
    differ = champ != chall
    champ_pass, chall_pass = replay.champion_pass[idx], replay.challenger_pass[idx]
    rows = []
    for i in idx[differ][:examples]:
        record = replay.records[i]
        rows.append(
            {
                "request_id": replay.request_ids[i],
                "sentence": marked_sentence(record["tokens"], int(record["verb_index"])),
                "gold": record["form"],
                "champion": replay.champion_forms[i],
                "challenger": replay.challenger_forms[i],
                "champion_pass": bool(replay.champion_pass[i]),
                "challenger_pass": bool(replay.challenger_pass[i]),
            }
        )
    return {
        "question": SHADOW_QUESTION,
        "fraction": fraction,
        "salt": salt,
        "n_requests": len(replay),
        "n_shadowed": int(idx.size),
        "champion_pass_rate_all": share(replay.champion_pass),
        "champion_pass_rate": share(champ_pass),
        "challenger_pass_rate": share(chall_pass),
        "champion_strict_accuracy": share(replay.champion_strict[idx]),
        "challenger_strict_accuracy": share(replay.challenger_strict[idx]),
        "disagreements": int(differ.sum()),
        "disagreement_rate": share(differ.astype(bool)),
        "champion_only_pass": int((champ_pass & ~chall_pass).sum()),
        "challenger_only_pass": int((chall_pass & ~champ_pass).sum()),
        "examples": rows,
    }


def ab_test(
    replay: Replay,
    fraction: float = 0.5,
    alpha: float = 0.05,
    mde: float = 0.05,
    power: float = 0.8,
    salt: str = "ab",
) -> dict[str, Any]:
    """A/B split: each request is answered by exactly one model, chosen by its hash.

    Unlike shadow the arms hold different requests, so the comparison is the unpaired z-test.
    ``required_per_arm`` is computed at the champion's observed pass rate, and
    ``adequately_powered`` says whether both arms reached it: a non-significant result from
    an underpowered test is "not enough data", not "no difference".
    """
    to_challenger = assign(replay.request_ids, fraction, salt)
    champ = replay.champion_pass[~to_challenger]
    chall = replay.challenger_pass[to_challenger]
    if champ.size == 0 or chall.size == 0:
        raise TrafficError(
            f"A/B fraction {fraction} over {len(replay)} requests leaves an arm empty "
            f"(champion {champ.size}, challenger {chall.size}); use a fraction strictly "
            "between 0 and 1 and more traffic"
        )
    test = two_proportion_ztest(int(champ.sum()), champ.size, int(chall.sum()), chall.size, alpha)
    baseline = float(champ.mean())
    # At a ceiling/floor baseline the effect is measured downwards (a regression).
    effect = mde if baseline + mde <= 1.0 else -mde
    required = required_sample_size(baseline, effect, alpha, power)
    return {
        "question": AB_QUESTION,
        "fraction": fraction,
        "salt": salt,
        "champion": {"n": int(champ.size), "pass_rate": share(champ)},
        "challenger": {"n": int(chall.size), "pass_rate": share(chall)},
        "test": test,
        "significant": bool(test["p_value"] is not None and test["p_value"] < alpha),
        "mde": mde,
        "power": power,
        "required_per_arm": required,
        "adequately_powered": bool(min(champ.size, chall.size) >= required),
    }


def canary(
    replay: Replay,
    steps: Sequence[float] = DEFAULT_CANARY_STEPS,
    alpha: float = 0.05,
    salt: str = "canary",
) -> dict[str, Any]:
    """Canary ramp: at each step the challenger serves requests whose route is below it.

    A step aborts the ramp when the challenger's pass rate on its canary requests is
    significantly below the champion's on the rest (one-sided ``p_worse < alpha``). At 100%
    no champion requests remain, so that step is recorded without a test. Each step looks
    at the data again at the same alpha, so over k steps the chance of a false abort is up
    to about k·alpha: the ramp is deliberately quick to abort, not to promote.
    """
    if not steps or any(not 0.0 < s <= 1.0 for s in steps):
        raise TrafficError(f"canary steps {list(steps)} must be non-empty fractions in (0, 1]")
    if any(b <= a for a, b in pairwise(steps)):
        raise TrafficError(f"canary steps {list(steps)} must be strictly increasing")
    position = routes(replay.request_ids, salt)
    reports = []
    stopped_at: float | None = None
    for step in steps:
        in_canary = position < step
        chall = replay.challenger_pass[in_canary]
        champ = replay.champion_pass[~in_canary]
        report: dict[str, Any] = {
            "fraction": step,
            "n_challenger": int(chall.size),
            "n_champion": int(champ.size),
            "challenger_pass_rate": share(chall),
            "champion_pass_rate": share(champ),
            "diff": None,
            "p_value": None,
            "p_worse": None,
            "aborted": False,
        }
        if chall.size and champ.size:
            test = two_proportion_ztest(
                int(champ.sum()), champ.size, int(chall.sum()), chall.size, alpha
            )
            worse = test["p_worse"] is not None and test["p_worse"] < alpha
            report |= {
                "diff": test["diff"],
                "p_value": test["p_value"],
                "p_worse": test["p_worse"],
                "aborted": bool(worse and (test["diff"] or 0.0) < 0),
            }
        reports.append(report)
        if report["aborted"]:
            stopped_at = step
            break
    return {
        "question": CANARY_QUESTION,
        "salt": salt,
        "alpha": alpha,
        "steps": reports,
        "stopped_at": stopped_at,
        "completed": stopped_at is None,
    }
