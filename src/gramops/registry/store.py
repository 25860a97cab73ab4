"""The content-addressed model registry. Identity is a canonical SHA-256, never an MLflow id.

Identity itself (the canonical SHA) lives in :mod:`gramops.models.identity`.

State lives under one root (``models/registry`` by default), git-tracked except the object
bytes, the lock and the journal:

- ``index.jsonl``: the append-only audit log, one canonical-JSON record per operation with
  its actor, time, new and previous value. Its line is written last: it is the commit point
  of an operation.
- ``tags.json`` (semver -> SHA, write-once unless ``retag``) and ``aliases.json``
  (alias -> SHA): the current bindings, small so that resolving a ref reads little.
- ``entries/<sha>.json``: what a bundle is (family, parent, corpus hash, files, metrics).
- ``objects/``: the bytes, content-addressed (:mod:`gramops.registry.objects`), any fsspec URL.
- ``.lock``: every mutation holds it (``fcntl.flock`` locally; on S3 an object created by
  a conditional write, with owner, holder and expiry, see ``S3MetadataFiles``).
- ``.journal.json``: present only while a mutation is in flight: the log's size and the
  previous bytes of every document it writes. Whoever takes the lock next (any mutation,
  or ``verify``) rolls a dead holder's mutation forward when its log line is complete, and
  back otherwise, with a warning; so even ``kill -9`` never leaves one half-applied.

Every document is replaced whole and atomically (tmp + fsync + ``os.replace`` locally, one
PUT on S3); a mutation validates everything before its first write. Reads take no lock;
while a journal lacks its log line they read its previous bytes, as recovery will restore.

Where the registry lives is configured by the environment only, so one codebase serves a
laptop and a team:

- ``GRAMOPS_REGISTRY``: the root, a local path or ``s3://bucket/prefix`` (default
  ``models/registry``). A local root keeps the historical on-disk format byte for byte.
- ``GRAMOPS_REGISTRY_OBJECTS``: the object store URL (default ``<root>/objects``).
- ``GRAMOPS_REGISTRY_LOCK_TTL``: seconds after which an S3 lock counts as abandoned
  (default 60).
- S3 credentials and endpoint the usual botocore way (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for MinIO or a test server, ...).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from gramops.core.errors import GramopsError
from gramops.core.fileio import canonical_bytes, dumps_pretty
from gramops.core.vocab import FAMILIES
from gramops.core.workspace import in_workspace
from gramops.models.identity import (
    JSON_IDENTITY_FILES,
    WEIGHT_FILES,
    file_digest,
    identity_files,
    manifest_sha,
)
from gramops.registry import auditlog
from gramops.registry.objects import (
    LocalMetadataFiles,
    LockTimeoutError,
    ObjectStoreError,
    open_metadata,
)

if TYPE_CHECKING:
    from gramops.registry.objects import ObjectStore

log = logging.getLogger(__name__)


class RegistryError(GramopsError):
    """A registry operation was refused; the message says why."""


# ---------------------------------------------------------------------------------------------
# The registry store
# ---------------------------------------------------------------------------------------------

DEFAULT_ROOT = Path("models/registry")
REGISTRY_ENV = "GRAMOPS_REGISTRY"
OBJECTS_ENV = "GRAMOPS_REGISTRY_OBJECTS"
INDEX = "index.jsonl"
TAGS_FILE = "tags.json"
ALIASES = "aliases.json"
ENTRIES = "entries"
JOURNAL = ".journal.json"
ACTOR_ENV = "GRAMOPS_ACTOR"
OPS = auditlog.OPS
MIN_SHORT_SHA = 8
LOCK_TIMEOUT_S = 60.0
# The entry fields that describe the bundle itself; annotate() may only add pointers beside them.
ENTRY_FIELDS = frozenset(
    {
        "sha",
        "family",
        "parent_sha",
        "corpus_dvc_hash",
        "files",
        "size_bytes",
        "parameters",
        "metrics",
        "registered_at",
        "registered_by",
    }
)
SUMMARY_METRICS = ("strict_accuracy", "pass_rate", "count")

_SEMVER = re.compile(r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]*")
_SEMVER_LIKE_ALIAS = re.compile(r"v[0-9][0-9._-]*")
_HEX = re.compile(r"[0-9a-f]+")
_FULL_SHA = re.compile(r"[0-9a-f]{64}")
_ENTRY_TMP = re.compile(r"[0-9a-f]{64}\.json\.tmp")
# a lock-free read starts over when a mutation journaled or finished while it read
_READ_ATTEMPTS = 5
_T = TypeVar("_T")


def parse_semver(text: str) -> tuple[int, int, int]:
    """``v1.2.3`` or ``1.2.3`` as a sortable tuple; anything else is refused with the format."""
    match = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise RegistryError(
            f"{text!r} is not a semver: use vMAJOR.MINOR.PATCH, e.g. v0.1.0 (the v is optional)"
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def format_semver(version: tuple[int, int, int]) -> str:
    return "v{}.{}.{}".format(*version)


def normalize_semver(text: str) -> str:
    """The stored spelling of a semver: always with the leading ``v``."""
    return format_semver(parse_semver(text))


def is_semver(text: str) -> bool:
    return isinstance(text, str) and _SEMVER.fullmatch(text.strip()) is not None


def check_alias(name: str) -> str:
    """Alias names can never be confused with a SHA prefix or a semver when resolving a ref."""
    if (
        not isinstance(name, str)
        or not _ALIAS.fullmatch(name)
        or _HEX.fullmatch(name)
        or _SEMVER_LIKE_ALIAS.fullmatch(name)
    ):
        raise RegistryError(
            f"{name!r} is not a valid alias: use lowercase [a-z][a-z0-9_-]* that is neither all "
            "hex digits (it would read as a SHA) nor v<digits> (it would read as a semver), "
            "e.g. production, challenger"
        )
    return name


def registry_location() -> str:
    """The registry root when none is given: ``GRAMOPS_REGISTRY`` or ``models/registry``."""
    return os.environ.get(REGISTRY_ENV, "").strip() or str(DEFAULT_ROOT)


def _entry_name(sha: str) -> str:
    return f"{ENTRIES}/{sha}.json"


def default_actor() -> str:
    """Who the audit log names: ``GRAMOPS_ACTOR`` (stages pass ``stage:<name>``) or user@host."""
    actor = os.environ.get(ACTOR_ENV, "").strip()
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safetensors_parameters(path: Path) -> int:
    """Tensor elements in a safetensors file, from its JSON header only (no tensor is read)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > 100_000_000:
                raise ValueError(f"header length {length} is implausible")
            header = json.loads(fh.read(length))
        total = 0
        for name, spec in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in spec["shape"]:
                count *= int(dim)
            total += count
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise RegistryError(
            f"{path}: not a readable safetensors header ({exc}); the weights may be truncated"
        ) from exc
    return total


