"""What an entry records about a bundle, and the checks that tie an entry to its bytes.

An entry (``entries/<sha>.json``) names its files by identity digest and object key; its
SHA is the manifest of those digests, so an edit of the files list is caught by re-hashing.
Other fields (family, corpus hash, metrics, size) are copies of facts inside the identity
files; :func:`fact_errors` compares them with the verified files, so an edit there is
caught too. Pure functions: the registry passes in what it read.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gramops.core.fileio import canonical_bytes
from gramops.core.hashing import sha256_bytes, sha256_file
from gramops.models.identity import WEIGHT_FILES, file_digest, manifest_sha
from gramops.registry.layout import FULL_SHA, RegistryError

log = logging.getLogger(__name__)

# The entry fields that describe the bundle itself; annotate() may only add pointers beside them.
ENTRY_FIELDS = frozenset(
    {
        "sha",
        "family",
        "parent_sha",
        "corpus_dvc_hash",
        "files",
        "size_bytes",
        "parameters",
        "metrics",
        "registered_at",
        "registered_by",
    }
)
SUMMARY_METRICS = ("strict_accuracy", "pass_rate", "count")


def safetensors_parameters(path: Path) -> int:
    """Tensor elements in a safetensors file, from its JSON header only (no tensor is read)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > 100_000_000:
                raise ValueError(f"header length {length} is implausible")
            header = json.loads(fh.read(length))
        total = 0
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in spec["shape"]:
                count *= int(dim)
            total += count
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise RegistryError(
            f"{path}: not a readable safetensors header ({exc}); the weights may be truncated"
        ) from exc
    return total


def summary_metrics(eval_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per-domain strict accuracy and pass rate: what ``list`` and the metrics diff compare."""
    domains = eval_report.get("domains")
    if not isinstance(domains, dict):
        return {}
    return {
        name: {k: values[k] for k in SUMMARY_METRICS if k in values}
        for name, values in sorted(domains.items())
        if isinstance(values, dict)
    }


def weights_name(names: Sequence[str]) -> str:
    """The weights file among a bundle's identity files."""
    return next(name for name in names if name in WEIGHT_FILES)


def read_json_object(path: Path) -> dict[str, Any]:
    """A bundle's JSON file that must hold an object; refused with its path otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a JSON object")
    return data


def file_record(path: Path) -> dict[str, Any]:
    """One identity file as the entry records it: identity digest, object key and size.

    The two digests differ for JSON only: identity hashes its canonical form (key order and
    whitespace do not matter), the object key its raw bytes (what the store holds).
    """
    identity = file_digest(path)
    raw = sha256_file(path) if path.suffix == ".json" else identity
    return {"path": path.name, "sha256": identity, "object": raw, "size": path.stat().st_size}


def identity_digest(data: bytes, label: str) -> str | None:
    """The identity digest of JSON bytes (canonical form), None when they are not JSON."""
    try:
        return sha256_bytes(canonical_bytes(json.loads(data)))
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.debug("%s: not JSON, no identity digest", label)
        return None


def json_or_none(data: bytes) -> Any:
    """Parsed JSON, or None for bytes that are not JSON (their digest check reports them)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def files_sha(files: Sequence[dict[str, Any]], parent: str | None) -> str:
    """The SHA a files list and parent hash to: what an untouched entry is keyed by."""
    return manifest_sha([(f["path"], f["sha256"]) for f in files], parent)


def checked_files(sha: str, entry: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """An entry's files list, checked for shape (paths become file names on disk) and
    against its SHA; ``where`` names the entry document in messages."""
    files = entry.get("files")
    ok = isinstance(files, list) and all(
        isinstance(f, dict)
        and isinstance(f.get("path"), str)
        and f["path"] == Path(f["path"]).name
        and not f["path"].startswith(".")
        and isinstance(f.get("sha256"), str)
        and isinstance(f.get("object"), str)
        and FULL_SHA.fullmatch(f["object"])
        for f in files
    )
    if not ok:
        raise RegistryError(
            f"{where}: malformed files list (each item needs a plain "
            "file name path, sha256 and a 64-hex object); restore it from git"
        )
    recomputed = files_sha(files, entry.get("parent_sha"))
    if recomputed != sha:
        raise RegistryError(
            f"{where}: its files list and parent_sha hash to "
            f"{recomputed}, not to {sha}; the entry was edited, restore it from git"
        )
    return files


def fact_errors(
    where: str, entry: dict[str, Any], files: list[dict[str, Any]], docs: dict[str, Any]
) -> list[str]:
    """Entry fields its own verified identity files contradict: edits the SHA cannot see.

    ``docs`` maps an identity JSON file name to its parsed, verified content; ``where``
    names the entry document in messages.
    """
    found: list[tuple[str, Any, Any]] = []
    manifest = docs.get("train_manifest.json")
    if isinstance(manifest, dict):
        if manifest.get("family") is not None:
            found.append(("family", manifest["family"], entry.get("family")))
        corpus = (manifest.get("corpus") or {}).get("dvc_hash")
        found.append(("corpus_dvc_hash", corpus, entry.get("corpus_dvc_hash")))
    report = docs.get("eval_report.json")
    if isinstance(report, dict):
        found.append(("metrics", summary_metrics(report), entry.get("metrics")))
    found.append(("size_bytes", sum(f.get("size", 0) for f in files), entry.get("size_bytes")))
    return [
        f"{where}: {key} is {actual!r} but the registered files say {expected!r}; the entry "
        "was edited, restore it from git"
        for key, expected, actual in found
        if canonical_bytes(expected) != canonical_bytes(actual)
    ]
