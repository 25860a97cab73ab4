"""Stage register: add the three evaluated bundles to the registry, by SHA.

The registry (models/registry/) is a store, not a DVC output. This stage only adds
content-addressed entries, which is safe to repeat: it binds no semver and moves no
alias (people and CI do that with `gramops promote`). Its DVC outputs are the summaries
below; models/manifest.json is an uncached, gitignored output, so DVC keeps no run-cache
for this stage and never restores its summaries without the entries they name.
"""

import logging
from pathlib import Path

from gramops.core.fileio import write_json
from gramops.core.stage import load_params, run
from gramops.core.vocab import FAMILIES, short
from gramops.core.workspace import git_add
from gramops.models.provenance import environment_manifest
from gramops.registry.store import Registry, registry_location
from gramops.registry.summary import keyed_summaries

UPSTREAM = ("base", "pull_corpus", "prepare", "train", "quantize", "finetune", "evaluate")
log = logging.getLogger("stages.register")


def main() -> None:
    params = dict(zip(UPSTREAM, load_params(*UPSTREAM), strict=True))
    registry = Registry(actor="stage:register")
    current, created = {}, []
    for family in FAMILIES:
        result = registry.register(Path("models") / family, family=family)
        current[family] = result.sha
        if result.created and registry.is_local:
            created.append(registry.entry_path(result.sha))
        log.info(
            "%s %s %s (%s%s)",
            family,
            result.semver or "untagged",
            short(result.sha),
            "new" if result.created else "already registered",
            f", restored {result.restored_objects} objects" if result.restored_objects else "",
        )
    if created:
        git_add(created)
    # Where the registry lives is recorded beside what it holds: the stages that read the
    # registry depend on this file, so pointing GRAMOPS_REGISTRY at a team's store (which
    # DVC cannot see) re-runs them against it, and `dvc metrics diff` shows the move. No
    # semvers: a promotion binds them later, and this file would then be stale
    # (metrics/aliases.json shows the released models with theirs).
    write_json(
        Path("metrics/registry.json"),
        {
            "registry": registry_location(),
            "families": keyed_summaries(current, registry.entry, None),
            "shas": current,
        },
    )
    write_json(
        Path("models/manifest.json"),
        {
            "seed": params["base"].seed,
            "models": {f: {"sha": sha} for f, sha in current.items()},
            "config": {name: params[name].model_dump(mode="json") for name in UPSTREAM},
            **environment_manifest(),
        },
    )


if __name__ == "__main__":
    run(main)
