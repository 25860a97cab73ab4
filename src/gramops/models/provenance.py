"""Where a model came from, recorded deterministically: corpus DVC hash and code version.

Both values go into ``train_manifest.json``, an identity file, so they must be functions
of content only: no git commit ids (they change with every commit even when the code a
stage runs does not), no timestamps, no host names.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml

from gramops.core.errors import GramopsError
from gramops.core.hashing import sha256_file


def dvc_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_dir_hash(directory: Path) -> str:
    """The hash DVC 3 records for a directory output (``<md5 of the .dir listing>.dir``).

    It is the key under which the directory lives in the DVC cache and remote, so
    ``dvc pull``/``dvc checkout`` with it restores these exact files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise GramopsError(f"{directory}: not a directory, cannot compute its DVC hash")
    entries = sorted(
        (
            {"md5": dvc_md5(p), "relpath": p.relative_to(directory).as_posix()}
            for p in directory.rglob("*")
            if p.is_file()
        ),
        key=lambda e: e["relpath"],
    )
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing, usedforsecurity=False).hexdigest() + ".dir"


def code_fingerprint(dvc_yaml: Path, stage: str) -> dict[str, str]:
    """sha256 of each Python file a stage declares as a dependency in ``dvc.yaml``.

    The declared deps are exactly the code DVC re-runs the stage for, so this records the
    code version of a model with the same granularity as DVC, in one place. A declared
    directory (a subpackage) stands for every Python file in it, as it does for DVC
    (``.dvcignore`` leaves ``__pycache__`` out of both).
    """
    spec = yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8"))
    try:
        deps = spec["stages"][stage]["deps"]
    except (KeyError, TypeError) as exc:
        raise GramopsError(f"{dvc_yaml}: no stage {stage!r} with deps") from exc
    root = Path(dvc_yaml).parent
    files: list[str] = []
    for dep in deps:
        path = root / dep
        if path.is_dir():
            files.extend(
                p.relative_to(root).as_posix()
                for p in path.rglob("*.py")
                if "__pycache__" not in p.parts
            )
        elif dep.endswith(".py"):
            files.append(dep)
    return {name: sha256_file(root / name) for name in sorted(files)}


LIBRARIES = (
    "dvc",
    "mlflow",
    "numpy",
    "scipy",
    "pandas",
    "safetensors",
    "lemminflect",
    "pydantic",
    "matplotlib",
    "pyyaml",
)


def environment_manifest() -> dict[str, object]:
    """Library versions and the kind of machine: what a rebuild must match.

    Only facts that are the same on every machine of one kind go here (no host name, CPU
    model string or memory size), because the manifest is a pipeline output in dvc.lock.
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    libraries: dict[str, str] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = "not installed"
    return {
        "libraries": libraries,
        "hardware": {
            "machine": platform.machine(),
            "system": platform.system(),
            "cpus": os.cpu_count(),
        },
    }


def code_record(stage: str, dvc_yaml: Path = Path("dvc.yaml")) -> dict[str, object]:
    """The code version a stage's output records: package version + its declared files."""
    from gramops.core import __version__

    return {"gramops": __version__, "files": code_fingerprint(dvc_yaml, stage)}


def corpus_record(corpus_dir: Path, domain: str, counts: dict[str, int]) -> dict[str, object]:
    """Which corpus a model was trained on: its DVC hash (restorable), domain, split sizes."""
    return {
        "path": Path(corpus_dir).as_posix(),
        "dvc_hash": dvc_dir_hash(corpus_dir),
        "domain": domain,
        "records": counts,
    }
