"""Stage pull_corpus: Princeton WordNet 3.0 from a pinned, sha256-verified source."""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
import logging
from pathlib import Path

from gramops.core.stage import load_params, run
from gramops.corpus.source import pull_corpus

OUT = Path("data/raw/wordnet")
log = logging.getLogger("stages.pull_corpus")


def main() -> None:
    (params,) = load_params("pull_corpus")
    summary = pull_corpus(params, OUT)
    log.info("WordNet in %s: %s files, sha256 %s", OUT, summary["files"], summary["sha256"])


if __name__ == "__main__":
    run(main)
