"""The files of one model on disk: safetensors weights and JSON metadata.

A bundle directory holds the weights (``model.safetensors`` or ``adapter.safetensors``),
``config.json``, ``train_manifest.json`` and, once evaluated, ``eval_report.json``. Loading
never unpickles anything: weights are safetensors and metadata is JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from gramops.errors import GramopsError
from gramops.jsonio import read_json, write_json


class BundleError(GramopsError):
    """A bundle file is missing, truncated or not what it claims to be."""


def save_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write tensors with safetensors, contiguous and in a fixed order (deterministic bytes)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(tensors[k]) for k in sorted(tensors)}, str(path))


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: weights file not found")
    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(
            f"{path}: not a readable safetensors file ({exc}); it may be truncated or corrupt"
        ) from exc


def save_bundle(
    bundle_dir: Path,
    weights_file: str,
    tensors: dict[str, np.ndarray],
    config: dict[str, Any],
    train_manifest: dict[str, Any],
) -> None:
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    save_tensors(bundle_dir / weights_file, tensors)
    write_json(bundle_dir / "config.json", config)
    write_json(bundle_dir / "train_manifest.json", train_manifest)


def read_metadata(bundle_dir: Path, name: str) -> dict[str, Any]:
    path = Path(bundle_dir) / name
    if not path.is_file():
        raise BundleError(f"{path}: missing; was the stage that writes it run?")
    data = read_json(path)
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a JSON object")
    return data
