"""The ``gramops`` command line: the registry, lineage, rollback and reproduction.

Exit codes scripts can rely on: 0 success; 1 a check found problems or an act was refused
(``registry verify``, ``gate --check``, ``reproduce`` with a different SHA, ``promote``
without the gate's approval); 2 bad input (unknown ref, bad semver, bad params); 130
interrupted (Ctrl-C); 141 stdout closed early (``gramops gate | head -1``).
Every command that reports data takes ``--json``.

:mod:`~gramops.cli.commands` holds the parser; the commands live by concern: ``registry``
(entries, semvers, aliases, verify, gc), ``release`` (promote, rollback, the gate) and
``inspection`` (sha, check-params, lineage, history, predict, reproduce).

This module is the console script's entry, so it imports nothing heavy itself: :func:`main`
makes Ctrl-C quiet *before* the commands' imports (pydantic, the registry) run, and the
names below load on first use.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

from gramops.core.exits import (
    EXIT_CLOSED_PIPE,
    EXIT_INTERRUPTED,
    Interrupted,
    quiet_interrupts,
    restore_interrupts,
    silence_stdout,
)

_LAZY = {
    "EXIT_OK": "gramops.cli.common",
    "EXIT_PROBLEMS": "gramops.cli.common",
    "EXIT_USAGE": "gramops.cli.common",
    "build_parser": "gramops.cli.commands",
}
__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "build_parser", "main"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C exits 130 in one line and a closed stdout 141, silently."""
    previous = quiet_interrupts("gramops")
    try:
        from gramops.cli.commands import run

        try:
            return run(argv)
        finally:  # a closed pipe shows here, not in the interpreter's last flush (--help too)
            sys.stdout.flush()
    except Interrupted:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_CLOSED_PIPE
    finally:
        restore_interrupts(previous)
