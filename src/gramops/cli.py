"""The ``gramops`` command line: the registry, lineage, rollback and reproduction.

Exit codes scripts can rely on: 0 success; 1 a check found problems or an act was refused
(``registry verify``, ``gate --check``, ``reproduce`` with a different SHA, ``promote``
without the gate's approval); 2 bad input (unknown ref, bad semver, bad params).
Every command that reports data takes ``--json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import dumps_pretty, read_json
from gramops.core.params import read_params_file, validate_all
from gramops.core.vocab import FAMILIES, short
from gramops.models.identity import canonical_manifest, canonical_sha
from gramops.registry.store import Registry, registry_location
from gramops.registry.summary import entry_summary
from gramops.release.policy import ReleaseError
from gramops.tracking.mirror import verify_registry_mirror

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _registry(args: argparse.Namespace) -> Registry:
    return Registry(args.registry)


def _sha(args: argparse.Namespace) -> int:
    for bundle in args.bundles:
        if args.manifest:
            _out(dumps_pretty(canonical_manifest(bundle)))
        else:
            _out(f"{canonical_sha(bundle)}  {bundle}")
    return EXIT_OK


def _check_params(args: argparse.Namespace) -> int:
    validate_all(read_params_file(args.params))
    _out(f"{args.params}: valid")
    return EXIT_OK


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    aliases: dict[str, list[str]] = {}
    for alias, sha in sorted(registry.aliases().items()):
        aliases.setdefault(sha, []).append(alias)
    rows = []
    for sha, entry in registry.entries().items():
        row = entry_summary(entry, registry.semvers_of(sha))
        row["aliases"] = ",".join(aliases.get(sha, []))
        row["registered_at"] = entry.get("registered_at", "")
        rows.append(row)
    rows.sort(key=lambda r: (r["registered_at"], r["family"], r["semver"]))
    if args.json:
        _out(dumps_pretty(rows))
    elif rows:
        _out(
            _table(
                rows,
                (
                    "semver",
                    "family",
                    "sha",
                    "aliases",
                    "verb_pass_rate",
                    "tutor_pass_rate",
                    "size_bytes",
                    "registered_at",
                ),
            )
        )
    else:
        _out(f"registry {args.registry} is empty")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    sha = registry.resolve(args.ref)
    entry = dict(registry.entry(sha))
    entry["semvers"] = registry.semvers_of(sha)
    entry["aliases"] = sorted(a for a, s in registry.aliases().items() if s == sha)
    _out(dumps_pretty(entry))
    return EXIT_OK


def _register(args: argparse.Namespace) -> int:
    registry = _registry(args)
    action = registry.register_pending if args.dry_run else registry.register
    result = action(Path(args.bundle), family=args.family)
    if args.json:
        _out(dumps_pretty({"sha": result.sha, "semver": result.semver, "created": result.created}))
    else:
        state = "registered" if result.created else "already registered"
        if args.dry_run:
            state = "would register" if result.created else "already registered"
        _out(f"{state}: {args.family} {result.semver or 'untagged'} {result.sha}")
    return EXIT_OK


def _tag(args: argparse.Namespace) -> int:
    registry = _registry(args)
    sha = registry.resolve(args.ref)
    registry.tag(sha, args.semver, reason=args.reason)
    _out(f"{args.semver} -> {short(sha)}")
    return EXIT_OK


def _retag(args: argparse.Namespace) -> int:
    registry = _registry(args)
    previous = registry.tags().get(_normalise(args.semver))
    sha = registry.resolve(args.ref)
    registry.retag(sha, args.semver, reason=args.reason)
    was = short(previous) if previous else "unbound"
    _out(f"{args.semver}: {was} -> {short(sha)}")
    return EXIT_OK


def _normalise(semver: str) -> str:
    return semver if semver.startswith("v") else f"v{semver}"


def _alias(args: argparse.Namespace) -> int:
    from gramops.release.policy import GATED_ALIASES

    if args.name in GATED_ALIASES:
        raise GramopsError(
            f"{args.name} moves only by a promotion: `gramops promote REF --alias {args.name} "
            '-m "why"` (the gate\'s decision is checked and the act is audited), or '
            '`gramops rollback -m "why"`'
        )
    registry = _registry(args)
    previous = registry.aliases().get(args.name)
    sha = registry.resolve(args.ref)
    registry.set_alias(args.name, sha)
    was = short(previous) if previous else "unset"
    _out(f"{args.name}: {was} -> {short(sha)}")
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    from gramops.release.policy import actor

    reason = _required_reason(args, "a rollback")
    registry = Registry(args.registry, actor=actor())
    new, previous = registry.rollback(args.alias, reason=reason)
    versions = registry.semvers_of(new)
    _out(f"{args.alias}: {short(previous)} -> {short(new)} ({', '.join(versions) or 'untagged'})")
    _notify(args, "rollback", args.alias, new, previous, versions, registry.actor, reason)
    _sync_mlflow(registry)
    return EXIT_OK


def _sync_mlflow(registry: Registry) -> None:
    from gramops.tracking.mirror import sync_after_act

    _out(sync_after_act(registry, Path.cwd()))


def _required_reason(args: argparse.Namespace, what: str) -> str:
    reason = (args.reason or "").strip()
    if not reason:
        raise GramopsError(
            f'{what} needs a reason: -m/--reason "why" (it goes into the audit log and the '
            "notification)"
        )
    return reason


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
    from gramops.release.notify import post_json
    from gramops.release.policy import move_message

    post_json(url, move_message(event, alias, sha, previous, semvers, who, reason, forced, gate))


def _verify(args: argparse.Namespace) -> int:
    registry = _registry(args)
    report = registry.verify()
    mlflow = verify_registry_mirror(registry, Path.cwd()) if args.mlflow else []
    ok = report.ok and not mlflow
    if args.json:
        _out(
            dumps_pretty(
                {
                    "ok": ok,
                    "checked": report.checked,
                    "missing": report.missing,
                    "tampered": report.tampered,
                    "errors": report.errors,
                    "repaired": report.repaired,
                    "absent": report.absent,
                    **({"mlflow": mlflow} if args.mlflow else {}),
                }
            )
        )
    else:
        for repair in report.repaired:
            _out(f"REPAIRED  {repair}")
        for sha, path, obj in report.missing:
            names = _ref_names(registry, sha)
            _out(f"MISSING   {names} {path} (object {short(obj)} not in the store)")
        for sha, path, obj in report.tampered:
            names = _ref_names(registry, sha)
            _out(f"TAMPERED  {names} {path} (object {short(obj)} does not hash to its key)")
        for error in report.errors:
            _out(f"ERROR     {error}")
        for sha in report.absent:
            _out(
                f"NOT HERE  {_ref_names(registry, sha)} bytes not in this store (registered "
                f"elsewhere or collected by gc); rebuild with: gramops reproduce {short(sha)} "
                "--restore"
            )
        for difference in mlflow:
            _out(f"MLFLOW    {difference}")
        count = len(report.absent)
        absent = f", {count} {'entry' if count == 1 else 'entries'} not in this store"
        _out(
            f"{'ok' if ok else 'FAILED'}: {report.checked} objects checked"
            + (absent if count else "")
        )
    return EXIT_OK if ok else EXIT_PROBLEMS


def _ref_names(registry: Registry, sha: str) -> str:
    """A SHA with the semvers and aliases that point at it: what a user would load it by."""
    refs = [*registry.semvers_of(sha), *registry.aliases_of(sha)]
    return f"{short(sha)} ({', '.join(refs)})" if refs else short(sha)


def _gc(args: argparse.Namespace) -> int:
    keys = _registry(args).gc(dry_run=not args.delete)
    verb = "deleted" if args.delete else "would delete (dry run; pass --delete)"
    if args.json:
        _out(dumps_pretty({"deleted" if args.delete else "unreferenced": keys}))
    else:
        for key in keys:
            _out(key)
        _out(f"{verb}: {len(keys)} objects")
    return EXIT_OK


def _lineage(args: argparse.Namespace) -> int:
    from gramops.report.lineage import chain_text

    chain = _registry(args).lineage(args.ref)
    _out(dumps_pretty(chain) if args.json else chain_text(chain))
    return EXIT_OK


def _reproduce(args: argparse.Namespace) -> int:
    from gramops.registry.reproduce import reproduce

    result = reproduce(
        _registry(args), args.ref, Path(args.repo), keep=args.keep, restore=args.restore
    )
    if args.json:
        _out(dumps_pretty(result))
    else:
        _out(f"entry    {result['sha']} ({result['family']})")
        _out(f"commit   {result['commit']}")
        _out(f"rebuilt  {result['rebuilt_sha']}")
        if result.get("restored"):
            _out(f"restored {', '.join(short(s) for s in result['restored'])} into this store")
        _out(
            "REPRODUCED: identical canonical SHA"
            if result["reproduced"]
            else "DIFFERENT: the rebuilt bundle does not match the registered SHA"
        )
    return EXIT_OK if result["reproduced"] else EXIT_PROBLEMS


def _promote_alias(args: argparse.Namespace) -> int:
    from gramops.release.policy import (
        GATED_ALIASES,
        actor,
        decision_record,
        promotion_refusals,
    )

    gated = args.alias in GATED_ALIASES
    reason = (args.reason or "").strip() or None
    if (args.alias == "production" or args.force) and reason is None:
        _required_reason(
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
        _out(f"{args.alias}: already {short(sha)} ({result.semver}); nothing to do")
        return EXIT_OK
    _out(
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


def _history(args: argparse.Namespace) -> int:
    from gramops.registry.summary import alias_history

    registry = _registry(args)
    costs = {}
    cost_file = Path(args.costs)
    if cost_file.is_file():
        costs = read_json(cost_file).get("entries", {})
    rows = []
    for period in alias_history(registry.history(), args.alias):
        entry = registry.entry(period["sha"])
        cost = costs.get(short(period["sha"]), {})
        rows.append(
            {
                **period,
                "semver": ", ".join(registry.semvers_of(period["sha"])) or "untagged",
                "family": entry["family"],
                "verb_pass_rate": entry.get("metrics", {}).get("verb", {}).get("pass_rate"),
                "usd_per_1b_tokens": cost.get("usd_per_1b_tokens"),
            }
        )
    if args.json:
        _out(dumps_pretty(rows))
    elif rows:
        for row in rows:
            row["sha"] = short(row["sha"])
            row["until"] = row["until"] or "now"
            row["reason"] = row.get("reason") or ""
            for key in ("verb_pass_rate", "usd_per_1b_tokens"):
                row[key] = "" if row[key] is None else row[key]
        _out(
            _table(
                rows,
                (
                    "semver",
                    "family",
                    "sha",
                    "from",
                    "until",
                    "moved_by",
                    "how",
                    "verb_pass_rate",
                    "usd_per_1b_tokens",
                    "reason",
                ),
            )
        )
    else:
        _out(f"no model has held {args.alias!r}")
    return EXIT_OK


def _gate_check(args: argparse.Namespace) -> int:
    from gramops.release.policy import deploy_problems, read_metrics

    path = Path(args.file)
    gate = read_json(path) if path.is_file() else None
    if gate is None and not args.check:
        raise GramopsError(f"{path} not found: run the pipeline (`dvc repro`) first")
    if gate is not None:
        candidate = gate.get("candidate")
        _out(
            f"gate: {gate['decision']} (candidate {short(candidate) if candidate else 'none'}, "
            f"production {short(str(gate.get('production')))})"
        )
        for rule in gate.get("rules", []):
            _out(f"  {rule['verdict'].upper():4}  {rule['name']}: {rule['detail']}")
        for rule in gate.get("production_rules", []):
            _out(f"  {rule['verdict'].upper():4}  production {rule['name']}: {rule['detail']}")
    if not args.check:
        return EXIT_OK
    params = validate_all(read_params_file(Path(args.params)))
    problems = deploy_problems(
        _registry(args), gate, params["gate"].quality_floor, read_metrics(Path("."))
    )
    for problem in problems:
        _out(f"REFUSED  {problem}")
    _out(
        "deploy gate: " + ("FAILED" if problems else "ok, production is a model the gate approved")
    )
    return EXIT_PROBLEMS if problems else EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    import tempfile

    from gramops.monitoring.challenger import load_registered
    from gramops.serving.predict import predict, read_requests

    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
    requests = read_requests(text)  # bad input fails before any model is loaded
    with tempfile.TemporaryDirectory(prefix="gramops-predict-") as tmp:
        _sha, predictor = load_registered(_registry(args), args.ref, Path(tmp))
        for response in predict(requests, predictor):
            _out(response.model_dump_json())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gramops",
        description="Registry, lineage and reproduction for the gramops pipeline. "
        "REF is a full SHA, a unique SHA prefix (8+ hex), a semver (v0.1.0) or an alias.",
        epilog="exit codes: 0 ok, 1 a check found problems, 2 bad input",
    )
    parser.add_argument(
        "--registry",
        default=registry_location(),
        help="registry directory or s3:// URL (default: $GRAMOPS_REGISTRY or models/registry; "
        "now %(default)s)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help_text: str, parent=sub, json: bool = False):
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if json:
            p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = command("sha", _sha, "canonical SHA-256 of model bundle directories")
    p.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE_DIR")
    p.add_argument(
        "--manifest",
        action="store_true",
        help="print the canonical manifest that is hashed instead of the SHA",
    )
    p = command("check-params", _check_params, "validate params.yaml against the schema")
    p.add_argument("params", nargs="?", type=Path, default=Path("params.yaml"))

    reg = sub.add_parser(
        "registry",
        help="list, show and change registry entries",
        description="The content-addressed model registry.",
    )
    rsub = reg.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    command("list", _list, "every entry with semver, family, short SHA, aliases", rsub, True)
    p = command("show", _show, "one entry's metadata", rsub)
    p.add_argument("ref")
    p = command(
        "register",
        _register,
        "register a bundle directory by its SHA (binds no semver: `gramops promote` does)",
        rsub,
        True,
    )
    p.add_argument("bundle")
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--dry-run", action="store_true", help="show the SHA and semver, write nothing")
    p = command("tag", _tag, "bind a new semver to a model (write-once, audited)", rsub)
    p.add_argument("ref")
    p.add_argument("semver")
    p.add_argument("-m", "--reason", help="why (recorded in the audit log)")
    p = command("retag", _retag, "move an existing semver to another model (logged)", rsub)
    p.add_argument("ref")
    p.add_argument("semver")
    p.add_argument("-m", "--reason", help="why (recorded in the audit log)")
    p = command(
        "alias",
        _alias,
        "point a label alias (challenger, ...) at a model; production and staging move only "
        "by `gramops promote`",
        rsub,
    )
    p.add_argument("name")
    p.add_argument("ref")
    p = command(
        "verify",
        _verify,
        "re-hash every stored object; exit 1 on a missing or tampered one",
        rsub,
        True,
    )
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="also compare MLflow's models (aliases, semvers) with the registry "
        "($MLFLOW_TRACKING_URI, else the workspace's mlflow.db)",
    )
    p = command(
        "gc", _gc, "objects no tag, alias or child references (dry run by default)", rsub, True
    )
    p.add_argument("--delete", action="store_true", help="really delete them")

    p = command(
        "lineage", _lineage, "the chain from a model back to its corpus DVC hash", json=True
    )
    p.add_argument("ref")
    p = command(
        "promote",
        _promote_alias,
        "release a model: point production (or --alias staging) at it, as a signed, audited "
        "act; refused unless the gate's fresh decision promotes exactly this model",
    )
    p.add_argument("ref")
    p.add_argument("--alias", default="production")
    p.add_argument("-m", "--reason", help="why (required for production and with --force; audited)")
    p.add_argument(
        "--force",
        action="store_true",
        help="promote although the gate does not allow it (needs --reason; the audit log "
        "and `gramops gate --check` say so)",
    )
    p.add_argument("--gate", default="metrics/gate.json", help="the gate decision to act on")
    p.add_argument(
        "--params",
        default="params.yaml",
        help="release.first_semver and release.notify_url are read from here",
    )
    p = command(
        "history", _history, "every model that ever held production (or --alias)", rsub, True
    )
    p.add_argument("--alias", default="production")
    p.add_argument("--costs", default="metrics/cpqu.json", help="cost per 1k tokens per model")
    p = command(
        "predict",
        _predict,
        "correct verb forms: JSON requests in, JSON lines out "
        '(e.g. {"sentence": "She ___ to school.", "lemma": "go"})',
    )
    p.add_argument(
        "input", nargs="?", default="-", help="JSON, JSON array or JSON lines; - = stdin"
    )
    p.add_argument("--ref", default="production", help="model to use (default: %(default)s)")
    p = command("gate", _gate_check, "show the deploy gate's decision (metrics/gate.json)")
    p.add_argument(
        "--check",
        action="store_true",
        help="the CI deploy gate: exit 1 unless production got there by an approved "
        "promotion, meets the quality floor, the decision is fresh against the registry, "
        "every metrics file names existing entries and the candidate passes",
    )
    p.add_argument("--file", default="metrics/gate.json")
    p.add_argument("--params", default="params.yaml", help="gate.quality_floor is read here")
    p = command("rollback", _rollback, "move an alias back to its previous model, from the log")
    p.add_argument("--alias", default="production")
    p.add_argument("-m", "--reason", help="why (required; audited and notified)")
    p.add_argument("--params", default="params.yaml", help="release.notify_url is read here")
    p = command(
        "reproduce",
        _reproduce,
        "rebuild a registered model from its recorded commit in a temporary git "
        "worktree with `dvc repro` and compare canonical SHAs",
        json=True,
    )
    p.add_argument("ref")
    p.add_argument("--repo", default=".", help="git repository to rebuild from")
    p.add_argument("--keep", action="store_true", help="keep the temporary worktree")
    p.add_argument(
        "--restore",
        action="store_true",
        help="put the rebuilt bytes (and the parent's) into this store when they match: "
        "how a fresh clone gets a model the current code no longer builds",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ReleaseError as exc:  # a refusal: the inputs were fine, the state says no
        sys.stderr.write(f"gramops: {exc}\n")
        return EXIT_PROBLEMS
    except GramopsError as exc:
        sys.stderr.write(f"gramops: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
