"""What every stage script shares: params loading, logging, one BLAS thread, clean errors.

Stage scripts stay thin: ``main()`` reads its params through :func:`load_params`, calls
library functions and writes its declared outputs; :func:`run` wraps it. A stage script
imports :mod:`gramops.core.stage_guard` first, so a Ctrl-C during its imports is quiet too.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from gramops.core.errors import GramopsError
from gramops.core.exits import EXIT_INTERRUPTED
from gramops.core.params import read_params_file, validate_all

PARAMS_FILE = Path("params.yaml")
log = logging.getLogger("gramops.stage")


def load_params(*sections: str, path: Path = PARAMS_FILE) -> tuple[Any, ...]:
    """Validate the whole params file (one clear error before any work), return sections."""
    validated = validate_all(read_params_file(path))
    return tuple(validated[name] for name in sections)


def run(main: Callable[[], None]) -> None:
    """Run a stage: INFO logging, single-threaded BLAS (bit-for-bit reproducible sums)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            main()
    except GramopsError as exc:
        log.error("%s", exc)
        sys.exit(2)
    except KeyboardInterrupt:  # a script without stage_guard: still one line, still 130
        sys.stderr.write("stage interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    log.info("done in %.1f s", time.perf_counter() - started)
