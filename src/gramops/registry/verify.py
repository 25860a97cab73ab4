"""Trusting the registry's bytes: verify everything, load one entry verified, and the rule
that tells bytes gc collected (or that were never here) from bytes that were lost.

A *missing* object is recoverable by re-registering its bundle; a *tampered* one (its bytes
no longer hash to its key) must not be used; edited metadata is reported as an error.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gramops.core.hashing import sha256_bytes
from gramops.models.identity import JSON_IDENTITY_FILES, WEIGHT_FILES
from gramops.registry import auditlog
from gramops.registry.entries import fact_errors, files_sha, identity_digest, json_or_none
from gramops.registry.layout import ALIASES, INDEX, TAGS_FILE, RegistryError, entry_name
from gramops.registry.objects import ObjectStoreError
from gramops.registry.reader import RegistryReader


class ObjectProblem(NamedTuple):
    """One file of one entry whose object is missing or does not hash to its key."""

    sha: str
    path: str
    object: str


@dataclass
class VerifyReport:
    """What :meth:`Registry.verify` found; ``ok`` only when missing, tampered and errors are
    empty (absent entries and repairs are not problems)."""

    ok: bool
    checked: int
    missing: list[ObjectProblem] = field(default_factory=list)
    tampered: list[ObjectProblem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    # entries whose bytes are not in this store (registered elsewhere, or collected by gc):
    # not an error, `gramops reproduce` rebuilds them
    absent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as `gramops registry verify --json` prints it (a problem is the array
        ``[sha, path, object]``)."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "missing": [list(p) for p in self.missing],
            "tampered": [list(p) for p in self.tampered],
            "errors": list(self.errors),
            "repaired": list(self.repaired),
            "absent": list(self.absent),
        }


def kept_entries(
    tags: Mapping[str, str],
    aliases: Mapping[str, str],
    load_entry: Callable[[str], dict[str, Any]],
    *,
    strict: bool,
) -> dict[str, dict[str, Any]]:
    """SHA -> entry of what gc keeps: what a tag or alias points at, and its ancestors (a
    LoRA adapter is useless without its base). An unreadable entry raises when
    ``strict`` (gc must not guess), else it is skipped (verify reports it anyway)."""
    kept: dict[str, dict[str, Any]] = {}
    pending = sorted(set(tags.values()) | set(aliases.values()))
    while pending:
        sha = pending.pop()
        if sha in kept:
            continue
        try:
            entry = load_entry(sha)
        except RegistryError:
            if strict:
                raise
            continue
        kept[sha] = entry
        if entry.get("parent_sha"):
            pending.append(entry["parent_sha"])
    return kept


def absent_entries(
    missing: list[ObjectProblem], objects: Mapping[str, set[str]], kept: set[str]
) -> set[str]:
    """Entries whose missing objects mean "not in this store", not lost bytes.

    The rule gc follows: it keeps the entries a tag or alias reaches (``kept``, with their
    ancestors) and deletes, all at once, every object only other entries use. So any
    missing object of an entry gc does not keep is gc's doing. A kept entry's objects
    gc never deletes; they are absent as a whole when the entry was registered in
    another store (objects are not in git, e.g. a fresh clone): then every object that
    no other entry shares is missing, while shared ones may be here for those entries.
    Anything else (some of an entry's own bytes here, some gone) is a loss. ``objects``
    maps every readable entry to its object keys.
    """
    gone: dict[str, set[str]] = {}
    for problem in missing:
        gone.setdefault(problem.sha, set()).add(problem.object)
    users = Counter(key for keys in objects.values() for key in keys)
    absent: set[str] = set()
    for sha, keys in gone.items():
        own = {key for key in objects[sha] if users[key] == 1}
        if sha not in kept or (own or objects[sha]) <= keys:
            absent.add(sha)
    return absent


def binding_diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    """Where a bindings file and the log's replay of it disagree, key by key."""
    keys = sorted(set(expected) | set(actual))
    parts = [
        f"{k}: log {expected.get(k)}, file {actual.get(k)}"
        for k in keys
        if expected.get(k) != actual.get(k)
    ]
    return "; ".join(parts)


class RegistryVerifier(RegistryReader):
    """The checks of :class:`gramops.registry.store.Registry`: verify, verified loads."""

    def verify(self) -> VerifyReport:
        """Re-hash every object and cross-check every entry, tag, alias and the audit log.

        A *missing* object is recoverable by re-registering its bundle; a *tampered* one (its
        bytes no longer hash to its key) must not be used. Edited metadata (an entry whose
        files no longer hash to its SHA, a tag to an unknown SHA, bindings that disagree with
        the log) is reported under ``errors``.

        It reads without the lock, so a mutation landing between two of its reads can look
        like an inconsistency: metadata errors are confirmed by a second look under the lock.
        """
        repaired = self._recover_if_journaled()
        report = self._verify_once(repaired)
        if report.errors and not self._lock_depth:
            self.recoveries.clear()
            with self._locked():
                report = self._verify_once(repaired + self.recoveries)
        return report

    def _verify_once(self, repaired: list[str]) -> VerifyReport:
        missing: list[ObjectProblem] = []
        tampered: list[ObjectProblem] = []
        errors: list[str] = []
        digests: dict[tuple[str, bool], tuple[str, str | None, Any] | None] = {}
        checked = 0
        shas = self.shas()
        known = set(shas)
        records, torn = self._read_index_safely(errors)
        if torn:
            errors.append(
                f"{self._where(INDEX)}: the last line is torn (an interrupted append); it is "
                "ignored and will be dropped by the next registry operation"
            )
        errors.extend(self.chain_errors())
        registered = auditlog.registered(records)
        objects: dict[str, set[str]] = {}
        for sha in shas:
            try:
                entry = self._load_entry(sha)
                files = self._entry_files(sha, entry)
            except RegistryError as exc:
                errors.append(str(exc))
                continue
            objects[sha] = {item["object"] for item in files}
            if sha not in registered:
                errors.append(
                    f"entry {sha} has no register record in {self._where(INDEX)} (an interrupted "
                    "register?): register its bundle again to complete it"
                )
            parent = entry.get("parent_sha")
            if parent is not None and parent not in known:
                errors.append(f"entry {sha}: parent {parent} is not registered")
            docs: dict[str, Any] = {}
            for item in files:
                checked += 1
                is_json = item["path"].endswith(".json")
                cache_key = (item["object"], is_json)
                if cache_key not in digests:
                    digests[cache_key] = self._object_digests(item["object"], is_json)
                found = digests[cache_key]
                problem = ObjectProblem(sha, item["path"], item["object"])
                if found is None:
                    missing.append(problem)
                elif found[0] != item["object"]:
                    tampered.append(problem)
                elif found[1] != item["sha256"]:
                    errors.append(
                        f"entry {sha}: {item['path']} records identity digest {item['sha256']} "
                        f"but its object {item['object']} has {found[1]}; the entry was edited, "
                        f"restore {self._where(entry_name(sha))} from git"
                    )
                elif found[2] is not None:
                    docs[item["path"]] = found[2]
            errors.extend(fact_errors(self._where(entry_name(sha)), entry, files, docs))
        self._verify_bindings(records, known, errors)
        absent = self._absent_entries(missing, objects)
        missing = [problem for problem in missing if problem.sha not in absent]
        ok = not (missing or tampered or errors)
        return VerifyReport(ok, checked, missing, tampered, errors, repaired, sorted(absent))

    def _absent_entries(
        self, missing: list[ObjectProblem], objects: dict[str, set[str]]
    ) -> set[str]:
        """:func:`absent_entries` under this registry's bindings."""
        if not missing:
            return set()
        try:
            kept = set(kept_entries(self.tags(), self.aliases(), self._load_entry, strict=False))
        except RegistryError:
            kept = set(objects)  # unreadable bindings are an error already: judge strictly
        return absent_entries(missing, objects, kept)

    def _verify_bindings(
        self, records: list[dict[str, Any]], known: set[str], errors: list[str]
    ) -> None:
        try:
            tags, aliases = self.tags(), self.aliases()
        except RegistryError as exc:
            errors.append(str(exc))
            return
        for semver, sha in sorted(tags.items()):
            if sha not in known:
                errors.append(
                    f"{self._where(TAGS_FILE)}: {semver} -> {sha}, which is not registered"
                )
        for alias, sha in sorted(aliases.items()):
            if sha not in known:
                errors.append(f"{self._where(ALIASES)}: {alias} -> {sha}, which is not registered")
        replay_tags, replay_aliases = auditlog.replay(records)
        if replay_tags != tags:
            errors.append(
                f"{self._where(TAGS_FILE)} differs from what {self._where(INDEX)} records "
                f"({binding_diff(replay_tags, tags)}); it was edited outside the registry"
            )
        if replay_aliases != aliases:
            errors.append(
                f"{self._where(ALIASES)} differs from what {self._where(INDEX)} records "
                f"({binding_diff(replay_aliases, aliases)}); it was edited outside the registry"
            )

    def objects_present(self, ref: str) -> bool:
        """Whether every object of an entry is in this store (only the bytes of entries
        registered on this machine or pushed to a shared store are)."""
        sha = self.resolve(ref)
        files = self._entry_files(sha, self._load_entry(sha))  # shape-checked, named on error
        return all(self.objects.exists(item["object"]) for item in files)

    def materialize(self, ref: str, dest: Path) -> Path:
        """Copy an entry's files out of the object store into ``dest``: load by ref, verified.

        Every object is re-hashed (raw bytes against its key, identity digest against the
        entry) and the recorded files must hash to the entry's SHA; only then are the files
        renamed into place, so ``dest`` never holds a tampered file under a trusted name.
        """
        sha = self.resolve(ref)
        entry = self._load_entry(sha)
        files = self._entry_files(sha, entry)
        if files_sha(files, entry.get("parent_sha")) != sha:
            raise RegistryError(
                f"entry {sha}: its files list does not hash to its SHA (the entry was edited); "
                f"refusing to materialize, restore {self._where(entry_name(sha))} from git"
            )
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        names = {f["path"] for f in files}
        stray = [
            n
            for n in (*WEIGHT_FILES, *JSON_IDENTITY_FILES)
            if (dest / n).exists() and n not in names
        ]
        if stray:
            raise RegistryError(
                f"{dest} already holds {', '.join(stray)}, which entry {sha} does not have; "
                "materialize into an empty directory"
            )
        staged: list[tuple[Path, Path]] = []
        try:
            for item in files:
                tmp = dest / f".{item['path']}.{uuid.uuid4().hex}.tmp"
                staged.append((tmp, dest / item["path"]))
                self._copy_verified(sha, item, tmp)
            docs = {
                final.name: json_or_none(tmp.read_bytes())
                for tmp, final in staged
                if final.suffix == ".json"
            }
            edits = fact_errors(self._where(entry_name(sha)), entry, files, docs)
            if edits:
                raise RegistryError(f"refusing to materialize {ref!r}: {'; '.join(edits)}")
            for tmp, final in staged:
                os.replace(tmp, final)
        finally:
            for tmp, _final in staged:
                tmp.unlink(missing_ok=True)
        return dest

    def _copy_verified(self, sha: str, item: dict[str, Any], tmp: Path) -> None:
        # hashed while copied: a multi-GB object is read once, never held in memory
        raw = hashlib.sha256()
        try:
            with self.objects.open(item["object"]) as src, tmp.open("wb") as out:
                while chunk := src.read(1 << 22):
                    raw.update(chunk)
                    out.write(chunk)
        except ObjectStoreError as exc:
            raise RegistryError(f"entry {sha}: {item['path']} cannot be loaded: {exc}") from exc
        if raw.hexdigest() != item["object"]:
            raise RegistryError(
                f"entry {sha}: object {item['object']} for {item['path']} is tampered (its bytes "
                f"hash to {raw.hexdigest()}); refusing to load it. Delete the object and "
                "re-register the original bundle to restore it"
            )
        identity = (
            identity_digest(tmp.read_bytes(), item["path"])
            if item["path"].endswith(".json")
            else raw.hexdigest()
        )
        if identity != item["sha256"]:
            raise RegistryError(
                f"entry {sha}: {item['path']} has identity digest {identity}, the entry records "
                f"{item['sha256']}; refusing to load it"
            )

    def _object_digests(self, key: str, is_json: bool) -> tuple[str, str | None, Any] | None:
        """(raw sha256, identity digest, parsed JSON or None) of a stored object; None when
        it is missing."""
        try:
            if not is_json:
                digest = self.objects.sha256(key)
                return digest, digest, None
            with self.objects.open(key) as fh:
                data = fh.read()
        except (ObjectStoreError, FileNotFoundError):
            return None
        return sha256_bytes(data), identity_digest(data, key), json_or_none(data)
