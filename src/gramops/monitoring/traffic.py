"""Replaying traffic through a champion and a challenger: shadow, A/B and canary.

Both models have already answered every request of the replayed traffic (the stage runs
them); this module only decides which answers each strategy would have *used* and what
they say. That makes the three strategies comparable on the same requests and keeps all
of it pure: arrays in, JSON-ready dicts out.

Routing hashes ``f"{salt}:{request_id}"`` with SHA-256 instead of drawing random numbers
or using ``hash()`` (salted per process): the same request always takes the same arm, in
every run and every process, which is what a real router keyed on a request or user id
does. Each strategy has its own salt so its split is independent of the others'. Canary
steps compare the route value with a growing threshold, so the requests in the canary at
1% are still in it at 5%: a ramp only ever adds requests, it never reshuffles them.

When the candidate is production itself there is nothing to compare: :func:`report` then
says so instead of running the strategies, because an A/B test or a canary of a model
against itself shows nothing but sampling noise.

Slices (:func:`slices`) count passes and strict hits per group of reference records a
tutor's users feel (each gold Penn tag, irregular vs regular verbs, each domain), for the
gate's slice rule; the statistics on them live in :mod:`gramops.monitoring.gate`.

Statistics use the pooled two-proportion z-test (the test that is exact-equivalent to the
2x2 chi-square test without continuity correction), with the confidence interval of the
difference from the unpooled standard error (the pooled one is only valid under the null
of no difference, which the interval is not conditioned on).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.corpus.inflection import is_irregular

_ROUND = 6
_SLOT = "[___]"
DEFAULT_CANARY_STEPS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 1.0)

# The standard normal from the stdlib: scipy.stats costs about a second of import in the
# stage that loads this module, for a quantile and a tail probability.
_NORMAL = NormalDist()


def _tail(x: float) -> float:
    """P(Z > x) for a standard normal, via erfc so small tails keep their precision."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


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


class TrafficError(GramopsError):
    """Replay inputs or strategy settings that cannot be evaluated."""


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), _ROUND)


def _rate(flags: NDArray[np.bool_]) -> float | None:
    """Share of True, or None for no requests (a rate of 0/0 is unknown, not zero)."""
    return _r(flags.mean()) if flags.size else None


# --------------------------------------------------------------------------- routing


def route(request_id: str, salt: str) -> float:
    """Deterministic position of ``request_id`` in [0, 1) for the router keyed by ``salt``.

    The top 53 bits of the digest are used so the division by 2**53 is exact in a float and
    can never round up to 1.0.
    """
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def routes(request_ids: Sequence[str], salt: str) -> NDArray[np.float64]:
    """:func:`route` of every request, in order."""
    return np.fromiter(
        (route(i, salt) for i in request_ids), dtype=np.float64, count=len(request_ids)
    )


def _check_fraction(fraction: float, name: str) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise TrafficError(f"{name} is {fraction}; it must be a fraction in [0, 1]")


def assign(request_ids: Sequence[str], fraction: float, salt: str) -> NDArray[np.bool_]:
    """Which requests go to the challenger (True) when ``fraction`` of traffic is routed to it."""
    _check_fraction(fraction, "fraction")
    return routes(request_ids, salt) < fraction


# --------------------------------------------------------------------------- statistics


