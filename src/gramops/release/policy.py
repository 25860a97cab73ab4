"""Releasing a model: people and CI act on what the pipeline decided.

The gate stage writes a decision (``metrics/gate.json``) and changes nothing. Moving
``production`` (or ``staging``) is an act, ``gramops promote``: it is refused unless the
gate's decision is ``promote`` for that very model and was made against the registry as
it is now; ``--force`` with a reason overrides, and the audit line says so. Every act
records who, when, why and the digest of the decision it relied on.

``gramops gate --check`` (the CI deploy gate) asks :func:`deploy_problems` whether the
state CI sees is one the gate approved: production got there by a promotion, it meets the
gate's quality floor, the decision is fresh, every metrics file names entries that exist,
and the candidate passes.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import canonical_bytes
from gramops.core.hashing import sha256_bytes
from gramops.core.vocab import SHORT_SHA, short
from gramops.registry import auditlog
from gramops.registry.layout import default_actor
from gramops.registry.store import Registry, RegistryError

# The aliases a promotion must be approved for; other aliases are labels people set.
GATED_ALIASES = ("production", "staging")
# Metrics files that name registry entries, and where in each the SHAs are.
NAMING_FILES = (
    "metrics/registry.json",
    "metrics/gate.json",
    "metrics/traffic.json",
    "metrics/drift.json",
    "metrics/cpqu.json",
)


_SHA_KEYS = ("sha", "candidate", "production", "champion", "challenger", "fp32", "int8", "lora")


class ReleaseError(GramopsError):
    """A release act was refused; the message says why and what to do."""


def actor() -> str:
    """Who acts: ``GRAMOPS_ACTOR``, else the CI identity, else git's ``user.email``, else
    ``$USER`` (with the host, as the registry's default)."""
    explicit = os.environ.get("GRAMOPS_ACTOR", "").strip()
    if explicit:
        return explicit
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # who ran this run (a re-run's trigger may differ from the workflow's first actor)
        who = os.environ.get("GITHUB_TRIGGERING_ACTOR") or os.environ.get("GITHUB_ACTOR", "?")
        run = os.environ.get("GITHUB_RUN_ID", "?")
        return f"ci:github:{who} (workflow {os.environ.get('GITHUB_WORKFLOW', '?')} run {run})"
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        email = ""
    if email:
        return email
    return default_actor()


def gate_digest(gate: Mapping[str, Any]) -> str:
    """The identity of a gate decision: SHA-256 of its canonical JSON."""
    return sha256_bytes(canonical_bytes(dict(gate)))


def decision_record(gate: Mapping[str, Any]) -> dict[str, Any]:
    """What an audit line keeps of the decision it acted on."""
    judged = gate.get("registry") or {}
    return {
        "digest": gate_digest(gate),
        "decision": gate.get("decision"),
        "candidate": gate.get("candidate"),
        "judged_head": judged.get("head"),
        "judged_production": judged.get("production"),
    }


def promotion_refusals(
    gate: Mapping[str, Any] | None, state: Mapping[str, Any], sha: str
) -> list[str]:
    """Why the gate does not allow promoting ``sha`` now (empty: it does)."""
    if gate is None:
        return ["there is no gate decision (metrics/gate.json): run `dvc repro` first"]
    problems = []
    candidate = gate.get("candidate")
    if gate.get("decision") != "promote" and not lifts_a_rollback(gate):
        reasons = "; ".join(gate.get("reasons") or []) or "no reasons recorded"
        problems.append(
            f"the gate's decision is {gate.get('decision')!r}, not 'promote' ({reasons})"
        )
    if candidate != sha:
        named = short(candidate) if isinstance(candidate, str) else "no candidate"
        problems.append(
            f"the gate judged {named}, not {short(sha)}: set traffic.challenger to it and "
            "run `dvc repro` to have it judged"
        )
    stale = staleness(gate, state)
    if stale:
        problems.append(f"the decision is stale: {stale}")
    return problems


def lifts_a_rollback(gate: Mapping[str, Any]) -> bool:
    """Whether the decision blocks only because production was rolled back away from the
    candidate: every other rule passes, so a person promoting it again (with a reason) is
    the explicit act that lifts their earlier verdict, not an override of the gate."""
    failed = {r.get("name") for r in gate.get("rules") or [] if r.get("verdict") == "fail"}
    return gate.get("decision") == "block" and failed == {"not_rolled_back"}


def staleness(gate: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
    """Why a gate decision no longer describes the registry, or None while it does.

    The gate judges a candidate against production, and production's history (rollback
    verdicts): a decision is fresh while production is the same model, moved by the same
    audit record. Other acts (staging moves, semver tags, new entries) leave it fresh, so
    CI can move staging and then production on one decision.
    """
    judged = gate.get("registry") or {}
    if (judged.get("production"), judged.get("production_seq")) == (
        state["production"],
        state["production_seq"],
    ):
        return None
    return (
        f"it judged production {short(str(judged.get('production')))} as of audit record "
        f"{judged.get('production_seq')}, production is now {short(str(state['production']))} "
        f"as of record {state['production_seq']}: run `dvc repro` for a fresh decision"
    )


def standing_problem(records: Sequence[Mapping[str, Any]], alias: str) -> str | None:
    """Whether the alias's holder got there by an approved act; the problem if not.

    Approved: a ``promote`` that acted on a gate decision (not forced), or, before the
    hash chain began, an ``alias`` move by the gate stage (how gate promotions were
    recorded then). A rollback restores the holder it returns to, with that holder's
    standing. A raw ``alias`` move or a forced promotion is not an approval.
    """
    move = auditlog.standing_move(records, alias)
    if move is None:
        return f"{alias} is not set: promote a model (`gramops promote REF -m ...`)"
    who = f"by {move.get('actor')} at {move.get('time')} (audit seq {move.get('seq')})"
    if move["op"] == "promote":
        if move.get("forced"):
            return (
                f"{alias} {short(str(move['new']))} was forced past the gate {who}: "
                f"{move.get('reason') or 'no reason'}; the gate never approved it"
            )
        return None
    if "prev" not in move and move.get("actor") == "stage:gate":
        return None  # a gate promotion recorded before releases became acts
    return (
        f"{alias} {short(str(move['new']))} was moved without a promotion {who} "
        f"(a raw `{move['op']}` record): use `gramops promote` so the gate's decision is checked"
    )


def named_shas(data: Mapping[str, Any]) -> list[str]:
    """The registry SHAs (full or 12-hex) a metrics file names."""
    found: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in _SHA_KEYS and _looks_like_sha(value):
            found.append(value)

    walk(data)
    return sorted(set(found))


def _looks_like_sha(text: str) -> bool:
    return len(text) in (SHORT_SHA, 64) and all(c in "0123456789abcdef" for c in text)


def deploy_problems(
    registry: Registry,
    gate: Mapping[str, Any] | None,
    quality_floor: float,
    metrics: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Everything that makes the state CI sees one the gate did not approve.

    ``metrics`` maps a metrics file name to its content (files that exist).
    """
    problems: list[str] = list(registry.chain_errors())
    state = registry.state()
    records = registry.history()
    _tags, aliases = auditlog.replay(records)
    if aliases != registry.aliases():
        on_disk = registry.aliases()
        edited = ", ".join(
            f"{name}: log {short(str(aliases.get(name)))}, file {short(str(on_disk.get(name)))}"
            for name in sorted(set(aliases) | set(on_disk))
            if aliases.get(name) != on_disk.get(name)
        )
        problems.append(
            "aliases.json differs from the audit log (it was edited by hand): production "
            f"moved without a recorded promotion ({edited})"
        )
    standing = standing_problem(records, "production")
    if standing:
        problems.append(standing)
    production = registry.aliases().get("production")
    if production is not None:
        try:
            entry = registry.entry(production)
        except RegistryError as exc:
            problems.append(f"production: {exc}")
        else:
            rate = (entry.get("metrics") or {}).get("verb", {}).get("pass_rate")
            if rate is None or rate < quality_floor:
                problems.append(
                    f"production {short(production)} has a reference pass rate of {rate}, "
                    f"below the gate's quality floor {quality_floor}"
                )
    for name, data in sorted(metrics.items()):
        for sha in named_shas(data):
            try:
                registry.resolve(sha)
            except RegistryError:
                problems.append(
                    f"{name} names {short(sha)}, which is not in the registry "
                    f"{registry.url}: re-run `dvc repro` (or restore the registry files)"
                )
    if gate is None:
        problems.append("there is no gate decision (metrics/gate.json): run `dvc repro`")
        return problems
    stale = staleness(gate, state)
    if stale:
        problems.append(f"metrics/gate.json is stale: {stale}")
    if gate.get("decision") == "block":
        reasons = "; ".join(gate.get("reasons") or [])
        candidate = short(str(gate.get("candidate")))
        problems.append(f"the candidate {candidate} fails the gate: {reasons}")
    return problems


def read_metrics(root: Path, names: Sequence[str] = NAMING_FILES) -> dict[str, Any]:
    """The metrics files that exist under ``root``, parsed."""
    found = {}
    for name in names:
        path = Path(root) / name
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def move_message(
    event: str,
    alias: str,
    sha: str,
    previous: str | None,
    semvers: Sequence[str],
    actor_name: str,
    reason: str | None,
    forced: bool,
    gate: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The webhook payload of an alias move: structured fields and a Slack ``text``."""
    version = ", ".join(semvers) or "untagged"
    was = short(previous) if previous else "unset"
    text = (
        f"gramops: {alias} {'rolled back' if event == 'rollback' else 'promoted'} to "
        f"{version} ({short(sha)}, was {was}) by {actor_name}"
        + (" with --force" if forced else "")
        + (f": {reason}" if reason else "")
    )
    return {
        "event": event,
        "alias": alias,
        "sha": sha,
        "previous": previous,
        "semvers": list(semvers),
        "actor": actor_name,
        "reason": reason,
        "forced": forced,
        "gate": dict(gate) if gate else None,
        "text": text,
    }
