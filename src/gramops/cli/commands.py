"""The parser and its dispatch: every command, its flags and its help, in one place."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gramops.cli import inspection, registry, release, serve
from gramops.cli import status as status_page
from gramops.cli.common import EXIT_PROBLEMS, EXIT_USAGE
from gramops.core.errors import GramopsError
from gramops.core.vocab import FAMILIES
from gramops.registry.store import registry_location
from gramops.release.policy import ReleaseError

REF_HELP = (
    "SHA (or 8+ hex prefix), semver (v0.1.0), alias (production, ...) or family name "
    "(fp32, int8, lora: that family's newest registered entry)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gramops",
        description="Registry, lineage and reproduction for the gramops pipeline. "
        "REF is a full SHA, a unique SHA prefix (8+ hex), a semver (v0.1.0), an alias "
        "(production, ...) or a family name (fp32, int8, lora: that family's newest "
        "registered entry).",
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

    p = command("sha", inspection.sha, "canonical SHA-256 of model bundle directories")
    p.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE_DIR")
    p.add_argument(
        "--manifest",
        action="store_true",
        help="print the canonical manifest that is hashed instead of the SHA",
    )
    p = command("check-params", inspection.check_params, "validate params.yaml against the schema")
    p.add_argument("params", nargs="?", type=Path, default=Path("params.yaml"))

    reg = sub.add_parser(
        "registry",
        help="list, show and change registry entries",
        description="The content-addressed model registry.",
    )
    rsub = reg.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    command(
        "list",
        registry.list_entries,
        "every entry with semver, family, short SHA, aliases",
        rsub,
        True,
    )
    p = command("show", registry.show, "one entry's metadata", rsub)
    p.add_argument("ref", help=REF_HELP)
    p = command(
        "register",
        registry.register,
        "register a bundle directory by its SHA (binds no semver: `gramops promote` does)",
        rsub,
        True,
    )
    p.add_argument("bundle")
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--dry-run", action="store_true", help="show the SHA and semver, write nothing")
    p = command("tag", registry.tag, "bind a new semver to a model (write-once, audited)", rsub)
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("semver")
    p.add_argument("-m", "--reason", help="why (recorded in the audit log)")
    p = command("retag", registry.retag, "move an existing semver to another model (logged)", rsub)
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("semver")
    p.add_argument("-m", "--reason", help="why (recorded in the audit log)")
    p = command(
        "alias",
        registry.alias,
        "point a label alias (challenger, ...) at a model; production and staging move only "
        "by `gramops promote`",
        rsub,
    )
    p.add_argument("name")
    p.add_argument("ref", help=REF_HELP)
    p = command(
        "verify",
        registry.verify,
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
        "gc",
        registry.gc,
        "objects no tag, alias or child references (dry run by default)",
        rsub,
        True,
    )
    p.add_argument("--delete", action="store_true", help="really delete them")

    p = command(
        "lineage",
        inspection.lineage,
        "the chain from a model back to its corpus DVC hash",
        json=True,
    )
    p.add_argument("ref", help=REF_HELP)
    p = command(
        "promote",
        release.promote,
        "release a model: point production (or --alias staging) at it, as a signed, audited "
        "act; refused unless the gate's fresh decision promotes exactly this model",
    )
    p.add_argument("ref", help=REF_HELP)
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
        "history",
        inspection.history,
        "every model that ever held production (or --alias)",
        rsub,
        True,
    )
    p.add_argument("--alias", default="production")
    p.add_argument("--costs", default="metrics/cpqu.json", help="cost per 1k tokens per model")
    p = command(
        "predict",
        inspection.predict,
        "correct verb forms: JSON requests in, one JSON line out per request, in order "
        '(e.g. {"id": 1, "sentence": "She ___ to school.", "lemma": "go"}). Lemmas are read '
        'case-insensitively; a phrasal verb inflects its head ("get up" -> "got up"); a lemma '
        "that is an inflected form or no verb WordNet knows is answered with `warnings` (also "
        'on stderr). A bad request is answered in its place ({"line": 3, "error": ...}) and '
        "the exit code is 1",
    )
    p.add_argument(
        "input", nargs="?", default="-", help="JSON, JSON array or JSON lines; - = stdin"
    )
    p.add_argument(
        "--ref",
        default="production",
        help="model to use: SHA, semver, alias or family name (fp32, int8, lora: its newest "
        "entry) (default: %(default)s)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="all or nothing: refuse the whole batch, naming every bad request, if any is "
        "bad (exit 2, nothing answered)",
    )
    p = command(
        "serve",
        serve.serve,
        "answer predictions over HTTP with the model an alias names, following it: a "
        "promotion or rollback is served within 2 s (settings: params.yaml serve:)",
    )
    serve.add_arguments(p)
    p = command("gate", release.gate_check, "show the deploy gate's decision (metrics/gate.json)")
    p.add_argument(
        "--check",
        action="store_true",
        help="the CI deploy gate: exit 1 unless production got there by an approved "
        "promotion, meets the quality floor, the decision is fresh against the registry, "
        "every metrics file names existing entries and the candidate passes",
    )
    p.add_argument("--file", default="metrics/gate.json")
    p.add_argument("--params", default="params.yaml", help="gate.quality_floor is read here")
    p = command(
        "status",
        status_page.status,
        "whether status/index.html still shows the registry: it states the audit log record "
        "it was built at, compared here with the registry's",
    )
    p.add_argument(
        "--check", action="store_true", help="exit 1 with the reason when the page is stale"
    )
    p.add_argument("--page", default="status/index.html", help="the page (default: %(default)s)")
    p = command(
        "rollback", release.rollback, "move an alias back to its previous model, from the log"
    )
    p.add_argument("--alias", default="production")
    p.add_argument("-m", "--reason", help="why (required; audited and notified)")
    p.add_argument("--params", default="params.yaml", help="release.notify_url is read here")
    p = command(
        "reproduce",
        inspection.reproduce,
        "rebuild a registered model from its recorded commit in a temporary git "
        "worktree with `dvc repro` and compare canonical SHAs",
        json=True,
    )
    p.add_argument("ref", help=REF_HELP)
    p.add_argument("--repo", default=".", help="git repository to rebuild from")
    p.add_argument("--keep", action="store_true", help="keep the temporary worktree")
    p.add_argument(
        "--restore",
        action="store_true",
        help="put the rebuilt bytes (and the parent's) into this store when they match: "
        "how a fresh clone gets a model the current code no longer builds",
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run its command (:func:`gramops.cli.main` is the entry point)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ReleaseError as exc:  # a refusal: the inputs were fine, the state says no
        sys.stderr.write(f"gramops: {exc}\n")
        return EXIT_PROBLEMS
    except GramopsError as exc:
        sys.stderr.write(f"gramops: {exc}\n")
        return EXIT_USAGE
