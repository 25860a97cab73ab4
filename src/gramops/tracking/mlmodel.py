"""A registry entry as an MLflow Model: the ``python_function`` flavour with gramops' loader.

The model directory MLflow stores and serves::

    MLmodel, requirements.txt, python_env.yaml, conda.yaml, input_example.json, ...
    data/bundle/   the bundle's identity files, so canonical_sha(data/bundle) is the entry's SHA
                   identity.json (the recorded SHA and family) and, for a LoRA adapter,
                   base/ (its FP32 base's identity files); neither is an identity file

Identity is computed over the bundle files only, so MLmodel's timestamps, a re-save through
``mlflow.pyfunc.save_model`` or a download never change the SHA. The loader is
:mod:`gramops.inference.pyfunc` by name (``loader_module``): nothing is pickled.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import re
import shutil
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import write_json
from gramops.inference import pyfunc
from gramops.models.identity import canonical_sha, identity_files

LOADER_MODULE = pyfunc.__name__
DATA_DIR = "data/bundle"
EXAMPLE = [
    {"sentence": "She ___ to school every day.", "lemma": "go"},
    {"sentence": "Yesterday they ___ the whole cake.", "lemma": "eat"},
]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


class ModelFilesError(GramopsError):
    """An entry cannot be written as an MLflow Model (its bytes or the pins are wrong)."""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _checkout() -> Path | None:
    """The source checkout gramops runs from (src/gramops -> the root), if it is one."""
    root = Path(pyfunc.__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def pinned_requirements() -> list[str]:
    """gramops' runtime dependencies, pinned exactly as in ``requirements.lock``.

    Read from the checkout (``pyproject.toml``'s dependencies, the lock's versions); an
    installed gramops without its checkout pins the versions installed, which `make
    install` took from the same lock.
    """
    root = _checkout()
    if root is None or not (root / "requirements.lock").is_file():
        wanted = [r for r in importlib.metadata.requires("gramops") or [] if "extra ==" not in r]
        names = [_NAME.match(r).group(0) for r in wanted]
        return [f"{n}=={importlib.metadata.version(n)}" for n in names]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins: dict[str, str] = {}
    for line in (root / "requirements.lock").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[_normalized(name)] = f"{name}=={version.strip()}"
    names = [_NAME.match(r).group(0) for r in project["dependencies"]]
    missing = [n for n in names if _normalized(n) not in pins]
    if missing:
        raise ModelFilesError(
            f"{root / 'requirements.lock'}: no pin for {', '.join(missing)} (a dependency in "
            "pyproject.toml); regenerate the lock so MLflow models record exact versions"
        )
    return [pins[_normalized(n)] for n in names]


def signature() -> Any:
    """sentence, lemma -> form, tag, confidence: what `gramops predict` takes and answers."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", name) for name in pyfunc.INPUT_COLUMNS]),
        outputs=Schema(
            [ColSpec("string", "form"), ColSpec("string", "tag"), ColSpec("double", "confidence")]
        ),
    )


def _copy_identity_files(bundle: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in identity_files(bundle):
        shutil.copyfile(bundle / name, dest / name)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only warnings and errors from logger ``name`` while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def save_entry_model(
    path: Path, sha: str, family: str, bundle: Path, base: Path | None = None
) -> Path:
    """Write the entry ``sha`` (files in ``bundle``; a LoRA adapter's base in ``base``) as an
    MLflow Model at ``path``; its data hashes to ``sha`` or nothing is written."""
    import mlflow.pyfunc
    import pandas as pd

    if canonical_sha(bundle) != sha:
        raise ModelFilesError(f"{bundle}: does not hash to {sha}; refusing to save it as {sha}")
    if (family == "lora") != (base is not None):
        needs = "its FP32 base" if family == "lora" else "no base"
        raise ModelFilesError(f"{bundle}: a {family} entry needs {needs}")
    path = Path(path)
    staging = path.parent / f".{path.name}.data"
    data = staging / Path(DATA_DIR).name
    try:
        _copy_identity_files(bundle, data)
        if base is not None:
            _copy_identity_files(base, data / pyfunc.BASE_DIR)
        write_json(data / pyfunc.IDENTITY_FILE, {"canonical_sha": sha, "family": family})
        with warnings.catch_warnings(), _quiet("mlflow.pyfunc"):
            # MLflow 3.17 compares DataFrame columns with a range when saving the example,
            # and says at INFO that it validates the example: one line per entry mirrored
            warnings.filterwarnings("ignore", "Operation with range is deprecated")
            mlflow.pyfunc.save_model(
                str(path),
                loader_module=LOADER_MODULE,
                data_path=str(data),
                pip_requirements=pinned_requirements(),
                signature=signature(),
                input_example=pd.DataFrame(EXAMPLE),
                metadata={"gramops.canonical_sha": sha, "gramops.family": family},
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if canonical_sha(path / DATA_DIR) != sha:  # the layout is the contract; never ship it broken
        raise ModelFilesError(f"{path}: saved model data does not hash to {sha}")
    return path
