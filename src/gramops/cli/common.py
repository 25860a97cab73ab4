"""What every command shares: exit codes, printing to stdout, the registry the flags name."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from gramops.core.errors import GramopsError
from gramops.registry.store import Registry

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def out(text: str) -> None:
    """One line (or block) on stdout, newline-terminated exactly once."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def registry_of(args: argparse.Namespace) -> Registry:
    """The registry ``--registry`` names (the store's default actor)."""
    return Registry(args.registry)


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned columns under upper-case headers, no trailing spaces."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def required_reason(args: argparse.Namespace, what: str) -> str:
    """``-m/--reason``, stripped; an act that must be explained fails without one."""
    reason = (args.reason or "").strip()
    if not reason:
        raise GramopsError(
            f'{what} needs a reason: -m/--reason "why" (it goes into the audit log and the '
            "notification)"
        )
    return reason
