"""What every stage script shares: params loading, logging, one BLAS thread, clean errors.

Stage scripts stay thin: ``main()`` reads its params through :func:`load_params`, calls
library functions and writes its declared outputs; :func:`run` wraps it.
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
    log.info("done in %.1f s", time.perf_counter() - started)
