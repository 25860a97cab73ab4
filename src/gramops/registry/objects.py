"""A content-addressed object store: the registry's bytes, keyed by their sha256.

The key *is* the hash of the bytes, so an object can be checked by re-hashing it and a
second copy of the same bytes is free. Objects live at ``<root>/ab/cdef…`` (two-character
fan-out keeps directories small). The root is any fsspec URL: a local directory by default,
``s3://bucket/prefix`` for a team, ``memory://`` in tests. Writes go to a temporary name and
are renamed into place only after the bytes hashed to the expected key, so a reader never
sees a half-written or wrong object under a valid key.

The registry's metadata documents (tags, aliases, entries, the audit log) live elsewhere:
:mod:`gramops.registry.backends` and :mod:`gramops.registry.s3`.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from io import BytesIO
from pathlib import Path
from typing import IO, TYPE_CHECKING

from gramops.core.errors import GramopsError
from gramops.core.hashing import CHUNK, sha256_bytes, sha256_file

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

_KEY = re.compile(r"[0-9a-f]{64}")


class ObjectStoreError(GramopsError):
    """An object is missing, does not hash to its key, or the store cannot be reached."""


def check_key(key: str) -> str:
    """Refuse anything but a lowercase sha256 hex digest: keys become paths in the store."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ObjectStoreError(f"{key!r} is not an object key (64 lowercase hex digits)")
    return key


class ObjectStore:
    """Content-addressed bytes under one fsspec URL (a plain path means a local directory)."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        # fsspec is imported here, not at module import: registry reads never need it.
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = str(url)
        try:
            fs, root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise ObjectStoreError(
                f"object store {self.url!r}: cannot open it ({exc}); use a local path or an "
                "fsspec URL whose backend is installed (e.g. s3:// needs s3fs)"
            ) from exc
        self.fs: AbstractFileSystem = fs
        self.root: str = root.rstrip("/")
        self._local = isinstance(fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def path_of(self, key: str) -> str:
        """Where an object lives inside the filesystem (fan-out by the first two hex digits)."""
        check_key(key)
        return f"{self.root}/{key[:2]}/{key[2:]}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path_of(key)))

    def open(self, key: str) -> IO[bytes]:
        """Open an object for reading; the caller verifies the hash if it matters."""
        path = self.path_of(key)
        try:
            return self.fs.open(path, "rb")
        except FileNotFoundError as exc:
            raise ObjectStoreError(
                f"object {key} is missing from {self.url} ({path}); re-register the bundle "
                "it came from to restore it"
            ) from exc

    def sha256(self, key: str) -> str:
        """Re-hash a stored object: equal to its key unless the bytes were changed."""
        digest = hashlib.sha256()
        with self.open(key) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def put_file(self, path: Path, key: str | None = None) -> str:
        """Store a file's bytes and return their key; a no-op when the object exists.

        With ``key`` given, the bytes must hash to it (the file may have changed since it was
        hashed); the object only becomes visible under its key after that check passed.
        """
        path = Path(path)
        expected = check_key(key) if key is not None else sha256_file(path)
        if self.exists(expected):
            return expected
        with path.open("rb") as src:
            self._write_verified(src, expected, source=str(path))
        return expected

    def put_bytes(self, data: bytes, key: str | None = None) -> str:
        """Store bytes and return their key (checked against ``key`` when given)."""
        actual = sha256_bytes(data)
        if key is not None and check_key(key) != actual:
            raise ObjectStoreError(f"bytes hash to {actual}, not to the expected key {key}")
        if not self.exists(actual):
            self._write_verified(BytesIO(data), actual, source="<bytes>")
        return actual

    def delete(self, key: str) -> None:
        """Remove one object (garbage collection); missing objects are not an error."""
        path = self.path_of(key)
        if self.fs.exists(path):
            self.fs.rm_file(path)

    def list_keys(self) -> list[str]:
        """Every object key in the store; temporary files of interrupted writes are skipped."""
        if not self.fs.exists(self.root):
            return []
        prefix = self.root + "/"
        keys = []
        for found in sorted(self.fs.find(self.root)):
            rel = str(found)
            rel = rel[len(prefix) :] if rel.startswith(prefix) else rel.lstrip("/")
            fan, _, rest = rel.partition("/")
            key = fan + rest
            if len(fan) == 2 and "/" not in rest and _KEY.fullmatch(key):
                keys.append(key)
        return keys

    def _write_verified(self, src: IO[bytes], key: str, source: str) -> None:
        final = self.path_of(key)
        tmp = f"{final}.{uuid.uuid4().hex}.tmp"
        digest = hashlib.sha256()
        if self._local:
            Path(final).parent.mkdir(parents=True, exist_ok=True)
        else:
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                if self._local:
                    out.flush()
                    os.fsync(out.fileno())
            if digest.hexdigest() != key:
                raise ObjectStoreError(
                    f"{source}: bytes hash to {digest.hexdigest()}, expected {key}; the file "
                    "changed while it was being stored, register it again"
                )
            if self._local:
                os.replace(tmp, final)
            else:
                self.fs.mv(tmp, final)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm_file(tmp)
