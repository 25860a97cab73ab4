"""``gramops status``: whether the status page still shows the registry as it is."""

from __future__ import annotations

import argparse
from pathlib import Path

from gramops.cli.common import EXIT_OK, EXIT_PROBLEMS, out, registry_of
from gramops.core.errors import GramopsError
from gramops.report.status_page import staleness, stated_state


def status(args: argparse.Namespace) -> int:
    """Compare the page's stated audit log record with the registry's; with ``--check``,
    exit 1 (one line on stdout saying why) when the page is stale."""
    page = Path(args.page)
    try:
        html = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GramopsError(f"{page} not found: build it with `dvc repro status`") from None
    registry = registry_of(args)
    state = registry.state()
    reason = staleness(page, stated_state(html), state, registry.history())
    if reason is None:
        out(f"{page} is current: it shows the registry at audit log record {state['seq']}")
        return EXIT_OK
    out(reason)
    return EXIT_PROBLEMS if args.check else EXIT_OK
