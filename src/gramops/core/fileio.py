"""Files the project writes: canonical JSON, JSON lines, CSV and text, each written atomically.

One serialisation everywhere, so equal content means equal bytes, and one writer (a tmp file
renamed over the target), so a killed stage never leaves half a file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


def canonical_bytes(obj: Any) -> bytes:
    """The identity form of a JSON value (sorted keys, no whitespace, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def dumps_pretty(obj: Any) -> str:
    """Human-readable but still deterministic JSON for files people diff in git."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Path, obj: Any) -> None:
    """Write pretty canonical JSON atomically (tmp file + rename)."""
    atomic_write(Path(path), dumps_pretty(obj).encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    data = "".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        for r in rows
    )
    atomic_write(Path(path), data.encode("utf-8"))


def read_jsonl(path: Path) -> Iterator[Any]:
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), text.encode("utf-8"))


def write_csv(
    path: Path,
    fieldnames: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    lineterminator: str = "\r\n",
) -> None:
    """A CSV with a header row (the csv module's RFC 4180 line ends unless told otherwise)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), lineterminator=lineterminator)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(Path(path), buffer.getvalue().encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` through a sibling tmp file and a rename (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk: no stray .tmp beside the old file
        tmp.unlink(missing_ok=True)
        raise
