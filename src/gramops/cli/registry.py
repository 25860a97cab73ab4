"""`gramops registry ...`: list, show, register, tag, retag, alias, verify and gc entries."""

from __future__ import annotations

import argparse
from pathlib import Path

from gramops.cli.common import EXIT_OK, EXIT_PROBLEMS, out, registry_of, table
from gramops.core.errors import GramopsError
from gramops.core.fileio import dumps_pretty
from gramops.core.vocab import short
from gramops.registry.store import Registry
from gramops.registry.summary import entry_summary
from gramops.release.policy import GATED_ALIASES
from gramops.tracking.verify import verify_registry_mirror


def list_entries(args: argparse.Namespace) -> int:
    registry = registry_of(args)
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
        out(dumps_pretty(rows))
    elif rows:
        out(
            table(
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
        out(f"registry {args.registry} is empty")
    return EXIT_OK


def show(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    sha = registry.resolve(args.ref)
    entry = dict(registry.entry(sha))
    entry["semvers"] = registry.semvers_of(sha)
    entry["aliases"] = sorted(a for a, s in registry.aliases().items() if s == sha)
    out(dumps_pretty(entry))
    return EXIT_OK


def register(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    action = registry.register_pending if args.dry_run else registry.register
    result = action(Path(args.bundle), family=args.family)
    if args.json:
        out(dumps_pretty({"sha": result.sha, "semver": result.semver, "created": result.created}))
    else:
        state = "registered" if result.created else "already registered"
        if args.dry_run:
            state = "would register" if result.created else "already registered"
        out(f"{state}: {args.family} {result.semver or 'untagged'} {result.sha}")
    return EXIT_OK


def tag(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    sha = registry.resolve(args.ref)
    registry.tag(sha, args.semver, reason=args.reason)
    out(f"{args.semver} -> {short(sha)}")
    return EXIT_OK


def retag(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    previous = registry.tags().get(_normalise(args.semver))
    sha = registry.resolve(args.ref)
    registry.retag(sha, args.semver, reason=args.reason)
    was = short(previous) if previous else "unbound"
    out(f"{args.semver}: {was} -> {short(sha)}")
    return EXIT_OK


def _normalise(semver: str) -> str:
    return semver if semver.startswith("v") else f"v{semver}"


def alias(args: argparse.Namespace) -> int:
    if args.name in GATED_ALIASES:
        raise GramopsError(
            f"{args.name} moves only by a promotion: `gramops promote REF --alias {args.name} "
            '-m "why"` (the gate\'s decision is checked and the act is audited), or '
            '`gramops rollback -m "why"`'
        )
    registry = registry_of(args)
    previous = registry.aliases().get(args.name)
    sha = registry.resolve(args.ref)
    registry.set_alias(args.name, sha)
    was = short(previous) if previous else "unset"
    out(f"{args.name}: {was} -> {short(sha)}")
    return EXIT_OK


def verify(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    report = registry.verify()
    mlflow = verify_registry_mirror(registry, Path.cwd()) if args.mlflow else []
    ok = report.ok and not mlflow
    if args.json:
        out(
            dumps_pretty(
                {**report.to_dict(), "ok": ok, **({"mlflow": mlflow} if args.mlflow else {})}
            )
        )
    else:
        for repair in report.repaired:
            out(f"REPAIRED  {repair}")
        for sha, path, obj in report.missing:
            names = _ref_names(registry, sha)
            out(f"MISSING   {names} {path} (object {short(obj)} not in the store)")
        for sha, path, obj in report.tampered:
            names = _ref_names(registry, sha)
            out(f"TAMPERED  {names} {path} (object {short(obj)} does not hash to its key)")
        for error in report.errors:
            out(f"ERROR     {error}")
        for sha in report.absent:
            out(
                f"NOT HERE  {_ref_names(registry, sha)} bytes not in this store (registered "
                f"elsewhere or collected by gc); rebuild with: gramops reproduce {short(sha)} "
                "--restore"
            )
        for difference in mlflow:
            out(f"MLFLOW    {difference}")
        count = len(report.absent)
        absent = f", {count} {'entry' if count == 1 else 'entries'} not in this store"
        out(
            f"{'ok' if ok else 'FAILED'}: {report.checked} objects checked"
            + (absent if count else "")
        )
    return EXIT_OK if ok else EXIT_PROBLEMS


def _ref_names(registry: Registry, sha: str) -> str:
    """A SHA with the semvers and aliases that point at it: what a user would load it by."""
    refs = [*registry.semvers_of(sha), *registry.aliases_of(sha)]
    return f"{short(sha)} ({', '.join(refs)})" if refs else short(sha)


def gc(args: argparse.Namespace) -> int:
    keys = registry_of(args).gc(dry_run=not args.delete)
    verb = "deleted" if args.delete else "would delete (dry run; pass --delete)"
    if args.json:
        out(dumps_pretty({"deleted" if args.delete else "unreferenced": keys}))
    else:
        for key in keys:
            out(key)
        out(f"{verb}: {len(keys)} objects")
    return EXIT_OK
