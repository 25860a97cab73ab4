"""Stage register: add the three evaluated bundles to the registry, by SHA.

The registry (models/registry/) is a store, not a DVC output. This stage only adds
content-addressed entries, which is safe to repeat: it binds no semver and moves no
alias (people and CI do that with `gramops promote`). Its DVC outputs are the summaries
below; models/manifest.json is an uncached, gitignored output, so DVC keeps no run-cache
for this stage and never restores its summaries without the entries they name.
"""

import gramops.core.stage_guard  # noqa: F401, I001  (first of all: see its docstring)
from pathlib import Path

from gramops.core.fileio import write_json
from gramops.core.stage import load_params, run
from gramops.core.workspace import git_add
from gramops.models.manifest import pipeline_manifest
from gramops.models.provenance import environment_manifest
from gramops.registry.builds import register_builds, registration_records, registry_metrics
from gramops.registry.store import Registry

UPSTREAM = ("base", "pull_corpus", "prepare", "train", "quantize", "finetune", "evaluate")


def main() -> None:
    params = dict(zip(UPSTREAM, load_params(*UPSTREAM), strict=True))
    registry = Registry(actor="stage:register")
    registered = register_builds(registry, Path("models"))
    if registered.created:
        git_add(registered.created)
    write_json(Path("metrics/registry.json"), registry_metrics(registry, registered.shas))
    write_json(
        Path("models/manifest.json"),
        pipeline_manifest(
            params, registration_records(registry, registered.shas), environment_manifest()
        ),
    )


if __name__ == "__main__":
    run(main)
