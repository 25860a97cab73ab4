"""Mutations that are all or nothing: the lock, the journal, the log line, recovery.

Every mutation holds the registry lock, writes ``.journal.json`` (the log's size and the
previous bytes of every document it is about to replace), writes its documents, appends
its one audit record (the commit point) and deletes the journal. Whoever takes the lock
next rolls a dead holder's mutation forward when its record is complete, and back
otherwise, with a warning; so even ``kill -9`` never leaves one half-applied.

Readers take no lock: while a journal lacks its record they see its previous bytes, as
recovery will restore (:meth:`Journaled._committed_read`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

from gramops.core.fileio import dumps_pretty
from gramops.registry import auditlog
from gramops.registry.backends import LockTimeoutError, MetadataFiles
from gramops.registry.layout import (
    ALIASES,
    ENTRIES,
    ENTRY_TMP,
    INDEX,
    JOURNAL,
    TAGS_FILE,
    RegistryError,
    utc_now,
)

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 60.0
# a lock-free read starts over when a mutation journaled or finished while it read
_READ_ATTEMPTS = 5
_T = TypeVar("_T")


class Pending(NamedTuple):
    """A journaled mutation without its log line: what recovery would undo."""

    previous: dict[str, str | None]
    index_size: int


def parse_journal(raw: bytes, where: str) -> dict[str, Any]:
    """A journal's op, log size and previous documents, checked for shape."""
    try:
        journal = json.loads(raw)
        parsed = {
            "op": str(journal["op"]),
            "index_size": int(journal["index_size"]),
            "previous": dict(journal["previous"]),
        }
        if not all(v is None or isinstance(v, str) for v in parsed["previous"].values()):
            raise TypeError("previous documents must be text or null")
    except (ValueError, KeyError, TypeError) as exc:
        raise RegistryError(
            f"{where}: unreadable journal of an interrupted mutation ({exc}); "
            "compare the registry with git, then delete the journal"
        ) from exc
    return parsed


def journal_committed(journal: dict[str, Any], index: bytes) -> bool:
    """Whether the journaled mutation's log line is complete: recovery rolls it forward."""
    tail = index[journal["index_size"] :]
    return (
        tail.endswith(b"\n") and tail.count(b"\n") == 1 and auditlog.is_record(tail, journal["op"])
    )


def uncommitted(journal: dict[str, Any], index: bytes) -> Pending | None:
    """The uncommitted mutation a parsed journal describes; None once its line is complete."""
    if journal_committed(journal, index):
        return None  # its documents are all written: the current files are committed
    return Pending(journal["previous"], journal["index_size"])


def committed_entry_names(names: list[str], pending: Pending | None) -> list[str]:
    """Entry file names as committed: without an uncommitted register's, with a deleted
    one's back (``names``: what the entries directory holds now)."""
    found = set(names)
    for name, old in (pending.previous if pending else {}).items():
        directory, _, base = name.rpartition("/")
        if directory == ENTRIES and old is None:
            found.discard(base)  # registered by the uncommitted mutation
        elif directory == ENTRIES:
            found.add(base)
    return sorted(found)


def stray_tmp(top: list[str], entries: list[str]) -> list[str]:
    """Temporary files of our own atomic writes among ``*.tmp`` names at the root (``top``)
    and in ``entries/``; anything else is not ours to delete."""
    ours = {f"{name}.tmp" for name in (TAGS_FILE, ALIASES, JOURNAL, INDEX)}
    stray = [name for name in top if name in ours]
    stray += [f"{ENTRIES}/{name}" for name in entries if ENTRY_TMP.fullmatch(name)]
    return sorted(stray)


def _text_or_none(data: bytes | None) -> str | None:
    """A metadata document's bytes as journal text (they are always UTF-8 JSON)."""
    return None if data is None else data.decode("utf-8")


