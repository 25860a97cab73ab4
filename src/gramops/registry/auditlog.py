"""The registry's audit log (``index.jsonl``): its record format, read in one place.

Every registry operation appends one canonical-JSON record::

    {"seq", "op", "time", "actor", "sha", "semver", "alias", "new", "previous",
     "prev", "reason", "gate", "forced"}

``prev`` chains the log: it is the SHA-256 of the previous line's bytes (``GENESIS`` for
the first line), as append-only transparency logs do, so rewriting any earlier line breaks
every later link and :func:`check_chain` names the first line that no longer fits. Lines
written before the chain existed carry no ``prev``; the one-time ``chain`` record that
starts the chain digests all of them (``new.legacy_sha256``), so they are covered too.

What records mean — which semvers and aliases they bind, how an alias's holders stack up
for rollback, which rollbacks still stand — is decided here and nowhere else; the
registry, the gate, the mirror and the reports ask these functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gramops.core.fileio import canonical_bytes
from gramops.core.hashing import sha256_bytes
from gramops.core.vocab import short
from gramops.registry.layout import RegistryError

log = logging.getLogger(__name__)

# The link of the first record of a log that starts chained.
GENESIS = "0" * 64
OPS = ("register", "tag", "retag", "alias", "promote", "rollback", "annotate", "chain")
# ops that move an alias (``new`` is the alias's new holder)
ALIAS_OPS = ("alias", "promote", "rollback")
# ops that bind ``semver`` to ``sha``
TAG_OPS = ("register", "tag", "retag", "promote")

Record = Mapping[str, Any]


def line_hash(line: bytes) -> str:
    """The chain link to a line: SHA-256 of its bytes, without the newline."""
    return sha256_bytes(line.rstrip(b"\n"))


def record_hash(record: Record) -> str:
    """The link to a record as the registry writes it (one canonical-JSON line)."""
    return line_hash(canonical_bytes(dict(record)))


def head(lines: Sequence[bytes]) -> str:
    """The head of the chain: the link the next record will carry."""
    return line_hash(lines[-1]) if lines else GENESIS


def split_lines(data: bytes) -> list[bytes]:
    """The complete lines of a log's bytes (a torn, unterminated tail is not one)."""
    return [line for line in data.split(b"\n")[:-1] if line.strip()]


def legacy_digest(lines: Sequence[bytes]) -> str:
    """What the ``chain`` record seals: the bytes of every line before it."""
    return sha256_bytes(b"".join(line + b"\n" for line in lines))


