"""The traffic stage's comparison: the candidate against production on this week's traffic.

Both models answer every request of the latest week and every record of the reference
split; :func:`comparison` then runs shadow, A/B and canary
(:mod:`gramops.monitoring.traffic_strategies`) and counts the slices
(:mod:`gramops.monitoring.traffic_slices`). When the candidate is production itself there is
nothing to compare: :func:`report` then says so instead of running the strategies, because
an A/B test or a canary of a model against itself shows nothing but sampling noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gramops.core.vocab import short
from gramops.inference.requests import Answering
from gramops.monitoring.challenger import load_registered
from gramops.monitoring.stats import rounded
from gramops.monitoring.traffic_agreement import (
    NEEDS_GOLD,
    agreement,
    agreement_markdown,
    answers_of,
)
from gramops.monitoring.traffic_replay import Replay, TrafficError, outcomes
from gramops.monitoring.traffic_report import report_markdown, slices_markdown
from gramops.monitoring.traffic_slices import slices
from gramops.monitoring.traffic_strategies import ab_test, canary, shadow
from gramops.registry.store import Registry


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

    @classmethod
    def of(cls, registry: Registry, sha: str) -> Model:
        """The registered model ``sha`` as its entry and tags name it."""
        return cls(sha, registry.entry(sha)["family"], registry.semvers_of(sha))


def has_gold(current: Sequence[Mapping[str, Any]]) -> bool:
    """Do the records carry gold answers (synthetic traffic) or not (a request log)."""
    return all("acceptable" in r and "form" in r for r in current)


def compare_registered(
    registry: Registry,
    production_sha: str,
    candidate_sha: str,
    current: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    settings: Settings,
    workdir: Path,
) -> dict[str, Any]:
    """:func:`comparison` of two registered models, each loaded into ``workdir`` and asked
    for its forms on ``current`` (this week's requests) and on ``reference``; on logged
    traffic (no gold) :func:`logged_comparison` instead."""
    _, production = load_registered(registry, production_sha, workdir)
    _, candidate = load_registered(registry, candidate_sha, workdir)
    if not has_gold(current):
        return logged_comparison(
            current, reference, (production_sha, candidate_sha), (production, candidate)
        )
    forms = {
        name: (predictor.predict(current).forms, predictor.predict(reference).forms)
        for name, predictor in (("production", production), ("candidate", candidate))
    }
    return comparison(
        current,
        forms["production"][0],
        forms["candidate"][0],
        reference,
        forms["production"][1],
        forms["candidate"][1],
        settings,
    )


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
                "pass_rate": rounded(flags[0].mean()),
            }
            for arm, flags in passed.items()
        },
        "shadow": shadow(replay, settings.shadow_fraction, settings.examples),
        "ab": ab_test(replay, settings.ab_split, settings.alpha, settings.mde, settings.power),
        "canary": canary(replay, settings.canary_steps, settings.alpha),
        "slices": slices(reference, reference_candidate_forms, reference_production_forms),
    }


def logged_comparison(
    current: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    shas: tuple[str, str],
    predictors: tuple[Answering, Answering],
) -> dict[str, Any]:
    """Logged traffic (no gold): production's and the candidate's answers side by side
    (logged where the log has them), their agreement and confidence; the slices of the
    labelled reference split for quality (:mod:`gramops.monitoring.traffic_agreement`)."""
    if not current:
        raise TrafficError("no requests in this week's traffic: nothing to compare")
    answers, logged = {}, {}
    for side, sha, predictor in zip(("production", "candidate"), shas, predictors, strict=True):
        answers[side], logged[side] = answers_of(current, sha, _answering(sha, predictor))
    return {
        "requests": len(current),
        "week": current[0]["week"],
        "gold": False,
        "agreement": agreement(current, shas, answers["production"], answers["candidate"], logged),
        "needs_gold": dict(NEEDS_GOLD),
        "slices": slices(
            reference,
            predictors[1].predict(reference).forms,
            predictors[0].predict(reference).forms,
        ),
    }


def _answering(sha: str, predictor: Answering) -> Callable[..., list[dict[str, Any]]]:
    """``predictor`` as :func:`answers_of` asks it: answers in the log's shape."""

    def predict(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = predictor.predict(records)
        return [
            {"sha": sha, "form": form, "tag": tag, "confidence": float(confidence)}
            for form, tag, confidence in zip(out.forms, out.tags, out.confidence, strict=True)
        ]

    return predict


def summary_line(metrics: Mapping[str, Any]) -> str:
    """The stage's one-line log of ``metrics/traffic.json``."""
    if "note" in metrics:
        return str(metrics["note"])
    head = f"production {short(metrics['production'])} vs candidate {short(metrics['candidate'])}"
    if "agreement" in metrics:
        a = metrics["agreement"]
        return f"{head} on logged traffic: {a['disagreements']}/{a['n_requests']} answers differ"
    canary_state = "completed" if metrics["canary"]["completed"] else "aborted"
    return f"{head}: A/B p={metrics['ab']['test']['p_value']}, canary {canary_state}"


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
    if "agreement" in result:
        text = agreement_markdown(result, production.label, candidate.label)
    else:
        text = report_markdown(
            result["shadow"], result["ab"], result["canary"], production.label, candidate.label
        )
    return metrics, text + slices_markdown(result["slices"])
