"""The ``gramops`` command line: the registry, lineage, rollback and reproduction.

Exit codes scripts can rely on: 0 success; 1 a check found problems (``registry verify``,
``reproduce`` with a different SHA); 2 bad input (unknown ref, bad semver, bad params).
Every command that reports data takes ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gramops.errors import GramopsError
from gramops.identity import canonical_manifest, canonical_sha
from gramops.jsonio import dumps_pretty, read_json
from gramops.params import read_params_file, validate_all
from gramops.registry import Registry, registry_location
from gramops.summary import SHORT, entry_summary

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
    result = action(
        Path(args.bundle), family=args.family, seed_semver=args.first_semver, strict=args.strict
    )
    if args.json:
        _out(dumps_pretty({"sha": result.sha, "semver": result.semver, "created": result.created}))
    else:
        state = "registered" if result.created else "already registered"
        if args.dry_run:
            state = "would register" if result.created else "already registered"
        _out(f"{state}: {args.family} {result.semver} {result.sha}")
    return EXIT_OK


def _promote(args: argparse.Namespace) -> int:
    registry = _registry(args)
    sha = registry.resolve(args.ref)
    registry.promote(sha, args.semver)
    _out(f"{args.semver} -> {sha[:SHORT]}")
    return EXIT_OK


def _retag(args: argparse.Namespace) -> int:
    registry = _registry(args)
    previous = registry.tags().get(_normalise(args.semver))
    sha = registry.resolve(args.ref)
    registry.retag(sha, args.semver)
    was = previous[:SHORT] if previous else "unbound"
    _out(f"{args.semver}: {was} -> {sha[:SHORT]}")
    return EXIT_OK


def _normalise(semver: str) -> str:
    return semver if semver.startswith("v") else f"v{semver}"


def _alias(args: argparse.Namespace) -> int:
    registry = _registry(args)
    previous = registry.aliases().get(args.name)
    sha = registry.resolve(args.ref)
    registry.set_alias(args.name, sha)
    was = previous[:SHORT] if previous else "unset"
    _out(f"{args.name}: {was} -> {sha[:SHORT]}")
    return EXIT_OK


def _rollback(args: argparse.Namespace) -> int:
    registry = _registry(args)
    new, previous = registry.rollback(args.alias)
    versions = ", ".join(registry.semvers_of(new)) or "untagged"
    _out(f"{args.alias}: {previous[:SHORT]} -> {new[:SHORT]} ({versions})")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    registry = _registry(args)
    report = registry.verify()
    if args.json:
        _out(
            dumps_pretty(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "missing": report.missing,
                    "tampered": report.tampered,
                    "errors": report.errors,
                    "repaired": report.repaired,
                    "absent": report.absent,
                }
            )
        )
    else:
        for repair in report.repaired:
            _out(f"REPAIRED  {repair}")
        for sha, path, obj in report.missing:
            names = _ref_names(registry, sha)
            _out(f"MISSING   {names} {path} (object {obj[:SHORT]} not in the store)")
        for sha, path, obj in report.tampered:
            names = _ref_names(registry, sha)
            _out(f"TAMPERED  {names} {path} (object {obj[:SHORT]} does not hash to its key)")
        for error in report.errors:
            _out(f"ERROR     {error}")
        for sha in report.absent:
            _out(
                f"NOT HERE  {_ref_names(registry, sha)} bytes not in this store (registered "
                f"elsewhere or collected by gc); rebuild with: gramops reproduce {sha[:SHORT]}"
            )
        count = len(report.absent)
        absent = f", {count} {'entry' if count == 1 else 'entries'} not in this store"
        summary = f"{'ok' if report.ok else 'FAILED'}: {report.checked} objects checked"
        _out(summary + (absent if count else ""))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _ref_names(registry: Registry, sha: str) -> str:
    """A SHA with the semvers and aliases that point at it: what a user would load it by."""
    refs = [*registry.semvers_of(sha), *registry.aliases_of(sha)]
    return f"{sha[:SHORT]} ({', '.join(refs)})" if refs else sha[:SHORT]


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
    from gramops.lineage import chain_text

    chain = _registry(args).lineage(args.ref)
    _out(dumps_pretty(chain) if args.json else chain_text(chain))
    return EXIT_OK


def _reproduce(args: argparse.Namespace) -> int:
    from gramops.reproduce import reproduce

    result = reproduce(_registry(args), args.ref, Path(args.repo), keep=args.keep)
    if args.json:
        _out(dumps_pretty(result))
    else:
        _out(f"entry    {result['sha']} ({result['family']})")
        _out(f"commit   {result['commit']}")
        _out(f"rebuilt  {result['rebuilt_sha']}")
        _out(
            "REPRODUCED: identical canonical SHA"
            if result["reproduced"]
            else "DIFFERENT: the rebuilt bundle does not match the registered SHA"
        )
    return EXIT_OK if result["reproduced"] else EXIT_PROBLEMS


def _notify_url(params: Path) -> str | None:
    if not params.is_file():
        return None
    return validate_all(read_params_file(params))["gate"].notify_url


def _promote_alias(args: argparse.Namespace) -> int:
    registry = _registry(args)
    sha = registry.resolve(args.ref)
    new, previous = registry.set_alias(args.alias, sha)
    versions = ", ".join(registry.semvers_of(new)) or "untagged"
    was = previous[:SHORT] if previous else "unset"
    _out(f"{args.alias}: {was} -> {new[:SHORT]} ({versions})")
    url = _notify_url(Path(args.params))
    if url and new != previous:
        from gramops.notify import post_json

        post_json(
            url,
            {
                "event": "promote",
                "alias": args.alias,
                "sha": new,
                "previous": previous,
                "semvers": registry.semvers_of(new),
                "actor": registry.actor,
            },
        )
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from gramops.summary import alias_history

    registry = _registry(args)
    costs = {}
    cost_file = Path(args.costs)
    if cost_file.is_file():
        costs = {row["sha"]: row for row in read_json(cost_file).get("entries", {}).values()}
    rows = []
    for period in alias_history(registry.history(), args.alias):
        entry = registry.entry(period["sha"])
        cost = costs.get(period["sha"][:SHORT], {})
        rows.append(
            {
                **period,
                "semver": ", ".join(registry.semvers_of(period["sha"])) or "untagged",
                "family": entry["family"],
                "verb_pass_rate": entry.get("metrics", {}).get("verb", {}).get("pass_rate"),
                "usd_per_1k_tokens": cost.get("usd_per_1k_tokens"),
            }
        )
    if args.json:
        _out(dumps_pretty(rows))
    elif rows:
        for row in rows:
            row["sha"] = row["sha"][:SHORT]
            row["until"] = row["until"] or "now"
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
                    "verb_pass_rate",
                    "usd_per_1k_tokens",
                ),
            )
        )
    else:
        _out(f"no model has held {args.alias!r}")
    return EXIT_OK


def _gate_check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise GramopsError(f"{path} not found: run the pipeline (`dvc repro gate`) first")
    gate = read_json(path)
    _out(
        f"gate: {gate['decision']} (challenger {gate['challenger']}, production {gate['champion']})"
    )
    for rule in gate["rules"]:
        _out(f"  {rule['verdict'].upper():4}  {rule['name']}: {rule['detail']}")
    if not args.check:
        return EXIT_OK
    return EXIT_PROBLEMS if gate["decision"] == "block" else EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    import tempfile

    from gramops.monitoring import load_registered
    from gramops.serving import predict, read_requests

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
    p = command("register", _register, "register a bundle directory", rsub, True)
    p.add_argument("bundle")
    p.add_argument("--family", required=True, choices=("fp32", "int8", "lora"))
    p.add_argument(
        "--first-semver",
        required=True,
        help="version if the family is new; later SHAs get the next patch",
    )
    p.add_argument("--strict", action="store_true", help="refuse a new SHA in a known family")
    p.add_argument("--dry-run", action="store_true", help="show the SHA and semver, write nothing")
    p = command("promote", _promote, "bind a new semver to a model (write-once)", rsub)
    p.add_argument("ref")
    p.add_argument("semver")
    p = command("retag", _retag, "move an existing semver to another model (logged)", rsub)
    p.add_argument("ref")
    p.add_argument("semver")
    p = command("alias", _alias, "point an alias (production, challenger, ...) at a model", rsub)
    p.add_argument("name")
    p.add_argument("ref")
    command(
        "verify",
        _verify,
        "re-hash every stored object; exit 1 on a missing or tampered one",
        rsub,
        True,
    )
    p = command(
        "gc", _gc, "objects no tag, alias or child references (dry run by default)", rsub, True
    )
    p.add_argument("--delete", action="store_true", help="really delete them")

    p = command(
        "lineage", _lineage, "the chain from a model back to its corpus DVC hash", json=True
    )
    p.add_argument("ref")
    p = command("promote", _promote_alias, "point production (or --alias) at a model, audited")
    p.add_argument("ref")
    p.add_argument("--alias", default="production")
    p.add_argument(
        "--params",
        default="params.yaml",
        help="where gate.notify_url (a webhook for promotions) is read from",
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
    p.add_argument("--check", action="store_true", help="exit 1 when the decision is block")
    p.add_argument("--file", default="metrics/gate.json")
    p = command("rollback", _rollback, "move an alias back to its previous model, from the log")
    p.add_argument("--alias", default="production")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GramopsError as exc:
        sys.stderr.write(f"gramops: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
