"""The ``gramops`` command line: the registry, lineage, rollback and reproduction.

Exit codes scripts can rely on: 0 success; 1 a check found problems or an act was refused
(``registry verify``, ``gate --check``, ``reproduce`` with a different SHA, ``promote``
without the gate's approval); 2 bad input (unknown ref, bad semver, bad params).
Every command that reports data takes ``--json``.

:mod:`~gramops.cli.main` holds the parser; the commands live by concern: ``registry``
(entries, semvers, aliases, verify, gc), ``release`` (promote, rollback, the gate) and
``inspection`` (sha, check-params, lineage, history, predict, reproduce).
"""

from gramops.cli.common import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE
from gramops.cli.main import build_parser, main

__all__ = ["EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "build_parser", "main"]