def summary_metrics(eval_report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per-domain strict accuracy and pass rate: what ``list`` and the metrics diff compare."""
    domains = eval_report.get("domains")
    if not isinstance(domains, dict):
        return {}
    return {
        name: {k: values[k] for k in SUMMARY_METRICS if k in values}
        for name, values in sorted(domains.items())
        if isinstance(values, dict)
    }


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
        return {
            "ok": self.ok,
            "checked": self.checked,
            "missing": [p._asdict() for p in self.missing],
            "tampered": [p._asdict() for p in self.tampered],
            "errors": list(self.errors),
            "repaired": list(self.repaired),
            "absent": list(self.absent),
        }


@dataclass(frozen=True)
class RegisterResult:
    """The outcome of :meth:`Registry.register`.

    ``created`` is False for a SHA that was already registered; ``restored_objects`` counts
    objects copied back into the store (e.g. in a fresh clone, where objects are not in git).
    ``semver`` is the entry's highest version, None while it has none (registering binds
    none: promotion does).
    """

    entry: dict[str, Any]
    sha: str
    semver: str | None
    created: bool
    restored_objects: int


@dataclass(frozen=True)
class PromoteResult:
    """The outcome of :meth:`Registry.promote`: the alias's new and previous holder, the
    semver the model is released as, and whether anything was written."""

    sha: str
    previous: str | None
    semver: str
    changed: bool


class Registry:
    """The registry under ``root``: read bindings cheaply, mutate under a cross-process lock.

    Reads take no lock: every file is replaced atomically, so a reader sees either the old
    or the new version. Mutations hold ``root/.lock`` (``fcntl.flock``) for their whole
    read-modify-write, so concurrent processes never lose each other's updates.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        objects_url: str | None = None,
        actor: str | None = None,
    ) -> None:
        location = str(root) if root is not None else registry_location()
        try:
            self._meta = open_metadata(location)
        except ObjectStoreError as exc:
            raise RegistryError(str(exc)) from exc
        self.url = self._meta.url
        if isinstance(self._meta, LocalMetadataFiles):
            # an experiment's temporary copy shares the workspace's (gitignored) objects
            default_objects = str(in_workspace(Path(location)) / "objects")
        else:
            default_objects = f"{self.url}/objects"
        self.objects_url = objects_url or os.environ.get(OBJECTS_ENV, "").strip() or default_objects
        self.actor = actor or default_actor()
        self._store: ObjectStore | None = None
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        # what _recover did, newest last: verify reports it, tests count it
        self.recoveries: list[str] = []

    def __repr__(self) -> str:
        return f"Registry({self.url!r}, objects_url={self.objects_url!r})"

    # -- paths ------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The local directory of the metadata (a registry on S3 has none)."""
        if not isinstance(self._meta, LocalMetadataFiles):
            raise RegistryError(
                f"registry {self.url} is not on local disk; it has no directory (use its URL)"
            )
        return self._meta.root

    @property
    def is_local(self) -> bool:
        """Whether the metadata is a local directory (git-tracked), not an S3 prefix."""
        return isinstance(self._meta, LocalMetadataFiles)

    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    @property
    def tags_path(self) -> Path:
        return self.root / TAGS_FILE

    @property
    def aliases_path(self) -> Path:
        return self.root / ALIASES

    @property
    def entries_dir(self) -> Path:
        return self.root / ENTRIES

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL

    def entry_path(self, sha: str) -> Path:
        return self.root / _entry_name(sha)

    def _where(self, name: str) -> str:
        """A metadata document's path or URL, for messages."""
        return self._meta.where(name)

    def _has_entry(self, sha: str) -> bool:
        return self._committed_exists(_entry_name(sha))

    @property
    def objects(self) -> ObjectStore:
        """The object store, opened on first use so that pure reads never import fsspec."""
        if self._store is None:
            from gramops.registry.objects import ObjectStore

            self._store = ObjectStore(self.objects_url)
        return self._store

    # -- reads ------------------------------------------------------------------------------

    def tags(self) -> dict[str, str]:
        """semver -> SHA, the one place semvers are recorded."""
        return self._read_map(TAGS_FILE)

    def aliases(self) -> dict[str, str]:
        return self._read_map(ALIASES)

    def semvers_of(self, sha: str) -> list[str]:
        return sorted((v for v, s in self.tags().items() if s == sha), key=parse_semver)

    def aliases_of(self, sha: str) -> list[str]:
        return sorted(a for a, s in self.aliases().items() if s == sha)

    def shas(self) -> list[str]:
        """Every registered SHA, from the entry file names alone (no entry is read)."""
        names = self._committed_entry_names()
        return sorted(
            name[:-5] for name in names if name.endswith(".json") and _FULL_SHA.fullmatch(name[:-5])
        )

    def entry(self, ref: str) -> dict[str, Any]:
        """The entry metadata of a ref (any form :meth:`resolve` accepts)."""
        return self._load_entry(self.resolve(ref))

    def entries(self) -> dict[str, dict[str, Any]]:
        """SHA -> entry for every registered bundle (reads every entry file)."""
        return {sha: self._load_entry(sha) for sha in self.shas()}

    def history(self) -> list[dict[str, Any]]:
        """The audit log's records, oldest first (a torn last line is skipped with a warning)."""
        records, _torn = self._read_index()
        return records

    def resolve(self, ref: str) -> str:
        """The full SHA a ref names: full SHA, unique SHA prefix (>= 8 hex), semver or alias.

        Reads the two small binding files and, for a prefix, the entry *file names*; never
        the entries themselves, so it stays fast with thousands of entries.
        """
        text = ref.strip() if isinstance(ref, str) else ""
        if not text:
            raise RegistryError(
                f"empty ref {ref!r}: give a SHA (8+ hex digits), a semver or an alias"
            )
        lowered = text.lower()
        if _HEX.fullmatch(lowered):
            return self._resolve_hex(text, lowered)
        if is_semver(text):
            semver = normalize_semver(text)
            tags = self.tags()
            if semver in tags:
                return tags[semver]
            known = ", ".join(sorted(tags, key=parse_semver)) or "none"
            raise RegistryError(f"semver {semver} is not tagged in {self.url} (tagged: {known})")
        aliases = self.aliases()
        if text in aliases:
            return aliases[text]
        known = ", ".join(sorted(aliases)) or "none"
        raise RegistryError(
            f"unknown ref {text!r}: not a SHA (8+ hex digits), a semver (v0.1.0) or an alias "
            f"of {self.url} (aliases: {known}); `gramops registry list` shows what exists"
        )

    def _resolve_hex(self, text: str, lowered: str) -> str:
        if len(lowered) == 64:
            if self._has_entry(lowered):
                return lowered
            raise RegistryError(f"SHA {lowered} is not registered in {self.url}")
        if len(lowered) < MIN_SHORT_SHA:
            raise RegistryError(
                f"short SHA {text!r} has {len(lowered)} hex digits; give at least "
                f"{MIN_SHORT_SHA} so it stays unambiguous as the registry grows"
            )
        matches = [sha for sha in self.shas() if sha.startswith(lowered)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RegistryError(f"no registered SHA starts with {text!r} in {self.url}")
        raise RegistryError(
            f"short SHA {text!r} is ambiguous, it matches {len(matches)} entries: "
            f"{', '.join(matches)}; give more hex digits"
        )

    def lineage(self, ref: str) -> list[dict[str, Any]]:
        """The chain from a model to the corpus it was trained on: child first, corpus last.

        INT8 -> FP32 -> corpus, LoRA -> FP32 -> corpus; the corpus node carries the DVC hash
        that ``dvc pull``/``dvc checkout`` restores the exact training corpus from.
        """
        sha: str | None = self.resolve(ref)
        tags, aliases = self.tags(), self.aliases()
        chain: list[dict[str, Any]] = []
        seen: set[str] = set()
        entry: dict[str, Any] = {}
        while sha is not None:
            if sha in seen:
                raise RegistryError(f"entry {sha}: parent links form a cycle; run verify")
            seen.add(sha)
            if not self._has_entry(sha):
                child = chain[-1]["sha"] if chain else ref
                raise RegistryError(
                    f"entry {child} names parent {sha}, which is not registered in {self.url}"
                )
            entry = self._load_entry(sha)
            chain.append(
                {
                    "kind": "model",
                    "sha": sha,
                    "family": entry.get("family"),
                    "semvers": sorted((v for v, s in tags.items() if s == sha), key=parse_semver),
                    "aliases": sorted(a for a, s in aliases.items() if s == sha),
                    "parent_sha": entry.get("parent_sha"),
                    "corpus_dvc_hash": entry.get("corpus_dvc_hash"),
                    "metrics": entry.get("metrics", {}),
                }
            )
            sha = entry.get("parent_sha")
        chain.append({"kind": "corpus", "dvc_hash": entry.get("corpus_dvc_hash")})
        return chain

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
        registered = {r.get("sha") for r in records if r.get("op") == "register"}
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
                        f"restore {self._where(_entry_name(sha))} from git"
                    )
                elif found[2] is not None:
                    docs[item["path"]] = found[2]
            errors.extend(self._fact_errors(sha, entry, files, docs))
        self._verify_bindings(records, known, errors)
        absent = self._absent_entries(missing, objects)
        missing = [problem for problem in missing if problem.sha not in absent]
        ok = not (missing or tampered or errors)
        return VerifyReport(ok, checked, missing, tampered, errors, repaired, sorted(absent))

    def _absent_entries(
        self, missing: list[ObjectProblem], objects: dict[str, set[str]]
    ) -> set[str]:
        """Entries whose missing objects mean "not in this store", not lost bytes.

        The rule gc follows: it keeps the entries a tag or alias reaches (and their
        ancestors) and deletes, all at once, every object only other entries use. So any
        missing object of an entry gc does not keep is gc's doing. A kept entry's objects
        gc never deletes; they are absent as a whole when the entry was registered in
        another store (objects are not in git, e.g. a fresh clone): then every object that
        no other entry shares is missing, while shared ones may be here for those entries.
        Anything else (some of an entry's own bytes here, some gone) is a loss.
        """
        if not missing:
            return set()
        try:
            kept = set(self._kept_entries(self.tags(), self.aliases(), strict=False))
        except RegistryError:
            kept = set(objects)  # unreadable bindings are an error already: judge strictly
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

    def _kept_entries(
        self, tags: dict[str, str], aliases: dict[str, str], *, strict: bool
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
                entry = self._load_entry(sha)
            except RegistryError:
                if strict:
                    raise
                continue
            kept[sha] = entry
            if entry.get("parent_sha"):
                pending.append(entry["parent_sha"])
        return kept

    def chain_errors(self) -> list[str]:
        """The audit log's hash chain, checked: where the history was rewritten, if it was."""
        lines = self._index_lines()
        try:
            records = [json.loads(line) for line in lines]
        except ValueError:
            return []  # an unparsable line is reported by the log read itself
        broken = auditlog.check_chain(lines, records)
        if broken is None:
            return []
        return [
            f"{self._where(INDEX)}: the hash chain breaks: {broken}; the audit history was "
            "rewritten, compare it with git (`git log -p models/registry/index.jsonl`)"
        ]

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
                f"({_diff(replay_tags, tags)}); it was edited outside the registry"
            )
        if replay_aliases != aliases:
            errors.append(
                f"{self._where(ALIASES)} differs from what {self._where(INDEX)} records "
                f"({_diff(replay_aliases, aliases)}); it was edited outside the registry"
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
        if manifest_sha([(f["path"], f["sha256"]) for f in files], entry.get("parent_sha")) != sha:
            raise RegistryError(
                f"entry {sha}: its files list does not hash to its SHA (the entry was edited); "
                f"refusing to materialize, restore {self._where(_entry_name(sha))} from git"
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
                final.name: _json_or_none(tmp.read_bytes())
                for tmp, final in staged
                if final.suffix == ".json"
            }
            edits = self._fact_errors(sha, entry, files, docs)
            if edits:
                raise RegistryError(f"refusing to materialize {ref!r}: {'; '.join(edits)}")
            for tmp, final in staged:
                os.replace(tmp, final)
        finally:
            for tmp, _final in staged:
                tmp.unlink(missing_ok=True)
        return dest

    def _copy_verified(self, sha: str, item: dict[str, Any], tmp: Path) -> None:
        from gramops.registry.objects import ObjectStoreError

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
            _identity_digest(tmp.read_bytes(), item["path"])
            if item["path"].endswith(".json")
            else raw.hexdigest()
        )
        if identity != item["sha256"]:
            raise RegistryError(
                f"entry {sha}: {item['path']} has identity digest {identity}, the entry records "
                f"{item['sha256']}; refusing to load it"
            )

    # -- mutations --------------------------------------------------------------------------

    def register(self, bundle_dir: Path, *, family: str) -> RegisterResult:
        """Add a bundle by its SHA, or return the existing entry when it is already registered.

        Registering binds no semver and moves no alias: it records what exists, so it is
        safe to repeat and safe inside a pipeline that DVC may re-run or replay. Semvers are
        bound when a person or CI promotes a model (:meth:`promote`) or tags it (:meth:`tag`).
        A known SHA writes no metadata and no log line (a fresh clone re-running the pipeline
        leaves the git-tracked registry byte-identical), but objects missing from the store
        are copied back from the bundle once their bytes hash to the recorded key.
        """
        bundle_dir = Path(bundle_dir)
        names, manifest, files, sha = self._identify(bundle_dir, family)
        parent = manifest.get("parent_sha")
        with self._locked():
            registered = self._registered_shas()
            if sha in registered:
                if not self._has_entry(sha):
                    raise RegistryError(
                        f"{bundle_dir}: SHA {sha} is in {self._where(INDEX)} but its entry file "
                        f"{self._where(_entry_name(sha))} is gone; restore it from git"
                    )
                entry = self._load_entry(sha)
                if entry.get("family") != family:
                    raise RegistryError(
                        f"{bundle_dir}: SHA {sha} is registered as {entry.get('family')}, "
                        f"not {family}"
                    )
                restored = self._restore_objects(bundle_dir, sha, entry)
                versions = self.semvers_of(sha)
                return RegisterResult(
                    entry, sha, versions[-1] if versions else None, False, restored
                )
            self._check_parent(bundle_dir, family, parent, registered)
            for item in files:
                self.objects.put_file(bundle_dir / item["path"], item["object"])
            entry = {
                "sha": sha,
                "family": family,
                "parent_sha": parent,
                "corpus_dvc_hash": (manifest.get("corpus") or {}).get("dvc_hash"),
                "files": files,
                "size_bytes": sum(f["size"] for f in files),
                "parameters": safetensors_parameters(bundle_dir / _weights_name(names)),
                "metrics": summary_metrics(_read_json_object(bundle_dir / "eval_report.json")),
                "registered_at": utc_now(),
                "registered_by": self.actor,
            }
            self._commit(
                [(_entry_name(sha), entry)],
                op="register",
                sha=sha,
                new=sha,
                previous=None,
            )
            log.info("registered %s %s", family, sha)
            return RegisterResult(entry, sha, None, True, 0)

    def register_pending(self, bundle_dir: Path, *, family: str) -> RegisterResult:
        """What :meth:`register` would do, without writing anything: a preview for CI/PRs.

        ``created`` says whether the SHA is new; ``semver`` is the version it has, if any.
        """
        bundle_dir = Path(bundle_dir)
        _names, manifest, _files, sha = self._identify(bundle_dir, family)
        registered = self._registered_shas()
        if sha in registered:
            versions = self.semvers_of(sha)
            return RegisterResult(
                self._load_entry(sha), sha, versions[-1] if versions else None, False, 0
            )
        self._check_parent(bundle_dir, family, manifest.get("parent_sha"), registered)
        return RegisterResult({}, sha, None, True, 0)

    def _identify(
        self, bundle_dir: Path, family: str
    ) -> tuple[list[str], dict[str, Any], list[dict[str, Any]], str]:
        """Validate a bundle for ``family``; its identity files, manifest, records and SHA."""
        if family not in FAMILIES:
            raise RegistryError(
                f"family {family!r} is not one of {', '.join(FAMILIES)} (registering {bundle_dir})"
            )
        names = identity_files(bundle_dir)
        manifest = _read_json_object(bundle_dir / "train_manifest.json")
        declared = manifest.get("family")
        if declared is not None and declared != family:
            raise RegistryError(
                f"{bundle_dir}: train_manifest.json says family {declared!r}, registered as "
                f"{family!r}; pass the family the bundle was built as"
            )
        files = [_file_record(bundle_dir / name) for name in names]
        sha = manifest_sha([(f["path"], f["sha256"]) for f in files], manifest.get("parent_sha"))
        return names, manifest, files, sha

    def tag(self, ref: str, semver: str, *, reason: str | None = None) -> str:
        """Bind a new semver to a SHA; a semver names one model forever (see :meth:`retag`)."""
        version = normalize_semver(semver)
        with self._locked():
            sha = self.resolve(ref)
            tags = self.tags()
            current = tags.get(version)
            if current == sha:
                return sha
            if current is not None:
                raise RegistryError(
                    f"semver already mapped to a different SHA: {version} is {current}, refused "
                    f"for {sha} ({ref}); pick a new version, or use retag to move {version} on "
                    "purpose"
                )
            self._commit(
                [(TAGS_FILE, {**tags, version: sha})],
                op="tag",
                sha=sha,
                semver=version,
                new=sha,
                previous=None,
                reason=reason,
            )
            return sha

    def retag(self, ref: str, semver: str, *, reason: str | None = None) -> tuple[str, str]:
        """Move a bound semver to another SHA on purpose; logged with the previous SHA.

        Returns ``(new_sha, previous_sha)``. An unbound semver is refused: that is promote.
        """
        version = normalize_semver(semver)
        with self._locked():
            sha = self.resolve(ref)
            tags = self.tags()
            current = tags.get(version)
            if current is None:
                raise RegistryError(
                    f"semver {version} is not bound to any SHA, there is nothing to retag; "
                    f"use `gramops registry tag` to bind it to {sha}"
                )
            if current == sha:
                return sha, current
            self._commit(
                [(TAGS_FILE, {**tags, version: sha})],
                op="retag",
                sha=sha,
                semver=version,
                new=sha,
                previous=current,
                reason=reason,
            )
            return sha, current

    def set_alias(
        self, alias: str, ref: str, *, reason: str | None = None
    ) -> tuple[str, str | None]:
        """Create or move an alias by hand; returns ``(new_sha, previous_sha or None)``.

        A raw move, recorded as such: moving ``production`` this way is not a promotion
        (no gate decision is attached), and ``gramops gate --check`` refuses it.
        """
        check_alias(alias)
        with self._locked():
            sha = self.resolve(ref)
            aliases = self.aliases()
            current = aliases.get(alias)
            if current == sha:
                return sha, current
            self._commit(
                [(ALIASES, {**aliases, alias: sha})],
                op="alias",
                sha=sha,
                alias=alias,
                new=sha,
                previous=current,
                reason=reason,
            )
            return sha, current

    def promote(
        self,
        ref: str,
        *,
        alias: str = "production",
        reason: str | None = None,
        gate: dict[str, Any] | None = None,
        forced: bool = False,
        first_semver: str | None = None,
    ) -> PromoteResult:
        """Point ``alias`` at a model as one audited act, binding its semver if it has none.

        The record carries who (the actor), when, why (``reason``) and the gate decision the
        act relied on (``gate``: its digest and verdict), or ``forced`` when a person
        overrode the gate. Whether the gate allows it is the caller's check (the CLI's,
        :mod:`gramops.release.policy`); the registry records what was decided. An entry without a
        semver gets its family's next patch version (``first_semver`` for a family that has
        none yet), bound in the same record, so semvers name only models that were released.
        """
        check_alias(alias)
        with self._locked():
            sha = self.resolve(ref)
            entry = self._load_entry(sha)
            aliases, tags = self.aliases(), self.tags()
            current = aliases.get(alias)
            own = sorted((v for v, s in tags.items() if s == sha), key=parse_semver)
            semver = own[-1] if own else self.next_semver(entry["family"], first_semver, tags)
            if current == sha and own:
                return PromoteResult(sha, current, semver, False)
            writes: list[tuple[str, Any]] = [(ALIASES, {**aliases, alias: sha})]
            if not own:
                writes.append((TAGS_FILE, {**tags, semver: sha}))
            self._commit(
                writes,
                op="promote",
                sha=sha,
                semver=semver,
                alias=alias,
                new=sha,
                previous=current,
                reason=reason,
                gate=gate,
                forced=forced,
            )
            return PromoteResult(sha, current, semver, True)

    def next_semver(
        self, family: str, first: str | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """The version a family's next released model gets: the next free patch after the
        family's highest, or ``first`` for a family with no version yet."""
        tags = self.tags() if tags is None else tags
        families = {
            sha: (self._load_entry(sha).get("family") if self._has_entry(sha) else None)
            for sha in set(tags.values())
        }
        mine = sorted((v for v, s in tags.items() if families[s] == family), key=parse_semver)
        if not mine:
            if first is None:
                raise RegistryError(
                    f"{family} has no semver yet: give its first version "
                    f"(params.yaml release.first_semver.{family})"
                )
            seed = normalize_semver(first)
            if seed in tags:
                raise RegistryError(
                    f"semver already mapped to a different SHA: {seed} (the first version for "
                    f"{family}) is {tags[seed]}; pick another first version"
                )
            return seed
        major, minor, patch = parse_semver(mine[-1])
        candidate = format_semver((major, minor, patch + 1))
        while candidate in tags:  # another family took it: the next free patch
            patch += 1
            candidate = format_semver((major, minor, patch + 1))
        return candidate

    def state(self) -> dict[str, Any]:
        """What a decision about the registry judged: the audit log's length, last sequence
        number and chain head (equal heads mean an equal registry: every change appends a
        record), the aliases, production and the record of its last move. A decision about
        production is stale once production moved (:func:`gramops.release.policy.is_fresh`)."""
        lines = self._index_lines()
        records = [json.loads(line) for line in lines]
        aliases = self.aliases()
        moves = auditlog.alias_moves(records, "production")
        return {
            "records": len(records),
            "seq": records[-1].get("seq", len(records)) if records else 0,
            "head": auditlog.head(lines),
            "aliases": dict(sorted(aliases.items())),
            "production": aliases.get("production"),
            # the last move of production: a decision judged before it is stale
            "production_seq": moves[-1].get("seq") if moves else 0,
        }

    def move_alias(self, alias: str, ref: str) -> tuple[str, str]:
        """Move an existing alias (a typo must not silently create a new one)."""
        check_alias(alias)
        with self._locked():
            if alias not in self.aliases():
                raise RegistryError(
                    f"alias {alias!r} does not exist, nothing to move; use set_alias to create it"
                )
            sha, previous = self.set_alias(alias, ref)
            assert previous is not None  # checked above, under the same lock
            return sha, previous

    def rollback(self, alias: str = "production", *, reason: str | None = None) -> tuple[str, str]:
        """Point ``alias`` back at its holder before the latest move, as the log records it.

        The alias's moves form a stack in ``index.jsonl``: a move pushes, a rollback pops, so
        repeated rollbacks walk further back. Returns ``(new_sha, previous_sha)``.
        """
        check_alias(alias)
        with self._locked():
            current = self.aliases().get(alias)
            if current is None:
                raise RegistryError(
                    f"alias {alias!r} is not set in {self.url}; nothing to roll back"
                )
            stack = auditlog.alias_stack(self.history(), alias)
            if not stack or stack[-1] != current:
                raise RegistryError(
                    f"alias {alias!r} is {current} in {self._where(ALIASES)} but "
                    f"{self._where(INDEX)} says {stack[-1] if stack else 'unset'}; run "
                    "`gramops registry verify`"
                )
            if len(stack) < 2:
                raise RegistryError(
                    f"alias {alias!r} has no earlier holder in {self._where(INDEX)} to roll back to"
                )
            target = stack[-2]
            if not self._has_entry(target):
                raise RegistryError(
                    f"alias {alias!r} would roll back to {target}, which is not registered"
                )
            self._commit(
                [(ALIASES, {**self.aliases(), alias: target})],
                op="rollback",
                sha=target,
                alias=alias,
                new=target,
                previous=current,
                reason=reason,
            )
            return target, current

    def annotate(self, ref: str, key: str, value: Any) -> dict[str, Any]:
        """Set a pointer field of an entry (e.g. ``mlflow``); unchanged values write nothing.

        Fields that describe the bundle (``ENTRY_FIELDS``) are refused: they are facts of
        the registered bytes. Returns the (possibly updated) entry.
        """
        if not isinstance(key, str) or not key or key in ENTRY_FIELDS:
            raise RegistryError(
                f"annotate key {key!r} is refused: it must be a non-empty name other than "
                f"{', '.join(sorted(ENTRY_FIELDS))} (those describe the registered bundle)"
            )
        try:
            canonical_bytes(value)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"annotate {key}: value is not JSON ({exc})") from exc
        with self._locked():
            sha = self.resolve(ref)
            entry = self._load_entry(sha)
            missing = object()
            previous = entry.get(key, missing)
            if previous is not missing and canonical_bytes(previous) == canonical_bytes(value):
                return entry
            updated = {**entry, key: value}
            self._commit(
                [(_entry_name(sha), updated)],
                op="annotate",
                sha=sha,
                new={key: value},
                previous=None if previous is missing else {key: previous},
            )
            return updated

    def gc(self, dry_run: bool = True) -> list[str]:
        """Objects no kept entry references; deleted only with ``dry_run=False``.

        Kept entries are those a tag or alias points at, and their ancestors (a LoRA adapter
        is useless without its base); verify reports the entries whose objects this deletes
        as not in this store, not as lost (see :meth:`_absent_entries`). Runs under the lock
        so that a concurrent register's fresh objects are never collected. Refuses to run
        when a kept entry is unreadable.
        """
        with self._locked():
            kept = self._kept_entries(self.tags(), self.aliases(), strict=True)
            referenced = {
                item["object"]
                for sha, entry in kept.items()
                for item in self._entry_files(sha, entry)
            }
            garbage = sorted(key for key in self.objects.list_keys() if key not in referenced)
            if not dry_run:
                for key in garbage:
                    self.objects.delete(key)
                log.info("gc deleted %d objects from %s", len(garbage), self.objects_url)
            return garbage

    # -- internals --------------------------------------------------------------------------

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
        journal = self._parse_journal(raw)
        previous = journal["previous"]
        if _journal_committed(journal, self._meta.read(INDEX) or b""):
            done = f"rolled forward an interrupted {journal['op']} (its log line is in {INDEX})"
            self._meta.delete(JOURNAL)
        else:
            restored = ", ".join(sorted(previous)) or "nothing"
            done = f"rolled back an interrupted {journal['op']} (restored {restored})"
            self._roll_back(journal)
        log.warning("%s: %s", self._where(JOURNAL), done)
        self.recoveries.append(done)
        return done

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
        assert op in OPS
        extra = extra or {"reason": None, "gate": None, "forced": False}

        def build(last: dict[str, Any] | None) -> dict[str, Any]:
            return {
                "seq": (last["seq"] if last else 0) + 1,
                "op": op,
                "time": utc_now(),
                "actor": self.actor,
                "sha": sha,
                "semver": semver,
                "alias": alias,
                "new": new,
                "previous": previous,
                # lines are canonical JSON, so the parsed last record hashes to its line
                "prev": auditlog.record_hash(last) if last else auditlog.GENESIS,
                **extra,
            }

        self._meta.append_jsonl(INDEX, build)

    def _start_chain(self) -> None:
        """Seal a log written before the hash chain existed, once, with an audited record.

        The ``chain`` record digests every earlier line, so they are covered by the chain
        too; it is a whole operation of its own (one appended line, no documents), taken
        by whichever mutation first runs on an unchained log.
        """
        lines = self._index_lines()
        if not lines or "prev" in json.loads(lines[-1]):
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

    def _read_index(self) -> tuple[list[dict[str, Any]], bool]:
        raw = self._committed_index()
        if raw is None:
            return [], False
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
                    f"{self._where(INDEX)}: line {number} is not valid JSON ({exc}); the audit "
                    "log is corrupt, restore it from git"
                ) from exc
        if tail.strip():
            try:
                records.append(json.loads(tail))
            except ValueError:
                torn = True
        if torn:
            log.warning("%s: ignoring a torn last line (an interrupted append)", self._where(INDEX))
        return records, torn

    def _read_index_safely(self, errors: list[str]) -> tuple[list[dict[str, Any]], bool]:
        try:
            return self._read_index()
        except RegistryError as exc:
            errors.append(str(exc))
            return [], False

    def _registered_shas(self) -> set[str]:
        return auditlog.registered(self.history())

    def _read_map(self, name: str) -> dict[str, str]:
        raw = self._committed_doc(name)
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(
                f"{self._where(name)}: not valid JSON ({exc}); restore it from git or rebuild it "
                "from index.jsonl"
            ) from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise RegistryError(
                f"{self._where(name)}: expected a JSON object of name -> SHA strings"
            )
        return data

    def _load_entry(self, sha: str) -> dict[str, Any]:
        where = self._where(_entry_name(sha))
        raw = self._committed_doc(_entry_name(sha))
        if raw is None:
            raise RegistryError(f"SHA {sha} has no entry file {where}; is it registered?")
        try:
            entry = json.loads(raw)
        except ValueError as exc:
            raise RegistryError(f"{where}: not valid JSON ({exc}); restore it from git") from exc
        if not isinstance(entry, dict) or entry.get("sha") != sha:
            raise RegistryError(
                f"{where}: not the entry of {sha} (its sha field is "
                f"{entry.get('sha') if isinstance(entry, dict) else None!r}); restore it from git"
            )
        return entry

    # -- the committed state, as lock-free readers see it -----------------------------------

    def _committed_read(self, read: Callable[[_Pending | None], _T]) -> _T:
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

    def _pending(self, raw: bytes | None) -> _Pending | None:
        """The uncommitted mutation a journal describes; None when there is none."""
        if raw is None:
            return None
        journal = self._parse_journal(raw)
        if _journal_committed(journal, self._meta.read(INDEX) or b""):
            return None  # its documents are all written: the current files are committed
        return _Pending(journal["previous"], journal["index_size"])

    def _committed_doc(self, name: str) -> bytes | None:
        def read(pending: _Pending | None) -> bytes | None:
            if pending is not None and name in pending.previous:
                old = pending.previous[name]
                return None if old is None else old.encode("utf-8")
            return self._meta.read(name)

        return self._committed_read(read)

    def _committed_exists(self, name: str) -> bool:
        def read(pending: _Pending | None) -> bool:
            if pending is not None and name in pending.previous:
                return pending.previous[name] is not None
            return self._meta.exists(name)

        return self._committed_read(read)

    def _committed_index(self) -> bytes | None:
        def read(pending: _Pending | None) -> bytes | None:
            raw = self._meta.read(INDEX)
            if pending is None or raw is None:
                return raw
            return raw[: pending.index_size]

        return self._committed_read(read)

    def _committed_entry_names(self) -> list[str]:
        def read(pending: _Pending | None) -> list[str]:
            names = set(self._meta.names(ENTRIES))
            for name, old in (pending.previous if pending else {}).items():
                directory, _, base = name.rpartition("/")
                if directory == ENTRIES and old is None:
                    names.discard(base)  # registered by the uncommitted mutation
                elif directory == ENTRIES:
                    names.add(base)
            return sorted(names)

        return self._committed_read(read)

    def _parse_journal(self, raw: bytes) -> dict[str, Any]:
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
                f"{self._where(JOURNAL)}: unreadable journal of an interrupted mutation ({exc}); "
                "compare the registry with git, then delete the journal"
            ) from exc
        return parsed

    def _stray_tmp(self) -> list[str]:
        """Temporary files of our own atomic writes, left by a process killed before its
        rename (``tags.json.tmp``, ``entries/<sha>.json.tmp``, ...); none on S3."""
        ours = {f"{name}.tmp" for name in (TAGS_FILE, ALIASES, JOURNAL, INDEX)}
        stray = [name for name in self._meta.tmp_names("") if name in ours]
        stray += [
            f"{ENTRIES}/{name}"
            for name in self._meta.tmp_names(ENTRIES)
            if _ENTRY_TMP.fullmatch(name)
        ]
        return sorted(stray)

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

    def _entry_files(self, sha: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """An entry's files list, checked for shape: paths become file names on disk."""
        files = entry.get("files")
        ok = isinstance(files, list) and all(
            isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and f["path"] == Path(f["path"]).name
            and not f["path"].startswith(".")
            and isinstance(f.get("sha256"), str)
            and isinstance(f.get("object"), str)
            and _FULL_SHA.fullmatch(f["object"])
            for f in files
        )
        if not ok:
            raise RegistryError(
                f"{self._where(_entry_name(sha))}: malformed files list (each item needs a plain "
                "file name path, sha256 and a 64-hex object); restore it from git"
            )
        recomputed = manifest_sha(
            [(f["path"], f["sha256"]) for f in files], entry.get("parent_sha")
        )
        if recomputed != sha:
            raise RegistryError(
                f"{self._where(_entry_name(sha))}: its files list and parent_sha hash to "
                f"{recomputed}, not to {sha}; the entry was edited, restore it from git"
            )
        return files

    def _object_digests(self, key: str, is_json: bool) -> tuple[str, str | None, Any] | None:
        """(raw sha256, identity digest, parsed JSON or None) of a stored object; None when
        it is missing."""
        from gramops.registry.objects import ObjectStoreError

        try:
            if not is_json:
                digest = self.objects.sha256(key)
                return digest, digest, None
            with self.objects.open(key) as fh:
                data = fh.read()
        except (ObjectStoreError, FileNotFoundError):
            return None
        return hashlib.sha256(data).hexdigest(), _identity_digest(data, key), _json_or_none(data)

    def _fact_errors(
        self, sha: str, entry: dict[str, Any], files: list[dict[str, Any]], docs: dict[str, Any]
    ) -> list[str]:
        """Entry fields its own verified identity files contradict: edits the SHA cannot see.

        ``docs`` maps an identity JSON file name to its parsed, verified content.
        """
        where = self._where(_entry_name(sha))
        found: list[tuple[str, Any, Any]] = []
        manifest = docs.get("train_manifest.json")
        if isinstance(manifest, dict):
            if manifest.get("family") is not None:
                found.append(("family", manifest["family"], entry.get("family")))
            corpus = (manifest.get("corpus") or {}).get("dvc_hash")
            found.append(("corpus_dvc_hash", corpus, entry.get("corpus_dvc_hash")))
        report = docs.get("eval_report.json")
        if isinstance(report, dict):
            found.append(("metrics", summary_metrics(report), entry.get("metrics")))
        found.append(("size_bytes", sum(f.get("size", 0) for f in files), entry.get("size_bytes")))
        return [
            f"{where}: {key} is {actual!r} but the registered files say {expected!r}; the entry "
            "was edited, restore it from git"
            for key, expected, actual in found
            if canonical_bytes(expected) != canonical_bytes(actual)
        ]

    def _restore_objects(self, bundle_dir: Path, sha: str, entry: dict[str, Any]) -> int:
        """Copy back objects a known entry lacks, only from bytes that hash to the record."""
        restored = 0
        for item in self._entry_files(sha, entry):
            if self.objects.exists(item["object"]):
                continue
            source = bundle_dir / item["path"]
            data = source.read_bytes()
            candidates = [data]
            if item["path"].endswith(".json"):
                # Same identity, other raw bytes (re-serialised JSON): the pipeline writes
                # pretty canonical JSON, so that form usually reproduces the recorded object.
                candidates.append(dumps_pretty(json.loads(data)).encode("utf-8"))
            for candidate in candidates:
                if hashlib.sha256(candidate).hexdigest() == item["object"]:
                    self.objects.put_bytes(candidate, item["object"])
                    restored += 1
                    break
            else:
                log.warning(
                    "%s: bytes do not hash to object %s recorded in entry %s; not restored",
                    source,
                    item["object"],
                    sha,
                )
        return restored

    def _check_parent(
        self, bundle_dir: Path, family: str, parent: str | None, registered: set[str]
    ) -> None:
        if family == "fp32" and parent is not None:
            raise RegistryError(
                f"{bundle_dir}: an fp32 bundle is a base model, but its train_manifest.json "
                f"names parent_sha {parent}"
            )
        if family != "fp32" and parent is None:
            raise RegistryError(
                f"{bundle_dir}: a {family} bundle derives from an fp32 model, but its "
                "train_manifest.json has no parent_sha"
            )
        if parent is not None and (parent not in registered or not self._has_entry(parent)):
            raise RegistryError(
                f"{bundle_dir}: parent {parent} is not registered in {self.url}; register "
                "the parent bundle first"
            )


def _weights_name(names: Sequence[str]) -> str:
    """The weights file among a bundle's identity files."""
    return next(name for name in names if name in WEIGHT_FILES)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a JSON object")
    return data


def _identity_digest(data: bytes, label: str) -> str | None:
    """The identity digest of JSON bytes (canonical form), None when they are not JSON."""
    try:
        return hashlib.sha256(canonical_bytes(json.loads(data))).hexdigest()
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.debug("%s: not JSON, no identity digest", label)
        return None


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _file_record(path: Path) -> dict[str, Any]:
    """One identity file as the entry records it: identity digest, object key and size."""
    identity = file_digest(path)
    raw = hashlib.sha256(path.read_bytes()).hexdigest() if path.suffix == ".json" else identity
    return {"path": path.name, "sha256": identity, "object": raw, "size": path.stat().st_size}


def _text_or_none(data: bytes | None) -> str | None:
    """A metadata document's bytes as journal text (they are always UTF-8 JSON)."""
    return None if data is None else data.decode("utf-8")


class _Pending(NamedTuple):
    """A journaled mutation without its log line: what recovery would undo."""

    previous: dict[str, str | None]
    index_size: int


def _journal_committed(journal: dict[str, Any], index: bytes) -> bool:
    """Whether the journaled mutation's log line is complete: recovery rolls it forward."""
    tail = index[journal["index_size"] :]
    return tail.endswith(b"\n") and tail.count(b"\n") == 1 and _is_record(tail, journal["op"])


def _is_record(line: bytes, op: str) -> bool:
    """Whether ``line`` is the complete log record of an ``op`` (the journal's commit point)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("op") == op


def _diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    keys = sorted(set(expected) | set(actual))
    parts = [
        f"{k}: log {expected.get(k)}, file {actual.get(k)}"
        for k in keys
        if expected.get(k) != actual.get(k)
    ]
    return "; ".join(parts)
