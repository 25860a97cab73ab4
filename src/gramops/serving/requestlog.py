"""Every request as one JSON line, written by a background thread and rotated by size.

The response path only puts a record on a queue (no I/O, no serialisation); one writer
thread drains it, so the log never adds latency and lines never interleave. The queue is
unbounded on purpose: dropping a record under load would make the log useless as the
pipeline's live traffic, and a writer slower than the server would show as
``gramops_request_log_pending`` growing on ``/metrics`` long before memory matters.
:meth:`RequestLog.close` (the app's shutdown, after uvicorn drained the in-flight
requests) writes everything queued, flushes and fsyncs: a graceful shutdown loses nothing.

Rotation renames ``requests.jsonl`` to ``requests.jsonl.1`` (``.1`` is the newest, up to
``backups``) when the next line would take the file past ``max_bytes``.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)

_STOP = object()


class RequestLog:
    """A JSON-lines sink; :meth:`write` never blocks on I/O."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        if max_bytes < 1 or backups < 1:
            raise ValueError("a request log needs max_bytes >= 1 and backups >= 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.lines = 0
        self.rotations = 0
        self.errors = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._file: TextIO | None = None
        self._size = 0

    def start(self) -> None:
        """Open the file (creating its directory) and start the writer thread."""
        if self._thread is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue ``record`` for the writer (safe from any thread)."""
        self._queue.put(record)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Write every queued record, flush and fsync, stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def _open(self) -> None:
        self._file = self.path.open("a", encoding="utf-8")
        self._size = self.path.stat().st_size

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty() and item is not _STOP:
                item = self._queue.get()
                batch.append(item)
            stop = batch[-1] is _STOP
            self._write([r for r in batch if r is not _STOP])
            if stop:
                return

    def _write(self, records: list[dict[str, Any]]) -> None:
        assert self._file is not None
        for record in records:
            try:
                line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            except (TypeError, ValueError) as exc:
                self.errors += 1
                logger.error("request log: record not serialisable, skipped (%s)", exc)
                continue
            size = len(line.encode("utf-8"))
            try:
                if self._size and self._size + size > self.max_bytes:
                    self._rotate()
                self._file.write(line)
            except OSError as exc:
                self.errors += 1
                logger.error("request log %s: write failed (%s)", self.path, exc)
                continue
            self._size += size
            self.lines += 1
        self._file.flush()

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self.rotations += 1
        self._open()
