"""The traffic comparison on a captured request log: agreement, not quality.

Logged requests carry no gold answer, so every statistic that scores an answer against
gold cannot be computed on them: pass rate and strict accuracy, and everything built on
them (the shadow's pass rates, the A/B z-test, the canary's abort test, the gate's
non-inferiority on current traffic). On logged traffic the report gives what needs no
gold: the two models' answers side by side, how often they agree, every disagreement, and
each model's confidence. Quality stays on the labelled reference split (the slices here,
the gate's reference non-inferiority and slice rules).

Answers come from the log where it has them: the served model's answer, and the shadow's
when the server shadowed the call, each used for whichever of production and candidate
its SHA is. Only the answers the log lacks (a model that neither served nor shadowed the
request) are computed by the stage, and the report counts both kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gramops.monitoring.stats import rounded

Answer = dict[str, Any]
Predict = Callable[[Sequence[Mapping[str, Any]]], list[Answer]]

DISAGREEMENTS_LISTED = 100
"""Disagreements listed in full (traffic.json and TRAFFIC.md); the rest are counted."""

AGREEMENT_QUESTION = (
    "On the requests users actually sent, where would the candidate have answered "
    "differently from production, and how sure was each model?"
)
NEEDS_GOLD = {
    "pass_rate": "a pass needs the request's acceptable forms (gold)",
    "strict_accuracy": "needs the gold form",
    "ab_test": "the z-test compares the arms' pass rates",
    "canary": "each step tests the canary's pass rate against production's",
    "noninferiority_traffic": "the gate's traffic rule compares pass rates",
}


def logged_answer(record: Mapping[str, Any], sha: str) -> Answer | None:
    """The answer the log holds from model ``sha`` for ``record``: the served one or the
    shadow's, or None when that model neither served nor shadowed it."""
    for side in ("served", "shadow"):
        answer = record.get(side)
        if answer is not None and answer["sha"] == sha:
            return answer
    return None


def answers_of(
    records: Sequence[Mapping[str, Any]], sha: str, predict: Predict
) -> tuple[list[Answer], int]:
    """Model ``sha``'s answer to every record (logged where present, else from
    ``predict`` on the records missing one) and how many were logged."""
    answers = [logged_answer(r, sha) for r in records]
    missing = [i for i, a in enumerate(answers) if a is None]
    if missing:
        for i, answer in zip(missing, predict([records[i] for i in missing]), strict=True):
            answers[i] = answer
    return [a for a in answers if a is not None], len(records) - len(missing)


def agreement(
    records: Sequence[Mapping[str, Any]],
    shas: tuple[str, str],
    production: Sequence[Answer],
    candidate: Sequence[Answer],
    logged: Mapping[str, int],
) -> dict[str, Any]:
    """Agreement of ``production`` and ``candidate`` answers on ``records`` (aligned by
    position); ``shas`` = (production, candidate); ``logged`` = each model's count of
    answers read from the log."""
    prod = np.array([a["form"] for a in production], dtype=object)
    cand = np.array([a["form"] for a in candidate], dtype=object)
    differ = prod != cand
    both_logged = np.array(
        [all(logged_answer(r, sha) is not None for sha in shas) for r in records], dtype=bool
    )
    rows = [
        {
            "request_id": records[i]["request_id"],
            "time": records[i]["time"],
            "sentence": records[i]["sentence"],
            "lemma": records[i]["lemma"],
            "production": production[i]["form"],
            "production_confidence": rounded(production[i]["confidence"]),
            "candidate": candidate[i]["form"],
            "candidate_confidence": rounded(candidate[i]["confidence"]),
            "both_logged": bool(both_logged[i]),
        }
        for i in np.flatnonzero(differ)[:DISAGREEMENTS_LISTED]
    ]
    n = len(records)
    return {
        "question": AGREEMENT_QUESTION,
        "n_requests": n,
        "answers_logged": dict(logged),
        "agreements": int(n - differ.sum()),
        "disagreements": int(differ.sum()),
        "agreement_rate": rounded(1 - differ.mean()),
        # the live shadow: requests the server answered with both models
        "both_logged": {
            "n": int(both_logged.sum()),
            "disagreements": int((differ & both_logged).sum()),
        },
        "confidence": {
            side: {
                "mean": rounded(float(np.mean(c))),
                "mean_when_agreeing": _mean(c, ~differ),
                "mean_when_disagreeing": _mean(c, differ),
            }
            for side, c in (
                ("production", [a["confidence"] for a in production]),
                ("candidate", [a["confidence"] for a in candidate]),
            )
        },
        "listed": rows,
    }


def _mean(values: Sequence[float], mask: np.ndarray) -> float | None:
    chosen = np.asarray(values, dtype=float)[mask]
    return rounded(float(chosen.mean())) if chosen.size else None


def agreement_markdown(result: Mapping[str, Any], production: str, candidate: str) -> str:
    """``metrics/TRAFFIC.md`` for logged traffic: agreement, disagreements, what needs gold."""
    a = result["agreement"]
    conf = a["confidence"]
    lines = [
        f"# Traffic: `{candidate}` (candidate) vs `{production}` (production) on logged traffic",
        "",
        f"Week {result['week']} of the captured request log: {a['n_requests']} requests. "
        "Their gold answers are not known, so this report compares the two models' answers "
        "with each other; quality is judged on the labelled reference split (slices below).",
        "",
        "## Agreement",
        f"*Question:* {a['question']}",
        "",
        f"The answers agree on {a['agreements']} of {a['n_requests']} requests "
        f"({_pct(a['agreement_rate'])}) and differ on {a['disagreements']}. Answers read from "
        f"the log: production {a['answers_logged']['production']}, candidate "
        f"{a['answers_logged']['candidate']} (the rest computed by this stage); both logged "
        f"(the live shadow): {a['both_logged']['n']} requests, "
        f"{a['both_logged']['disagreements']} disagreements.",
        "",
        "| confidence | production | candidate |",
        "|---|---|---|",
    ]
    for key, label in (
        ("mean", "mean"),
        ("mean_when_agreeing", "when they agree"),
        ("mean_when_disagreeing", "when they differ"),
    ):
        lines.append(
            f"| {label} | {_num(conf['production'][key])} | {_num(conf['candidate'][key])} |"
        )
    if a["listed"]:
        more = a["disagreements"] - len(a["listed"])
        lines += [
            "",
            "## Disagreements",
            "",
            "| request | sentence | lemma | production | candidate | both logged |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(row['request_id'])} | {_cell(row['sentence'])} | {_cell(row['lemma'])} "
            f"| {_cell(row['production'])} ({row['production_confidence']:.2f}) "
            f"| {_cell(row['candidate'])} ({row['candidate_confidence']:.2f}) "
            f"| {'yes' if row['both_logged'] else 'no'} |"
            for row in a["listed"]
        ]
        if more > 0:
            lines += ["", f"… and {more} more (metrics/traffic.json counts them)."]
    lines += ["", "## Not computed: needs gold answers", ""]
    lines += [f"- {name}: {why}" for name, why in result["needs_gold"].items()]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|")
