"""A content-addressed object store: the registry's bytes, keyed by their sha256.

The key *is* the hash of the bytes, so an object can be checked by re-hashing it and a
second copy of the same bytes is free. Objects live at ``<root>/ab/cdef…`` (two-character
fan-out keeps directories small). The root is any fsspec URL: a local directory by default,
``s3://bucket/prefix`` for a team, ``memory://`` in tests. Writes go to a temporary name and
are renamed into place only after the bytes hashed to the expected key, so a reader never
sees a half-written or wrong object under a valid key.

The registry's metadata documents (tags, aliases, entries, the audit log) live beside it
through :class:`MetadataFiles`: a local directory, or ``s3://`` where conditional writes
give the cross-machine lock that a shared registry needs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from io import BytesIO
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from gramops.core.errors import GramopsError
from gramops.core.fileio import atomic_write, canonical_bytes
from gramops.core.hashing import CHUNK, sha256_file

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

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
        actual = hashlib.sha256(data).hexdigest()
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


# ---------------------------------------------------------------------------------------------
# Metadata files: the registry's small JSON documents, on local disk or on S3
# ---------------------------------------------------------------------------------------------


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
        lock_path = self.root / ".lock"
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


LOCK_NAME = ".lock"
LOCK_TTL_ENV = "GRAMOPS_REGISTRY_LOCK_TTL"
DEFAULT_LOCK_TTL_S = 60.0


class S3MetadataFiles(MetadataFiles):
    """Documents under an ``s3://bucket/prefix`` URL (s3fs; endpoint and keys from env vars).

    S3 has no rename and no append, but every PUT replaces an object atomically, so a
    document write is one PUT and a JSONL append is read-modify-write under the lock. The
    lock is an object created with ``If-None-Match: *`` (only one creator can win); it holds
    the owner's token, who it is and an expiry, so that the lock of a holder that died can
    be broken, by a write conditional on the stale lock's ETag (only one breaker can win).
    Expiry compares the holder's wall clock with the waiter's: keep clocks NTP-synced and
    the TTL (``GRAMOPS_REGISTRY_LOCK_TTL``, seconds) well above one mutation's duration.
    """

    def __init__(self, url: str, ttl_s: float | None = None) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            fs, root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise ObjectStoreError(
                f"registry metadata {self.url!r}: cannot open it ({exc}); s3:// needs s3fs"
            ) from exc
        self.fs = fs
        self.root = root.rstrip("/")
        self.bucket, _, self.prefix = self.root.partition("/")
        self.ttl_s = ttl_s if ttl_s is not None else _lock_ttl_from_env()
        self._held: tuple[str, str] | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def read(self, name: str) -> bytes | None:
        found = self._get(name)
        return None if found is None else found[0]

    def write(self, name: str, data: bytes) -> None:
        self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key(name), Body=data)

    def delete(self, name: str) -> None:
        self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key(name))

    def exists(self, name: str) -> bool:
        try:
            self.fs.call_s3("head_object", Bucket=self.bucket, Key=self.key(name))
        except FileNotFoundError:
            return False
        return True

    def names(self, directory: str) -> list[str]:
        prefix = self.key(directory).rstrip("/") + "/"
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.fs.call_s3("list_objects_v2", **kwargs)
            found.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not token:
                return sorted(found)

    def _get(self, name: str) -> tuple[bytes, str] | None:
        """(bytes, ETag) of a document, straight from S3 (s3fs's listing cache is bypassed)."""
        from fsspec.asyn import sync

        async def get() -> tuple[bytes, str] | None:
            try:
                response = await self.fs._call_s3(
                    "get_object", Bucket=self.bucket, Key=self.key(name)
                )
            except FileNotFoundError:
                return None
            async with response["Body"] as body:
                data = await body.read()
            return data, response["ETag"]

        return sync(self.fs.loop, get)

    def _put_if(self, name: str, data: bytes, **condition: str) -> bool:
        """A conditional PUT; False when S3 refused it (412: the condition did not hold)."""
        try:
            self.fs.call_s3(
                "put_object", Bucket=self.bucket, Key=self.key(name), Body=data, **condition
            )
        except Exception as exc:
            if _precondition_failed(exc):
                return False
            raise
        return True

    @contextmanager
    def lock(self, holder: str, timeout_s: float) -> Iterator[None]:
        token = uuid.uuid4().hex
        self._acquire(token, holder, timeout_s)
        self._held = (token, holder)
        try:
            yield
        finally:
            self._held = None
            self._release(token)

    def ensure_held(self) -> None:
        """Renew our lease on the lock, or refuse to write if it expired and was taken.

        Called before a mutation's first write, so a holder that stalled past the TTL (and
        lost the lock to a waiter) writes nothing instead of racing the new holder.
        """
        if self._held is None:
            raise ObjectStoreError(f"{self.where(LOCK_NAME)}: writing without holding the lock")
        token, holder = self._held
        current = self._get(LOCK_NAME)
        info = _lock_info(current[0]) if current else None
        if (
            current is None
            or info is None
            or info["owner"] != token
            or not self._put_if(LOCK_NAME, self._lock_body(token, holder), IfMatch=current[1])
        ):
            taken = info["holder"] if info and info["owner"] != token else "nobody"
            raise LockTimeoutError(
                f"{self.where(LOCK_NAME)}: this process's registry lock expired and is now "
                f"held by {taken}; nothing was written, retry the operation (or raise "
                f"{LOCK_TTL_ENV} above {self.ttl_s:g} s)"
            )

    def _lock_body(self, token: str, holder: str) -> bytes:
        body = {
            "owner": token,
            "holder": f"{holder} pid {os.getpid()}",
            "expires": round(time.time() + self.ttl_s, 3),
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    def _acquire(self, token: str, holder: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        delay = 0.02
        while True:
            if self._put_if(LOCK_NAME, self._lock_body(token, holder), IfNoneMatch="*"):
                return
            current = self._get(LOCK_NAME)
            if current is None:
                continue  # released between our attempt and the read: try again at once
            data, etag = current
            info = _lock_info(data)
            if info["expires"] < time.time():
                # Break a dead holder's lock by overwriting exactly the stale version: if it
                # was renewed, released or broken by someone else meanwhile, this fails.
                if self._put_if(LOCK_NAME, self._lock_body(token, holder), IfMatch=etag):
                    log.warning(
                        "%s: broke a stale registry lock held by %s (expired %.1f s ago)",
                        self.where(LOCK_NAME),
                        info["holder"],
                        time.time() - info["expires"],
                    )
                    return
                continue
            if time.monotonic() > deadline:
                raise LockTimeoutError(
                    f"{self.where(LOCK_NAME)}: the registry lock is held by {info['holder']} "
                    f"(expires in {info['expires'] - time.time():.1f} s); waited "
                    f"{timeout_s:g} s, retry when it has finished"
                )
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)

    def _release(self, token: str) -> None:
        current = self._get(LOCK_NAME)
        if current is None:
            log.warning("%s: our registry lock was already gone", self.where(LOCK_NAME))
            return
        data, etag = current
        if _lock_info(data)["owner"] != token:
            log.warning(
                "%s: our registry lock expired and was taken by %s; not releasing it",
                self.where(LOCK_NAME),
                _lock_info(data)["holder"],
            )
            return
        try:  # only the version we read: never a lock someone else took meanwhile
            self.fs.call_s3(
                "delete_object", Bucket=self.bucket, Key=self.key(LOCK_NAME), IfMatch=etag
            )
        except Exception as exc:
            if _precondition_failed(exc):
                log.warning("%s: the lock changed hands; not releasing it", self.where(LOCK_NAME))
                return
            # stores without conditional deletes (older S3-compatible servers): we read it
            # as ours a moment ago, so a plain delete is the best remaining option
            log.debug("%s: conditional delete refused (%s)", self.where(LOCK_NAME), exc)
            self.delete(LOCK_NAME)


def _lock_ttl_from_env() -> float:
    raw = os.environ.get(LOCK_TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if not ttl > 0:
        raise ObjectStoreError(f"{LOCK_TTL_ENV}={raw!r}: expected a positive number of seconds")
    return ttl


def _lock_info(data: bytes) -> dict[str, Any]:
    """A lock object's owner, holder and expiry; an unreadable one counts as expired."""
    try:
        info = json.loads(data)
        return {
            "owner": str(info["owner"]),
            "holder": str(info["holder"]),
            "expires": float(info["expires"]),
        }
    except (ValueError, KeyError, TypeError):
        return {"owner": "", "holder": "an unreadable lock object", "expires": 0.0}


def _precondition_failed(exc: BaseException) -> bool:
    """Whether S3 answered 412 (or 409 for a concurrent conditional write) to a PUT."""
    seen: BaseException | None = exc
    while seen is not None:
        text = f"{type(seen).__name__} {seen}"
        if "PreconditionFailed" in text or "ConditionalRequestConflict" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def open_metadata(location: str | os.PathLike[str]) -> MetadataFiles:
    """The metadata backend for a registry root: a local path (or file:// URL) or s3://."""
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return LocalMetadataFiles(Path(text))
    if scheme == "file":
        return LocalMetadataFiles(Path(rest))
    if scheme in ("s3", "s3a"):
        return S3MetadataFiles(text)
    raise ObjectStoreError(
        f"registry root {text!r}: metadata can live in a local directory or on s3:// (where "
        "conditional writes make a lock); object bytes may use any fsspec URL through "
        "GRAMOPS_REGISTRY_OBJECTS"
    )