def new_record(
    last: Record | None,
    *,
    op: str,
    time: str,
    actor: str,
    sha: str | None,
    semver: str | None,
    alias: str | None,
    new: Any,
    previous: Any,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The record of one operation, numbered and chained after ``last`` (the log's last)."""
    assert op in OPS
    return {
        "seq": (last["seq"] if last else 0) + 1,
        "op": op,
        "time": time,
        "actor": actor,
        "sha": sha,
        "semver": semver,
        "alias": alias,
        "new": new,
        "previous": previous,
        # lines are canonical JSON, so the parsed last record hashes to its line
        "prev": record_hash(last) if last else GENESIS,
        **extra,
    }


def parse_lines(lines: Sequence[bytes]) -> list[dict[str, Any]]:
    """Complete log lines as records (raises ValueError on a line that is not JSON)."""
    return [json.loads(line) for line in lines]


def parse_log(raw: bytes, where: str) -> tuple[list[dict[str, Any]], bool]:
    """A log's records, oldest first, and whether its last line is torn (then skipped).

    Only the last line can be torn (an append that died); a bad line before it means the
    log was damaged, which is refused. ``where`` names the log in messages.
    """
    lines = raw.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    records: list[dict[str, Any]] = []
    torn = False
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            if number == len(complete) and not tail.strip():
                torn = True
                break
            raise RegistryError(
                f"{where}: line {number} is not valid JSON ({exc}); the audit "
                "log is corrupt, restore it from git"
            ) from exc
    if tail.strip():
        try:
            records.append(json.loads(tail))
        except ValueError:
            torn = True
    if torn:
        log.warning("%s: ignoring a torn last line (an interrupted append)", where)
    return records, torn


def is_record(line: bytes, op: str) -> bool:
    """Whether ``line`` is the complete log record of an ``op`` (a journal's commit point)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("op") == op


def needs_seal(lines: Sequence[bytes]) -> bool:
    """Whether a log was written before the hash chain existed: its last line has no link,
    so the next operation first appends the ``chain`` record that seals it."""
    return bool(lines) and "prev" not in json.loads(lines[-1])


def chain_break(lines: Sequence[bytes]) -> str | None:
    """:func:`check_chain` of a log's complete lines; None also when a line is not JSON
    (reading the log reports that)."""
    try:
        records = parse_lines(lines)
    except ValueError:
        return None
    return check_chain(lines, records)


def last_seq(records: Sequence[Record]) -> int:
    """The sequence number of the last record (its position for a legacy one; 0: empty)."""
    return records[-1].get("seq", len(records)) if records else 0


def check_chain(lines: Sequence[bytes], records: Sequence[Record]) -> str | None:
    """The first break in the log's hash chain, described; None when it holds.

    ``records`` are ``lines`` parsed, one per line. Unchained (legacy) records may only precede the
    first chained one, which must then be the ``chain`` record sealing them.
    """
    chained = False
    for number, record in enumerate(records, start=1):
        link = record.get("prev")
        if link is None:
            if chained:
                return (
                    f"line {number} ({record.get('op')}) has no hash link after line {number - 1}"
                )
            continue
        expected = line_hash(lines[number - 2]) if number > 1 else GENESIS
        if link != expected:
            return (
                f"line {number} ({record.get('op')}, seq {record.get('seq')}) links to "
                f"{short(str(link))} but line {number - 1} hashes to {short(expected)}: "
                f"line {max(number - 1, 1)} was changed after line {number} was written"
            )
        if not chained and number > 1:
            sealed = (record.get("new") or {}) if record.get("op") == "chain" else {}
            if sealed.get("legacy_sha256") != legacy_digest(lines[: number - 1]):
                return (
                    f"line {number} starts the hash chain but does not seal lines 1-"
                    f"{number - 1} (their digest differs): an earlier line was changed"
                )
        chained = True
    return None


def replay(records: Iterable[Record]) -> tuple[dict[str, str], dict[str, str]]:
    """The tags (semver -> SHA) and aliases (alias -> SHA) the log implies."""
    tags: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for record in records:
        op = record.get("op")
        if op in TAG_OPS and record.get("semver"):
            tags[record["semver"]] = record["sha"]
        if op in ALIAS_OPS and record.get("alias"):
            aliases[record["alias"]] = record["new"]
    return tags, aliases


def alias_moves(records: Iterable[Record], alias: str) -> list[Record]:
    """Every record that moved ``alias``, oldest first."""
    return [r for r in records if r.get("op") in ALIAS_OPS and r.get("alias") == alias]


def _move_stack(records: Iterable[Record], alias: str) -> list[Record]:
    """The records that put the alias's holders there, as a stack: a move pushes, a
    rollback pops back to the one before (it restores a holder, it does not approve one)."""
    stack: list[Record] = []
    for record in alias_moves(records, alias):
        if record["op"] != "rollback":
            stack.append(record)
        elif stack:
            stack.pop()
    return stack


def alias_stack(records: Iterable[Record], alias: str) -> list[str]:
    """An alias's holders, oldest first: what successive rollbacks walk back through."""
    return [record["new"] for record in _move_stack(records, alias)]


def standing_move(records: Iterable[Record], alias: str) -> Record | None:
    """The record that put the alias's current holder there (after rollbacks, the move
    the stack returned to)."""
    stack = _move_stack(records, alias)
    return stack[-1] if stack else None


def rolled_back(records: Iterable[Record], alias: str = "production") -> dict[str, str]:
    """SHA -> description of the rollback that took ``alias`` away from it, still in force.

    A rollback is a human verdict on a model: the gate must not recommend it again on its
    own. An explicit later move of the alias to that SHA (``gramops promote``) lifts it.
    """
    verdicts: dict[str, str] = {}
    for record in alias_moves(records, alias):
        if record["op"] == "rollback" and record.get("previous"):
            verdicts[record["previous"]] = (
                f"rolled back from {alias} at {record.get('time')} by {record.get('actor')}"
                + (f" ({record['reason']})" if record.get("reason") else "")
            )
        elif record.get("new"):
            verdicts.pop(record["new"], None)
    return verdicts


def registration_order(records: Iterable[Record]) -> list[str]:
    """Registered SHAs in the order they were registered (MLflow numbers versions so)."""
    return [r["sha"] for r in records if r.get("op") == "register" and r.get("sha")]


def registered(records: Iterable[Record]) -> set[str]:
    return set(registration_order(records))


def alias_history(records: Sequence[Mapping[str, Any]], alias: str) -> list[dict[str, Any]]:
    """Every period an alias held a model, from the audit log: which checkpoints served.

    One row per move (``promote``, ``rollback`` or a raw ``alias`` record): the model, since
    when, until when (None while it still holds the alias), who moved it there, how and why.
    """
    moves = alias_moves(records, alias)
    periods = []
    for i, move in enumerate(moves):
        periods.append(
            {
                "sha": move["new"],
                "from": move["time"],
                "until": moves[i + 1]["time"] if i + 1 < len(moves) else None,
                "moved_by": move["actor"],
                "how": move["op"] + (" (forced)" if move.get("forced") else ""),
                "reason": move.get("reason"),
            }
        )
    return periods
