"""Stage register: add the three bundles to the content-addressed registry.

The registry under models/registry/ is a store (like MLflow), not a DVC output: this
stage and the gate both write it. Its DVC outputs are the summaries it writes here.
"""

import logging
from pathlib import Path

from gramops.jsonio import write_json
from gramops.provenance import environment_manifest
from gramops.registry import Registry, registry_location
from gramops.stage import load_params, run
from gramops.summary import keyed_summaries

FAMILIES = ("fp32", "int8", "lora")  # parents before children
UPSTREAM = ("base", "pull_corpus", "prepare", "train", "quantize", "finetune", "evaluate")
log = logging.getLogger("stages.register")


def main() -> None:
    sections = (*UPSTREAM, "register")
    params = dict(zip(sections, load_params(*sections), strict=True))
    registry = Registry(actor="stage:register")
    current = {}
    for family in FAMILIES:
        result = registry.register(
            Path("models") / family,
            family=family,
            seed_semver=params["register"].semver[family],
            strict=params["register"].strict,
        )
        current[family] = result.sha
        log.info(
            "%s %s %s (%s%s)",
            family,
            result.semver,
            result.sha[:12],
            "new" if result.created else "already registered",
            f", restored {result.restored_objects} objects" if result.restored_objects else "",
        )
    if "production" not in registry.aliases():
        registry.set_alias("production", current["fp32"])
        log.info("no production model yet: production -> fp32 %s", current["fp32"][:12])
    # Where the registry lives is recorded beside what it holds: the stages that read the
    # registry depend on this file, so pointing GRAMOPS_REGISTRY at a team's store (which
    # DVC cannot see) re-runs them against it, and `dvc metrics diff` shows the move.
    write_json(
        Path("metrics/registry.json"),
        {
            "registry": registry_location(),
            "families": keyed_summaries(current, registry.entry, registry.semvers_of),
        },
    )
    write_json(
        Path("models/manifest.json"),
        {
            "seed": params["base"].seed,
            "models": {
                f: {"sha": sha, "semvers": registry.semvers_of(sha)} for f, sha in current.items()
            },
            "config": {
                name: params[name].model_dump(mode="json") for name in (*UPSTREAM, "register")
            },
            **environment_manifest(),
        },
    )


if __name__ == "__main__":
    run(main)
