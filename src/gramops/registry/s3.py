"""Registry metadata on S3, and the lock that conditional writes make there.

S3 has no rename, no append and no lock. Every PUT replaces an object atomically, and a PUT
conditional on ``If-None-Match`` or ``If-Match`` succeeds for one writer only: that is enough
for whole-document writes and for a lock with an owner, a holder and an expiry.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gramops.registry.backends import LOCK_NAME, LockTimeoutError, MetadataFiles
from gramops.registry.objects import ObjectStoreError

log = logging.getLogger(__name__)

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
