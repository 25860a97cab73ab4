"""The registry's metadata documents (tags, aliases, entries, the audit log): the backends.

:class:`MetadataFiles` is what the registry needs of a place to keep small documents;
:class:`LocalMetadataFiles` keeps the historical on-disk format byte for byte, and
:class:`gramops.registry.s3.S3MetadataFiles` does the same on S3, where conditional writes
give the cross-machine lock that a shared registry needs.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from gramops.core.fileio import atomic_write, canonical_bytes
from gramops.registry.objects import ObjectStoreError

log = logging.getLogger(__name__)

# the lock document every mutation holds (its content matters on S3 only)
LOCK_NAME = ".lock"


class LockTimeoutError(ObjectStoreError):
    """Another process held a metadata lock for longer than the caller was willing to wait."""


class MetadataFiles:
    """Small documents under one root, addressed by relative names such as ``tags.json``.

    The registry needs whole-document atomic replacement, a JSONL append that drops a torn
    tail, listing a directory and a cross-process lock. :class:`LocalMetadataFiles` keeps
    the historical on-disk format byte for byte; :class:`S3MetadataFiles` does the same
    with whole-object PUTs and a lock object created by a conditional write.
    """

    url: str

    def where(self, name: str) -> str:
        """A path or URL naming a document, for messages."""
        raise NotImplementedError

    def read(self, name: str) -> bytes | None:
        """A document's bytes, or None when it does not exist."""
        raise NotImplementedError

    def write(self, name: str, data: bytes) -> None:
        """Replace a document atomically: readers see the old or the new bytes, never a mix."""
        raise NotImplementedError

    def delete(self, name: str) -> None:
        """Remove a document; a missing one is not an error."""
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        return self.read(name) is not None

    def size(self, name: str) -> int:
        """A document's length in bytes (0 when it does not exist)."""
        return len(self.read(name) or b"")

    def names(self, directory: str) -> list[str]:
        """File names directly inside ``directory``, unordered (empty when it is missing)."""
        raise NotImplementedError

    def tmp_names(self, directory: str) -> list[str]:
        """``*.tmp`` names directly inside ``directory``: what an atomic write killed between
        its write and its rename leaves. None where a write is a single request (S3)."""
        return []

    def append_jsonl(
        self, name: str, build: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> None:
        """Append ``build(last_record)`` as one canonical line, after dropping a torn tail."""
        clean = _whole_lines(self.read(name) or b"", self.where(name))
        self.write(name, clean + _jsonl_line(build(last_record(clean))))

    def repair_jsonl(self, name: str) -> None:
        """Drop a torn last line now, so that the log's size marks a record boundary."""
        data = self.read(name)
        if data is not None and (clean := _whole_lines(data, self.where(name))) != data:
            self.write(name, clean)

    def truncate(self, name: str, size: int) -> None:
        """Cut a document back to its first ``size`` bytes (undoing an append)."""
        self.write(name, (self.read(name) or b"")[:size])

    def lock(self, holder: str, timeout_s: float) -> AbstractContextManager[None]:
        """Exclusive across processes and machines sharing the root; bounded wait."""
        raise NotImplementedError

    def ensure_held(self) -> None:
        """Before writing: make sure the lock is still ours (a local flock cannot be lost)."""


def _jsonl_line(record: dict[str, Any]) -> bytes:
    return canonical_bytes(record) + b"\n"


def _whole_lines(data: bytes, label: str) -> bytes:
    """A log's complete records, each ending with a newline."""
    clean = drop_torn_tail(data, label)
    return clean + b"\n" if clean and not clean.endswith(b"\n") else clean


def drop_torn_tail(data: bytes, label: str) -> bytes:
    """``data`` without an unparsable last line: the remains of a writer that died mid-append.

    Only the lock holder appends and the log line is written last, so a torn tail can only
    belong to an operation that never completed; keeping it would bury garbage mid-log.
    """
    while data.strip():
        body = data.rstrip(b"\n")
        cut = body.rfind(b"\n") + 1
        try:
            json.loads(body[cut:])
        except ValueError:
            log.warning("%s: dropping a torn last line (an interrupted append)", label)
            data = body[:cut]
            continue
        return data
    return b""


def last_record(data: bytes) -> dict[str, Any] | None:
    body = data.rstrip(b"\n")
    if not body:
        return None
    record = json.loads(body[body.rfind(b"\n") + 1 :])
    return record if isinstance(record, dict) else None


class LocalMetadataFiles(MetadataFiles):
    """Documents in a local directory: tmp + fsync + ``os.replace``, ``fcntl.flock`` lock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def path(self, name: str) -> Path:
        return self.root / name

    def where(self, name: str) -> str:
        return str(self.path(name))

    def read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        atomic_write(self.path(name), data)

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def size(self, name: str) -> int:
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            return 0

    def names(self, directory: str) -> list[str]:
        try:
            return os.listdir(self.path(directory))
        except FileNotFoundError:
            return []

    def tmp_names(self, directory: str) -> list[str]:
        return sorted(name for name in self.names(directory) if name.endswith(".tmp"))

    def append_jsonl(
        self, name: str, build: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> None:
        """Append in place (``a+b``), so a long log is never rewritten; fsynced."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+b") as fh:
            last = _repair_tail(fh, path)
            fh.seek(0, os.SEEK_END)
            fh.write(_jsonl_line(build(last)))
            fh.flush()
            os.fsync(fh.fileno())

    def repair_jsonl(self, name: str) -> None:
        """Reads only the last line, like an append does."""
        path = self.path(name)
        if path.is_file():
            with path.open("a+b") as fh:
                _repair_tail(fh, path)
                fh.flush()
                os.fsync(fh.fileno())

    def truncate(self, name: str, size: int) -> None:
        with self.path(name).open("r+b") as fh:
            fh.truncate(size)
            fh.flush()
            os.fsync(fh.fileno())

    @contextmanager
    def lock(self, holder: str, timeout_s: float) -> Iterator[None]:
        """``fcntl.flock`` on ``.lock``: the kernel releases it when its holder dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / LOCK_NAME
        with lock_path.open("a+b") as fh:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeoutError(
                            f"{lock_path}: another process has held the registry lock for over "
                            f"{timeout_s:g} s; retry when it has finished"
                        ) from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _repair_tail(fh: Any, path: Path) -> dict[str, Any] | None:
    """The last complete record of a JSONL file opened ``a+b``; a torn tail is truncated."""
    while True:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return None
        start = _line_start(fh, size)
        fh.seek(start)
        line = fh.read(size - start)
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("%s: dropping a torn last line (an interrupted append)", path)
            fh.truncate(start)
            fh.flush()
            os.fsync(fh.fileno())
            continue
        if not line.endswith(b"\n"):
            fh.write(b"\n")
        return record if isinstance(record, dict) else None


def _line_start(fh: Any, end: int) -> int:
    """Offset where the last line before ``end`` starts (trailing newlines ignored)."""
    pos = end
    first = True
    while pos > 0:
        start = max(0, pos - 65536)
        fh.seek(start)
        block = fh.read(pos - start)
        if first:
            stripped = block.rstrip(b"\n")
            if not stripped and start > 0:
                pos = start
                continue
            block, first = stripped, False
        cut = block.rfind(b"\n")
        if cut != -1:
            return start + cut + 1
        pos = start
    return 0