def two_proportion_ztest(
    x1: int, n1: int, x2: int, n2: int, alpha: float = 0.05
) -> dict[str, float | None]:
    """Pooled z-test of p2 = p1 (arm 2 = challenger, arm 1 = champion).

    Returns ``z``, the two-sided ``p_value``, ``p_worse`` (one-sided: evidence that arm 2 is
    worse, used by the canary's abort rule), ``diff`` = p2 - p1 and its ``1 - alpha``
    confidence interval from the unpooled standard error. When both arms are all-pass or
    all-fail the pooled variance is 0 and there is no evidence of a difference: z = 0, p = 1.
    """
    for name, x, n in (("x1", x1, n1), ("x2", x2, n2)):
        if n <= 0:
            raise TrafficError(f"{name}: its arm has n = {n} requests; each arm needs at least 1")
        if not 0 <= x <= n:
            raise TrafficError(f"{name} = {x} passes out of n = {n}; it must be in [0, n]")
    if not 0.0 < alpha < 1.0:
        raise TrafficError(f"alpha is {alpha}; it must be in (0, 1)")
    p1, p2 = x1 / n1, x2 / n2
    diff = p2 - p1
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = diff / se_pooled if se_pooled > 0 else 0.0
    se = math.sqrt(p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2)
    half = _NORMAL.inv_cdf(1.0 - alpha / 2.0) * se
    return {
        "p1": _r(p1),
        "p2": _r(p2),
        "n1": n1,
        "n2": n2,
        "diff": _r(diff),
        "z": _r(z),
        "p_value": _r(2.0 * _tail(abs(z))),
        "p_worse": _r(_tail(-z)),
        "ci_low": _r(diff - half),
        "ci_high": _r(diff + half),
        "alpha": alpha,
    }


