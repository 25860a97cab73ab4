"""SHA-256 of bytes and files: the one digest every identity, object and fingerprint uses."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 22  # 4 MiB: large weights are streamed, never held twice in memory


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file's raw bytes, streamed."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