class Journaled:
    """Metadata documents under the registry lock, changed only through the journal.

    The base of :class:`gramops.registry.store.Registry`, which sets the attributes below.
    """

    _meta: MetadataFiles
    url: str
    actor: str
    recoveries: list[str]  # what _recover did, newest last: verify reports it, tests count it
    _thread_lock: threading.RLock
    _lock_depth: int

    def _where(self, name: str) -> str:
        """A metadata document's path or URL, for messages."""
        return self._meta.where(name)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the registry's cross-process lock (re-entrant within this object).

        Whoever takes the lock first finishes or undoes a mutation a dead holder left behind
        (see :meth:`_recover`), so every mutation starts from a consistent registry.
        """
        with self._thread_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            try:
                with self._meta.lock(self.actor, LOCK_TIMEOUT_S):
                    self._lock_depth = 1
                    try:
                        self._recover()
                        yield
                    finally:
                        self._lock_depth = 0
            except LockTimeoutError as exc:  # only acquiring the lock raises it
                raise RegistryError(str(exc)) from None

    def _commit(
        self,
        writes: list[tuple[str, Any]],
        *,
        op: str,
        new: Any,
        previous: Any,
        sha: str | None = None,
        semver: str | None = None,
        alias: str | None = None,
        reason: str | None = None,
        gate: dict[str, Any] | None = None,
        forced: bool = False,
    ) -> None:
        """Journal, write the documents, append the one log line, drop the journal.

        The journal (written atomically before the first document) holds the log's size and
        every document's previous bytes, so a mutation killed at any point is rolled forward
        when its log line made it, and rolled back otherwise, by the next lock holder.
        """
        assert self._lock_depth, "registry mutations must hold the lock"
        try:
            self._meta.ensure_held()
        except LockTimeoutError as exc:
            raise RegistryError(str(exc)) from None
        self._meta.repair_jsonl(INDEX)  # the journaled size must end at a whole record
        self._start_chain()
        journal = {
            "op": op,
            "index_size": self._meta.size(INDEX),
            "previous": {name: _text_or_none(self._meta.read(name)) for name, _obj in writes},
        }
        self._meta.write(JOURNAL, dumps_pretty(journal).encode("utf-8"))
        try:
            for name, obj in writes:
                self._meta.write(name, dumps_pretty(obj).encode("utf-8"))
            self._append(
                op,
                sha=sha,
                semver=semver,
                alias=alias,
                new=new,
                previous=previous,
                extra={"reason": reason, "gate": gate, "forced": forced},
            )
        except BaseException:
            self._roll_back(journal)
            raise
        self._meta.delete(JOURNAL)

    def _recover(self) -> str | None:
        """Finish or undo the mutation a crashed lock holder left journaled; what it did.

        Its log line is the commit point: present and complete means every document was
        written, so only the journal is left to remove; absent or torn means the documents
        get their previous bytes back and the log its previous size. Lock-free readers show
        exactly this outcome before it happens (see :meth:`_committed_read`). Temporary files
        of atomic writes killed before their rename go too.
        """
        self._remove_stray_tmp()
        raw = self._meta.read(JOURNAL)
        if raw is None:
            return None
        journal = parse_journal(raw, self._where(JOURNAL))
        previous = journal["previous"]
        if journal_committed(journal, self._meta.read(INDEX) or b""):
            done = f"rolled forward an interrupted {journal['op']} (its log line is in {INDEX})"
            self._meta.delete(JOURNAL)
        else:
            restored = ", ".join(sorted(previous)) or "nothing"
            done = f"rolled back an interrupted {journal['op']} (restored {restored})"
            self._roll_back(journal)
        log.warning("%s: %s", self._where(JOURNAL), done)
        self.recoveries.append(done)
        return done

    def _recover_if_journaled(self) -> list[str]:
        """Repair an interrupted mutation (and a killed write's tmp files) before checking;
        reads stay lock-free otherwise.

        Taking the lock also waits for a mutation that is still running, whose journal is
        not a crash's: the recovery under the lock then finds nothing to do.
        """
        if not self._meta.exists(JOURNAL) and not self._stray_tmp():
            return []
        self.recoveries.clear()
        with self._locked():
            return list(self.recoveries)

    def _roll_back(self, journal: dict[str, Any]) -> None:
        """Give every journaled document its previous bytes, the log its previous size."""
        size = int(journal["index_size"])
        if self._meta.size(INDEX) > size:
            self._meta.truncate(INDEX, size)
        for name, old in sorted(journal["previous"].items()):
            if old is None:
                self._meta.delete(name)
            else:
                self._meta.write(name, old.encode("utf-8"))
        self._meta.delete(JOURNAL)

    def _append(
        self,
        op: str,
        *,
        sha: str | None,
        semver: str | None,
        alias: str | None,
        new: Any,
        previous: Any,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Append one durable record, chained to the last; a torn tail is dropped first."""
        assert op in auditlog.OPS
        extra = extra or {"reason": None, "gate": None, "forced": False}

        def build(last: dict[str, Any] | None) -> dict[str, Any]:
            return auditlog.new_record(
                last,
                op=op,
                time=utc_now(),
                actor=self.actor,
                sha=sha,
                semver=semver,
                alias=alias,
                new=new,
                previous=previous,
                extra=extra,
            )

        self._meta.append_jsonl(INDEX, build)

    def _start_chain(self) -> None:
        """Seal a log written before the hash chain existed, once, with an audited record.

        The ``chain`` record digests every earlier line, so they are covered by the chain
        too; it is a whole operation of its own (one appended line, no documents), taken
        by whichever mutation first runs on an unchained log.
        """
        lines = self._index_lines()
        if not auditlog.needs_seal(lines):
            return
        self._append(
            "chain",
            sha=None,
            semver=None,
            alias=None,
            new={"legacy_records": len(lines), "legacy_sha256": auditlog.legacy_digest(lines)},
            previous=None,
            extra={
                "reason": "the audit log is hash-chained from here on; this record seals "
                "the earlier lines",
                "gate": None,
                "forced": False,
            },
        )

    def _index_lines(self) -> list[bytes]:
        """The audit log's complete lines, raw (what the hash chain links)."""
        return auditlog.split_lines(self._committed_index() or b"")

    def _stray_tmp(self) -> list[str]:
        """Temporary files of our own atomic writes, left by a process killed before its
        rename (``tags.json.tmp``, ``entries/<sha>.json.tmp``, ...); none on S3."""
        return stray_tmp(self._meta.tmp_names(""), self._meta.tmp_names(ENTRIES))

    def _remove_stray_tmp(self) -> None:
        """Under the lock only: every writer holds it, so no write of ours is in flight."""
        assert self._lock_depth, "removing tmp files needs the lock"
        stray = self._stray_tmp()
        for name in stray:
            self._meta.delete(name)
        if stray:
            log.warning(
                "%s: removed %s, left by a write killed before its rename",
                self.url,
                ", ".join(stray),
            )

    # -- the committed state, as lock-free readers see it -----------------------------------

    def _committed_read(self, read: Callable[[Pending | None], _T]) -> _T:
        """``read`` the last committed state: never an operation that recovery will undo.

        While a journal is present and its log line is not complete, a mutation is running
        or died; either way its documents are not committed yet, so ``read`` gets the
        journal's view (the previous bytes, the log cut at its size), which is exactly what
        recovery would restore. No lock is taken and nothing is written. The journal is
        read again afterwards: a mutation that journaled or finished in between makes the
        read start over, so a document is never paired with the wrong journal.
        """
        if self._lock_depth and self._thread_lock._is_owned():
            return read(None)  # the holder recovered on entry: a journal now is its own
        for _attempt in range(_READ_ATTEMPTS):
            raw = self._meta.read(JOURNAL)
            result = read(self._pending(raw))
            if self._meta.read(JOURNAL) == raw:
                return result
        log.warning("%s: mutations kept landing during a read; it may be stale", self.url)
        return result

    def _pending(self, raw: bytes | None) -> Pending | None:
        """The uncommitted mutation a journal describes; None when there is none."""
        if raw is None:
            return None
        journal = parse_journal(raw, self._where(JOURNAL))
        return uncommitted(journal, self._meta.read(INDEX) or b"")

    def _committed_doc(self, name: str) -> bytes | None:
        def read(pending: Pending | None) -> bytes | None:
            if pending is not None and name in pending.previous:
                old = pending.previous[name]
                return None if old is None else old.encode("utf-8")
            return self._meta.read(name)

        return self._committed_read(read)

    def _committed_exists(self, name: str) -> bool:
        def read(pending: Pending | None) -> bool:
            if pending is not None and name in pending.previous:
                return pending.previous[name] is not None
            return self._meta.exists(name)

        return self._committed_read(read)

    def _committed_index(self) -> bytes | None:
        def read(pending: Pending | None) -> bytes | None:
            raw = self._meta.read(INDEX)
            if pending is None or raw is None:
                return raw
            return raw[: pending.index_size]

        return self._committed_read(read)

    def _committed_entry_names(self) -> list[str]:
        def read(pending: Pending | None) -> list[str]:
            return committed_entry_names(self._meta.names(ENTRIES), pending)

        return self._committed_read(read)
