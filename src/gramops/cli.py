"""The ``gramops`` command line: small, scriptable commands over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gramops.errors import GramopsError
from gramops.params import read_params_file, validate_all
from gramops.registry import canonical_manifest, canonical_sha


def _sha(args: argparse.Namespace) -> None:
    for bundle in args.bundles:
        if args.manifest:
            from gramops.jsonio import dumps_pretty

            sys.stdout.write(dumps_pretty(canonical_manifest(bundle)))
        else:
            sys.stdout.write(f"{canonical_sha(bundle)}  {bundle}\n")


def _check_params(args: argparse.Namespace) -> None:
    validate_all(read_params_file(args.params))
    sys.stdout.write(f"{args.params}: valid\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gramops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sha = sub.add_parser("sha", help="canonical SHA-256 of model bundle directories")
    sha.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE_DIR")
    sha.add_argument(
        "--manifest",
        action="store_true",
        help="print the canonical manifest that is hashed instead of the SHA",
    )
    sha.set_defaults(func=_sha)
    check = sub.add_parser("check-params", help="validate params.yaml against the schema")
    check.add_argument("params", nargs="?", type=Path, default=Path("params.yaml"))
    check.set_defaults(func=_check_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GramopsError as exc:
        sys.stderr.write(f"gramops: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
