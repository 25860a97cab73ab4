"""Release acts and the deploy gate: `gramops promote`, `rollback` and `gate [--check]`.

A move of production is announced to the webhook (:func:`gramops.release.policy.move_message`
is the payload, :func:`gramops.release.notify.post_json` sends it) and synced into an
existing MLflow store at once.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from gramops.cli.common import EXIT_OK, EXIT_PROBLEMS, out, registry_of, required_reason
from gramops.core.errors import GramopsError
from gramops.core.fileio import read_json
from gramops.core.params import read_params_file, validate_all
from gramops.core.stage_outputs import git_tracked
from gramops.core.vocab import short
from gramops.registry.store import Registry
from gramops.release.notify import post_json
from gramops.release.policy import (
    GATED_ALIASES,
    ReleaseError,
    actor,
    decision_record,
    deploy_problems,
    move_message,
    promotion_refusals,
    read_metrics,
)
from gramops.tracking.models import sync_after_act


def promote(args: argparse.Namespace) -> int:
    gated = args.alias in GATED_ALIASES
    reason = (args.reason or "").strip() or None
    if (args.alias == "production" or args.force) and reason is None:
        required_reason(
            args, f"promoting to {args.alias}" + (" with --force" if args.force else "")
        )
    registry = Registry(args.registry, actor=actor())
    sha = registry.resolve(args.ref)
    gate_file = Path(args.gate)
    gate = read_json(gate_file) if gate_file.is_file() else None
    decision = decision_record(gate) if gate is not None else None
    if gated:
        refusals = promotion_refusals(gate, registry.state(), sha)
        if refusals and not args.force:
            raise ReleaseError(
                f"refusing to promote {short(sha)} to {args.alias}: "
                + "; ".join(refusals)
                + '. To override, pass --force with -m "why" (the audit log records it)'
            )
    params = _release_params(Path(args.params))
    first = params.first_semver.get(registry.entry(sha)["family"]) if params else None
    result = registry.promote(
        sha,
        alias=args.alias,
        reason=reason,
        gate=decision,
        forced=bool(args.force and gated),
        first_semver=first,
    )
    was = short(result.previous) if result.previous else "unset"
    if not result.changed:
        out(f"{args.alias}: already {short(sha)} ({result.semver}); nothing to do")
        return EXIT_OK
    out(
        f"{args.alias}: {was} -> {short(sha)} ({result.semver})" + (" FORCED" if args.force else "")
    )
    _notify(
        args,
        "promote",
        args.alias,
        sha,
        result.previous,
        registry.semvers_of(sha),
        registry.actor,
        reason,
        bool(args.force and gated),
        decision,
    )
    _sync_mlflow(registry)
    return EXIT_OK


def rollback(args: argparse.Namespace) -> int:
    reason = required_reason(args, "a rollback")
    registry = Registry(args.registry, actor=actor())
    new, previous = registry.rollback(args.alias, reason=reason)
    versions = registry.semvers_of(new)
    out(f"{args.alias}: {short(previous)} -> {short(new)} ({', '.join(versions) or 'untagged'})")
    _notify(args, "rollback", args.alias, new, previous, versions, registry.actor, reason)
    _sync_mlflow(registry)
    return EXIT_OK


def _sync_mlflow(registry: Registry) -> None:
    out(sync_after_act(registry, Path.cwd()))


def _release_params(path: Path) -> Any | None:
    if not path.is_file():
        return None
    return validate_all(read_params_file(path))["release"]


def _notify(
    args: argparse.Namespace,
    event: str,
    alias: str,
    sha: str,
    previous: str | None,
    semvers: list[str],
    who: str,
    reason: str | None,
    forced: bool = False,
    gate: dict[str, Any] | None = None,
) -> None:
    """Tell the webhook of every production move (a failed POST is logged, not raised)."""
    params = _release_params(Path(args.params))
    url = os.environ.get("GRAMOPS_NOTIFY_URL", "").strip() or (params and params.notify_url)
    if alias != "production" or not url or sha == previous:
        return
    post_json(url, move_message(event, alias, sha, previous, semvers, who, reason, forced, gate))


def _restore_gate_hint(path: Path) -> str:
    """How to get a missing decision back: git has the committed one when it tracks it
    (a gate stage that failed under `dvc repro` leaves it deleted), else only a re-run."""
    if git_tracked([str(path)], Path.cwd()):
        return (
            f"{path} not found, but git tracks it: `git checkout -- {path}` restores the "
            "committed decision (`dvc repro` deletes it before re-running the gate, so a gate "
            "that failed leaves it missing); `dvc repro gate` decides afresh"
        )
    return f"{path} not found: run the pipeline (`dvc repro gate`) to decide"


def gate_check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    gate = read_json(path) if path.is_file() else None
    if gate is None and not args.check:
        raise GramopsError(_restore_gate_hint(path))
    if gate is None:
        out(_restore_gate_hint(path))
    else:
        candidate = gate.get("candidate")
        out(
            f"gate: {gate['decision']} (candidate {short(candidate) if candidate else 'none'}, "
            f"production {short(str(gate.get('production')))})"
        )
        for rule in gate.get("rules", []):
            out(f"  {rule['verdict'].upper():4}  {rule['name']}: {rule['detail']}")
        for rule in gate.get("production_rules", []):
            out(f"  {rule['verdict'].upper():4}  production {rule['name']}: {rule['detail']}")
    if not args.check:
        return EXIT_OK
    params = validate_all(read_params_file(Path(args.params)))
    problems = deploy_problems(
        registry_of(args), gate, params["gate"].quality_floor, read_metrics(Path("."))
    )
    for problem in problems:
        out(f"REFUSED  {problem}")
    out("deploy gate: " + ("FAILED" if problems else "ok, production is a model the gate approved"))
    return EXIT_PROBLEMS if problems else EXIT_OK