def required_sample_size(p: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Requests per arm for the pooled two-sided test to detect ``p`` → ``p + mde``.

    The textbook formula (Fleiss, no continuity correction), which uses the pooled variance
    under the null and the separate variances under the alternative, matching the test:
    n = (z_{1-α/2}·√(2·p̄(1-p̄)) + z_{power}·√(p1(1-p1) + p2(1-p2)))² / mde², p̄ = (p1+p2)/2.
    """
    if not 0.0 <= p <= 1.0:
        raise TrafficError(f"p is {p}; the baseline pass rate must be in [0, 1]")
    if mde == 0 or not 0.0 <= p + mde <= 1.0:
        raise TrafficError(
            f"mde is {mde}; it must be non-zero with p + mde = {p + mde} inside [0, 1]"
        )
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise TrafficError(f"alpha {alpha} and power {power} must both be in (0, 1)")
    p1, p2 = p, p + mde
    mean = (p1 + p2) / 2.0
    z_alpha = _NORMAL.inv_cdf(1.0 - alpha / 2.0)
    z_power = _NORMAL.inv_cdf(power)
    root = z_alpha * math.sqrt(2.0 * mean * (1.0 - mean)) + z_power * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    # The epsilon keeps float noise (e.g. 387.0000000001) from adding a whole request.
    return math.ceil(root**2 / mde**2 - 1e-9)


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Replay:
    """Both models' answers to every replayed request, aligned by position.

    ``*_pass`` is True when the predicted form is in the record's acceptable set;
    ``*_strict`` when it equals the gold form. ``records`` carry ``tokens``, ``verb_index``
    and ``form`` (gold) for the example rows.
    """

    request_ids: Sequence[str]
    champion_pass: NDArray[np.bool_]
    challenger_pass: NDArray[np.bool_]
    champion_strict: NDArray[np.bool_]
    challenger_strict: NDArray[np.bool_]
    champion_forms: Sequence[str]
    challenger_forms: Sequence[str]
    records: Sequence[Mapping[str, Any]]

    @classmethod
    def build(
        cls,
        request_ids: Sequence[str],
        champion_pass: ArrayLike,
        challenger_pass: ArrayLike,
        champion_strict: ArrayLike,
        challenger_strict: ArrayLike,
        champion_forms: Sequence[str],
        challenger_forms: Sequence[str],
        records: Sequence[Mapping[str, Any]],
    ) -> Replay:
        """Validate lengths and uniqueness once, so every strategy can index freely."""
        n = len(request_ids)
        if len(set(request_ids)) != n:
            raise TrafficError("request_ids contain duplicates; each request needs a unique id")
        arrays = {
            "champion_pass": np.asarray(champion_pass, dtype=bool),
            "challenger_pass": np.asarray(challenger_pass, dtype=bool),
            "champion_strict": np.asarray(champion_strict, dtype=bool),
            "challenger_strict": np.asarray(challenger_strict, dtype=bool),
        }
        sizes = {name: len(a) for name, a in arrays.items()}
        sizes |= {
            "champion_forms": len(champion_forms),
            "challenger_forms": len(challenger_forms),
            "records": len(records),
        }
        wrong = {name: size for name, size in sizes.items() if size != n}
        if wrong:
            raise TrafficError(
                f"{len(request_ids)} request_ids but lengths {wrong}; every input must have "
                "one entry per request, in the same order"
            )
        return cls(
            request_ids=list(request_ids),
            champion_forms=list(champion_forms),
            challenger_forms=list(challenger_forms),
            records=list(records),
            **arrays,
        )

    def __len__(self) -> int:
        return len(self.request_ids)


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
        "champion_pass_rate_all": _rate(replay.champion_pass),
        "champion_pass_rate": _rate(champ_pass),
        "challenger_pass_rate": _rate(chall_pass),
        "champion_strict_accuracy": _rate(replay.champion_strict[idx]),
        "challenger_strict_accuracy": _rate(replay.challenger_strict[idx]),
        "disagreements": int(differ.sum()),
        "disagreement_rate": _rate(differ.astype(bool)),
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
        "champion": {"n": int(champ.size), "pass_rate": _rate(champ)},
        "challenger": {"n": int(chall.size), "pass_rate": _rate(chall)},
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
            "challenger_pass_rate": _rate(chall),
            "champion_pass_rate": _rate(champ),
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


# --------------------------------------------------------------------------- report


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def _p(value: float | None) -> str:
    """A p-value for people: values rounded to 0 are shown as below the rounding step."""
    if value is None:
        return "n/a"
    return f"< {10.0**-_ROUND:g}" if value < 10.0**-_ROUND else f"{value:.4g}"


def _p_clause(value: float | None) -> str:
    text = _p(value)
    return text if text.startswith("<") else f"= {text}"


def _cell(value: object) -> str:
    """Escape pipes so a token like ``|`` cannot split a markdown table cell."""
    return str(value).replace("|", "\\|")


def report_markdown(
    shadow: Mapping[str, Any],
    ab: Mapping[str, Any],
    canary: Mapping[str, Any],
    champion: str,
    challenger: str,
) -> str:
    """A short human-readable report: for each strategy, the question and its answer."""
    test = ab["test"]
    verdict = "significant" if ab["significant"] else "not significant"
    power = "" if ab["adequately_powered"] else " (under-powered: more traffic needed)"
    if canary["completed"]:
        outcome = "reached 100% without a significant regression"
    else:
        outcome = f"aborted at {_pct(canary['stopped_at'])}: the challenger was significantly worse"
    lines = [
        f"# Traffic replay: `{challenger}` (challenger) vs `{champion}` (champion)",
        "",
        "## Shadow",
        f"*Question:* {shadow['question']}",
        "",
        f"On {shadow['n_shadowed']} mirrored requests ({_pct(shadow['fraction'])} of "
        f"{shadow['n_requests']}): pass rate {_pct(shadow['champion_pass_rate'])} (champion) "
        f"vs {_pct(shadow['challenger_pass_rate'])} (challenger); strict accuracy "
        f"{_pct(shadow['champion_strict_accuracy'])} vs "
        f"{_pct(shadow['challenger_strict_accuracy'])}; the answers differ on "
        f"{shadow['disagreements']} ({_pct(shadow['disagreement_rate'])}).",
    ]
    if shadow["examples"]:
        lines += ["", "| sentence | gold | champion | challenger |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(row['sentence'])} | {_cell(row['gold'])} | {_cell(row['champion'])} | "
            f"{_cell(row['challenger'])} |"
            for row in shadow["examples"]
        ]
    lines += [
        "",
        "## A/B test",
        f"*Question:* {ab['question']}",
        "",
        f"Champion {_pct(ab['champion']['pass_rate'])} (n = {ab['champion']['n']}), challenger "
        f"{_pct(ab['challenger']['pass_rate'])} (n = {ab['challenger']['n']}): difference "
        f"{test['diff']:+.4f}, {100 * (1 - test['alpha']):.0f}% CI "
        f"[{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], z = {test['z']:.3f}, "
        f"p {_p_clause(test['p_value'])}: {verdict}{power}. Detecting a difference of "
        f"{ab['mde']} at power {ab['power']} needs {ab['required_per_arm']} requests per arm.",
        "",
        "## Canary",
        f"*Question:* {canary['question']}",
        "",
        f"The ramp {outcome}.",
        "",
        "| step | n challenger | challenger pass | champion pass | p (worse) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_pct(s['fraction'])} | {s['n_challenger']} | {_pct(s['challenger_pass_rate'])} | "
        f"{_pct(s['champion_pass_rate'])} | "
        f"{_p(s['p_worse'])} |"
        for s in canary["steps"]
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- slices


def outcomes(
    records: Sequence[Mapping[str, Any]], forms: Sequence[str]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per record: did the predicted form pass (in ``acceptable``) and hit the gold form."""
    if len(forms) != len(records):
        raise TrafficError(f"{len(forms)} predicted forms for {len(records)} records")
    passed = np.array([f in r["acceptable"] for f, r in zip(forms, records, strict=True)], bool)
    strict = np.array([f == r["form"] for f, r in zip(forms, records, strict=True)], bool)
    return passed, strict


def slice_names(record: Mapping[str, Any]) -> list[str]:
    """The slices a record belongs to: its gold tag, its verb's regularity, its domain.

    Names use a colon (``tag:VBD``), not ``=``: the mirror logs traffic.json as MLflow
    metrics, whose names may not contain ``=``.
    """
    regularity = "irregular" if is_irregular(record["lemma"]) else "regular"
    return [f"tag:{record['tag']}", f"verb:{regularity}", f"domain:{record['domain']}"]


def slice_counts(
    records: Sequence[Mapping[str, Any]], forms: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Slice name -> ``{"n", "passed", "strict"}`` for one model's ``forms``."""
    passed, strict = outcomes(records, forms)
    counts: dict[str, dict[str, int]] = {}
    for record, ok, exact in zip(records, passed, strict, strict=True):
        for name in slice_names(record):
            row = counts.setdefault(name, {"n": 0, "passed": 0, "strict": 0})
            row["n"] += 1
            row["passed"] += int(ok)
            row["strict"] += int(exact)
    return dict(sorted(counts.items()))


def slices(
    records: Sequence[Mapping[str, Any]],
    candidate_forms: Sequence[str],
    production_forms: Sequence[str],
) -> dict[str, dict[str, dict[str, int]]]:
    """Slice name -> ``{"candidate": counts, "production": counts}`` on the same records."""
    candidate = slice_counts(records, candidate_forms)
    production = slice_counts(records, production_forms)
    return {
        name: {"candidate": candidate[name], "production": production[name]} for name in candidate
    }


# --------------------------------------------------------------------------- the stage's report


class Settings(Protocol):
    """What :func:`comparison` needs from ``params.yaml:traffic`` (``TrafficParams``)."""

    shadow_fraction: float
    ab_split: float
    canary_steps: list[float]
    alpha: float
    mde: float
    power: float
    examples: int


@dataclass(frozen=True)
class Model:
    """A registered model as the report names it."""

    sha: str
    family: str
    semvers: Sequence[str]

    @property
    def label(self) -> str:
        return f"{self.family} {', '.join(self.semvers) or 'untagged'} ({short(self.sha)})"

    def summary(self) -> dict[str, Any]:
        return {"sha": short(self.sha), "semvers": list(self.semvers), "family": self.family}


def comparison(
    current: Sequence[Mapping[str, Any]],
    production_forms: Sequence[str],
    candidate_forms: Sequence[str],
    reference: Sequence[Mapping[str, Any]],
    reference_production_forms: Sequence[str],
    reference_candidate_forms: Sequence[str],
    settings: Settings,
) -> dict[str, Any]:
    """Shadow, A/B and canary on this week's traffic (``current``, records with a
    ``request_id`` and ``week``), every request's counts for the gate, and the slices of the
    reference split."""
    if not current:
        raise TrafficError("no requests in this week's traffic: nothing to replay")
    passed = dict(
        zip(
            ("champion", "challenger"),
            (outcomes(current, production_forms), outcomes(current, candidate_forms)),
            strict=True,
        )
    )
    replay = Replay.build(
        request_ids=[r["request_id"] for r in current],
        records=current,
        champion_pass=passed["champion"][0],
        challenger_pass=passed["challenger"][0],
        champion_strict=passed["champion"][1],
        challenger_strict=passed["challenger"][1],
        champion_forms=production_forms,
        challenger_forms=candidate_forms,
    )
    return {
        "requests": len(current),
        "week": current[0]["week"],
        # every request answered by both: the full comparison the gate uses
        "replay": {
            arm: {
                "passed": int(flags[0].sum()),
                "n": len(current),
                "pass_rate": _r(flags[0].mean()),
            }
            for arm, flags in passed.items()
        },
        "shadow": shadow(replay, settings.shadow_fraction, settings.examples),
        "ab": ab_test(replay, settings.ab_split, settings.alpha, settings.mde, settings.power),
        "canary": canary(replay, settings.canary_steps, settings.alpha),
        "slices": slices(reference, reference_candidate_forms, reference_production_forms),
    }


def report(
    production: Model | None, candidate: Model, compare: Callable[[], Mapping[str, Any]]
) -> tuple[dict[str, Any], str]:
    """``metrics/traffic.json`` and ``metrics/TRAFFIC.md`` for ``candidate`` against
    ``production``; ``compare`` (called only when they differ) gives :func:`comparison`.

    With the candidate equal to production the report says there is nothing to compare
    (``"candidate": null`` and a ``note``) rather than a comparison of a model with itself;
    with no production yet (a first release) it says so, and the gate judges the candidate
    on its own.
    """
    if production is None:
        note = (
            f"no production model yet: nothing to compare {candidate.label} with; the gate "
            "judges it on its own rules (a first release)"
        )
        metrics = {
            "production": None,
            "candidate": candidate.sha,
            "challenger": candidate.summary(),
            "note": note,
        }
        return metrics, f"# Traffic replay\n\nNo comparison: {note}.\n"
    if candidate.sha == production.sha:
        note = (
            f"traffic.challenger resolves to production {production.label}: there is no "
            "candidate, so there is nothing to compare"
        )
        metrics = {
            "production": production.sha,
            "candidate": None,
            "champion": production.summary(),
            "note": note,
        }
        return metrics, f"# Traffic replay\n\nNo comparison: {note}.\n"
    result = dict(compare())
    metrics = {
        "production": production.sha,
        "candidate": candidate.sha,
        "champion": production.summary(),
        "challenger": candidate.summary(),
        **result,
    }
    text = report_markdown(
        result["shadow"], result["ab"], result["canary"], production.label, candidate.label
    )
    return metrics, text + slices_markdown(result["slices"])


def slices_markdown(table: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """The reference split's slices, both models side by side (the gate judges them)."""
    lines = [
        "",
        "## Slices of the reference test split",
        "",
        "| slice | n | candidate pass | production pass | candidate strict | production strict |",
        "|---|---|---|---|---|---|",
    ]
    for name, sides in table.items():
        cand, prod = sides["candidate"], sides["production"]
        lines.append(
            f"| {_cell(name)} | {cand['n']} | {_pct(cand['passed'] / cand['n'])} | "
            f"{_pct(prod['passed'] / prod['n'])} | {_pct(cand['strict'] / cand['n'])} | "
            f"{_pct(prod['strict'] / prod['n'])} |"
        )
    return "\n".join(lines) + "\n"


def canary_csv(metrics: Mapping[str, Any]) -> str:
    """``plots/canary.csv``: pass rate per canary step and arm (header only without a
    candidate, so the plot's file always exists)."""
    rows = ["step,arm,pass_rate"]
    for step in metrics.get("canary", {}).get("steps", []):
        for arm in ("champion", "challenger"):
            rate = step[f"{arm}_pass_rate"]
            if rate is not None:
                rows.append(f"{step['fraction']},{arm},{rate}")
    return "\n".join(rows) + "\n"
