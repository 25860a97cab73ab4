"""The files of one model on disk: safetensors weights and JSON metadata.

A bundle directory holds the weights (``model.safetensors`` or ``adapter.safetensors``),
``config.json``, ``train_manifest.json`` and, once evaluated, ``eval_report.json``. Loading
never unpickles anything: weights are safetensors and metadata is JSON. Weights are checked
against what ``config.json`` implies (tensor names, dtypes, shapes) before any model uses
them, so a damaged or mismatched file is named instead of failing deep inside numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from gramops.core.errors import GramopsError
from gramops.core.fileio import read_json, write_json


class BundleError(GramopsError):
    """A bundle file is missing, truncated or not what it claims to be."""


def save_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write tensors with safetensors, contiguous and in a fixed order (deterministic bytes)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(tensors[k]) for k in sorted(tensors)}, str(path))


TensorSpec = dict[str, tuple[np.dtype, tuple[int, ...]]]
"""Tensor name -> (dtype, shape) a weights file must hold exactly."""

_F32 = np.dtype(np.float32)
_I8 = np.dtype(np.int8)


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file; :class:`BundleError` naming the file if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: weights file not found")
    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(
            f"{path}: not a readable safetensors file ({exc}); it may be truncated or corrupt"
        ) from exc


def _config_int(config: dict[str, Any], dotted: str, where: Path) -> int:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BundleError(
            f"{where}/config.json: {dotted} is {value!r}; expected a positive integer"
        )
    return value


def weights_spec(config: dict[str, Any], where: Path) -> TensorSpec:
    """The tensors the weights of a bundle with this ``config.json`` must hold.

    FP32: ``W1`` (hidden x 2**hash_bits), ``b1``, ``W2`` (tags x hidden), ``b2``; INT8 the
    same matrices as int8 codes ``.q`` with float32 per-row ``.scale``; a LoRA adapter
    ``A`` (rank x in) and ``B`` (out x rank) per target matrix.
    """
    family = config.get("family")
    hidden = _config_int(config, "architecture.hidden", where)
    hash_bits = _config_int(config, "features.hash_bits", where)
    tags = (config.get("architecture") or {}).get("tags")
    if not isinstance(tags, list) or not tags:
        raise BundleError(
            f"{where}/config.json: architecture.tags is {tags!r}; expected the list of tags"
        )
    n_in, n_out = 2**hash_bits, len(tags)
    if family == "fp32":
        return {
            "W1": (_F32, (hidden, n_in)),
            "b1": (_F32, (hidden,)),
            "W2": (_F32, (n_out, hidden)),
            "b2": (_F32, (n_out,)),
        }
    if family == "int8":
        return {
            "W1.q": (_I8, (hidden, n_in)),
            "W1.scale": (_F32, (hidden,)),
            "b1": (_F32, (hidden,)),
            "W2.q": (_I8, (n_out, hidden)),
            "W2.scale": (_F32, (n_out,)),
            "b2": (_F32, (n_out,)),
        }
    if family == "lora":
        rank = _config_int(config, "lora.rank", where)
        return {
            "W1.lora_A": (_F32, (rank, n_in)),
            "W1.lora_B": (_F32, (hidden, rank)),
            "W2.lora_A": (_F32, (rank, hidden)),
            "W2.lora_B": (_F32, (n_out, rank)),
        }
    raise BundleError(
        f"{where}/config.json: family is {family!r}; expected one of fp32, int8, lora"
    )


def check_tensors(tensors: dict[str, np.ndarray], spec: TensorSpec, path: Path) -> None:
    """Raise one :class:`BundleError` listing every missing, extra, mis-typed or non-finite
    tensor: a flipped bit in a float can make a NaN that would otherwise predict silently."""
    problems = []
    missing = sorted(set(spec) - set(tensors))
    extra = sorted(set(tensors) - set(spec))
    if missing:
        problems.append(f"missing tensor(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected tensor(s) {', '.join(extra)}")
    for name in sorted(set(spec) & set(tensors)):
        dtype, shape = spec[name]
        if tensors[name].dtype != dtype:
            problems.append(f"{name} has dtype {tensors[name].dtype}, expected {dtype}")
        if tensors[name].shape != shape:
            problems.append(f"{name} has shape {tensors[name].shape}, config.json implies {shape}")
        if tensors[name].dtype.kind == "f" and not np.isfinite(tensors[name]).all():
            bad = int(tensors[name].size - np.isfinite(tensors[name]).sum())
            problems.append(f"{name} holds {bad} NaN or infinite value(s)")
    if problems:
        raise BundleError(
            f"{path}: weights do not match config.json ({'; '.join(problems)}); expected "
            f"{', '.join(sorted(spec))}. Re-run the stage that wrote the bundle"
        )


def load_weights(path: Path, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Load a bundle's weights and check them against its ``config.json`` before use."""
    path = Path(path)
    spec = weights_spec(config, path.parent)
    tensors = load_tensors(path)
    check_tensors(tensors, spec, path)
    return tensors


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
