"""The registry's catalog of bundles: register them, annotate entries, collect garbage.

An entry records what a bundle is; registering it binds no semver and moves no alias
(:mod:`gramops.registry.bindings` does). Each mutation validates everything under the lock
before its first write, then commits through the journal
(:meth:`gramops.registry.journal.Journaled._commit`): one audit record per operation.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.core.fileio import canonical_bytes, dumps_pretty
from gramops.core.hashing import sha256_bytes
from gramops.core.vocab import FAMILIES
from gramops.models.identity import identity_files
from gramops.registry.entries import (
    ENTRY_FIELDS,
    file_record,
    files_sha,
    read_json_object,
    safetensors_parameters,
    summary_metrics,
    weights_name,
)
from gramops.registry.layout import INDEX, RegistryError, entry_name, utc_now
from gramops.registry.reader import RegistryReader
from gramops.registry.verify import kept_entries

log = logging.getLogger(__name__)


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


class RegistryCatalog(RegistryReader):
    """The entry mutations of :class:`gramops.registry.store.Registry`: what a bundle is,
    and which bytes the store keeps."""

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
                        f"{self._where(entry_name(sha))} is gone; restore it from git"
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
                "parameters": safetensors_parameters(bundle_dir / weights_name(names)),
                "metrics": summary_metrics(read_json_object(bundle_dir / "eval_report.json")),
                "registered_at": utc_now(),
                "registered_by": self.actor,
            }
            self._commit(
                [(entry_name(sha), entry)],
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
        manifest = read_json_object(bundle_dir / "train_manifest.json")
        declared = manifest.get("family")
        if declared is not None and declared != family:
            raise RegistryError(
                f"{bundle_dir}: train_manifest.json says family {declared!r}, registered as "
                f"{family!r}; pass the family the bundle was built as"
            )
        files = [file_record(bundle_dir / name) for name in names]
        sha = files_sha(files, manifest.get("parent_sha"))
        return names, manifest, files, sha

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
                if sha256_bytes(candidate) == item["object"]:
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
                [(entry_name(sha), updated)],
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
        as not in this store, not as lost (see :func:`gramops.registry.verify.absent_entries`).
        Runs under the lock so that a concurrent register's fresh objects are never
        collected. Refuses to run when a kept entry is unreadable.
        """
        with self._locked():
            kept = kept_entries(self.tags(), self.aliases(), self._load_entry, strict=True)
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
