"""Model identity: the canonical SHA-256 of a bundle (stdlib hashlib only).

The canonical SHA of a bundle is sha256 over a canonical manifest: the sorted
(relative path, sha256 of the file) pairs of the identity files only, plus ``parent_sha``.
JSON files are hashed in canonical form, so key order and whitespace do not change
identity; anything non-deterministic (MLflow side-cars, timings) is never an identity file.
This module stands apart from the registry so that stages needing a parent's SHA
(quantize, finetune) do not depend on the registry's code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.core.fileio import canonical_bytes
from gramops.core.hashing import sha256_bytes, sha256_file


class IdentityError(GramopsError):
    """A bundle is incomplete or unreadable, so it has no identity."""


# Which files of a bundle make its identity; weights are whichever of these exists.
WEIGHT_FILES = ("model.safetensors", "adapter.safetensors")
JSON_IDENTITY_FILES = ("config.json", "eval_report.json", "train_manifest.json")


def file_digest(path: Path) -> str:
    """sha256 of a file as identity sees it: canonical form for JSON, raw bytes otherwise."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = canonical_bytes(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IdentityError(f"{path}: not valid JSON ({exc}); cannot hash the bundle") from exc
        return sha256_bytes(data)
    return sha256_file(path)


def identity_files(bundle_dir: Path) -> list[str]:
    """The identity files present in a bundle, sorted; raise if weights or JSON are missing."""
    bundle_dir = Path(bundle_dir)
    weights = [name for name in WEIGHT_FILES if (bundle_dir / name).is_file()]
    if len(weights) != 1:
        raise IdentityError(
            f"{bundle_dir}: a bundle needs exactly one weights file of {', '.join(WEIGHT_FILES)}"
            f", found {len(weights)}"
        )
    missing = [name for name in JSON_IDENTITY_FILES if not (bundle_dir / name).is_file()]
    if missing:
        raise IdentityError(f"{bundle_dir}: bundle is missing {', '.join(missing)}")
    return sorted([*weights, *JSON_IDENTITY_FILES])


def canonical_manifest(bundle_dir: Path) -> dict[str, object]:
    """The manifest whose canonical bytes are hashed into the bundle's identity."""
    bundle_dir = Path(bundle_dir)
    files = [[name, file_digest(bundle_dir / name)] for name in identity_files(bundle_dir)]
    manifest = json.loads((bundle_dir / "train_manifest.json").read_text(encoding="utf-8"))
    parent = manifest.get("parent_sha") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or not (parent is None or _is_sha(parent)):
        raise IdentityError(
            f"{bundle_dir / 'train_manifest.json'}: expected a JSON object whose parent_sha is "
            f"null or a 64-hex SHA, got {type(manifest).__name__} with parent_sha {parent!r}"
        )
    return {"files": files, "parent_sha": parent}


def _is_sha(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def canonical_sha(bundle_dir: Path) -> str:
    """The bundle's identity: stable across shells, key orders and MLflow re-exports."""
    return hashlib.sha256(canonical_bytes(canonical_manifest(bundle_dir))).hexdigest()


def manifest_sha(files: Iterable[Sequence[str]], parent_sha: str | None) -> str:
    """The canonical SHA from recorded (path, identity digest) pairs, without the files.

    Same bytes as :func:`canonical_sha` hashes, so an entry's ``files`` list can be checked
    against its SHA (an edited entry no longer hashes to its name) and a materialized
    bundle can be checked before anything reads it.
    """
    pairs = sorted([str(path), str(digest)] for path, digest in files)
    return hashlib.sha256(canonical_bytes({"files": pairs, "parent_sha": parent_sha})).hexdigest()
