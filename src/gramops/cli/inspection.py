"""Commands that look without changing anything: sha, check-params, lineage, history,
predict, reproduce (which rebuilds in a temporary worktree)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gramops.cli.common import EXIT_OK, EXIT_PROBLEMS, out, registry_of, table
from gramops.core.fileio import dumps_pretty, read_json
from gramops.core.params import read_params_file, validate_all
from gramops.core.vocab import short
from gramops.models.identity import canonical_manifest, canonical_sha


def sha(args: argparse.Namespace) -> int:
    for bundle in args.bundles:
        if args.manifest:
            out(dumps_pretty(canonical_manifest(bundle)))
        else:
            out(f"{canonical_sha(bundle)}  {bundle}")
    return EXIT_OK


def check_params(args: argparse.Namespace) -> int:
    validate_all(read_params_file(args.params))
    out(f"{args.params}: valid")
    return EXIT_OK


def lineage(args: argparse.Namespace) -> int:
    from gramops.report.lineage import chain_text

    chain = registry_of(args).lineage(args.ref)
    out(dumps_pretty(chain) if args.json else chain_text(chain))
    return EXIT_OK


def reproduce(args: argparse.Namespace) -> int:
    # imported per command, as the heavier ones below: `gramops` starts fast for the others
    from gramops.registry.reproduce import reproduce as rebuild
    from gramops.registry.reproduce import why_different

    result = rebuild(
        registry_of(args), args.ref, Path(args.repo), keep=args.keep, restore=args.restore
    )
    if args.json:
        out(dumps_pretty(result))
    else:
        out(f"entry    {result['sha']} ({result['family']})")
        out(f"commit   {result['commit']}")
        out(f"rebuilt  {result['rebuilt_sha']}")
        if result.get("restored"):
            out(f"restored {', '.join(short(s) for s in result['restored'])} into this store")
        out(
            "REPRODUCED: identical canonical SHA"
            if result["reproduced"]
            else "DIFFERENT: the rebuilt bundle does not match the registered SHA"
        )
        if reason := why_different(result):
            out(f"why      {reason}")
    return EXIT_OK if result["reproduced"] else EXIT_PROBLEMS


def history(args: argparse.Namespace) -> int:
    from gramops.registry.auditlog import alias_history

    registry = registry_of(args)
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
        out(dumps_pretty(rows))
    elif rows:
        for row in rows:
            row["sha"] = short(row["sha"])
            row["until"] = row["until"] or "now"
            row["reason"] = row.get("reason") or ""
            for key in ("verb_pass_rate", "usd_per_1b_tokens"):
                row[key] = "" if row[key] is None else row[key]
        out(
            table(
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
        out(f"no model has held {args.alias!r}")
    return EXIT_OK


def predict(args: argparse.Namespace) -> int:
    """One JSON line per request, in input order: the answer, or the reason it was refused.

    Warnings and refusals also go to stderr, naming the line. Exit 0 when every request was
    answered, 1 when some were refused in place; with ``--strict`` a batch with any bad
    request is refused whole, before a model loads (exit 2).
    """
    import json
    import tempfile

    from gramops.inference.requests import predict as answer
    from gramops.inference.requests import read_items, read_requests
    from gramops.monitoring.challenger import load_registered

    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
    if args.strict:
        read_requests(text)  # every bad request named, nothing answered
    items = read_items(text)  # input that is no batch at all fails before any model loads
    valid = [item.request for item in items if item.request is not None]
    answers = iter(())
    if valid:
        with tempfile.TemporaryDirectory(prefix="gramops-predict-") as tmp:
            _sha, predictor = load_registered(registry_of(args), args.ref, Path(tmp))
            answers = iter(answer(valid, predictor, explain=True))
    refused = 0
    for item in items:
        if item.request is None:
            refused += 1
            sys.stderr.write(f"gramops: {item.where}: refused: {item.error}\n")
            out(json.dumps(item.refusal(), separators=(",", ":")))
            continue
        response = next(answers)
        for warning in response.warnings:
            sys.stderr.write(f"gramops: {item.where}: warning: {warning}\n")
        out(response.model_dump_json())
    return EXIT_PROBLEMS if refused else EXIT_OK
