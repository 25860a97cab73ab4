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
  a conditional write, with owner, holder and expiry, see :mod:`gramops.registry.s3`).
- ``.journal.json``: present only while a mutation is in flight: the log's size and the
  previous bytes of every document it writes. Whoever takes the lock next (any mutation,
  or ``verify``) rolls a dead holder's mutation forward when its log line is complete, and
  back otherwise, with a warning; so even ``kill -9`` never leaves one half-applied
  (:mod:`gramops.registry.journal`).

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

import os
import threading
from pathlib import Path

from gramops.core.workspace import in_workspace
from gramops.registry.backends import LocalMetadataFiles
from gramops.registry.bindings import PromoteResult, RegistryBindings
from gramops.registry.catalog import RegisterResult, RegistryCatalog
from gramops.registry.layout import (
    ALIASES,
    ENTRIES,
    INDEX,
    JOURNAL,
    OBJECTS_ENV,
    TAGS_FILE,
    RegistryError,
    default_actor,
    entry_name,
    open_metadata,
    registry_location,
)
from gramops.registry.objects import ObjectStore, ObjectStoreError
from gramops.registry.verify import RegistryVerifier, VerifyReport

# the names callers import with the facade
__all__ = [
    "PromoteResult",
    "RegisterResult",
    "Registry",
    "RegistryError",
    "VerifyReport",
    "registry_location",
]


class Registry(RegistryCatalog, RegistryBindings, RegistryVerifier):
    """The registry under ``root``: read bindings cheaply, mutate under a cross-process lock.

    Reads take no lock: every file is replaced atomically, so a reader sees either the old
    or the new version. Mutations hold ``root/.lock`` (``fcntl.flock``) for their whole
    read-modify-write, so concurrent processes never lose each other's updates.

    Its methods live by concern: reads and ref resolution in
    :class:`~gramops.registry.reader.RegistryReader`, register/annotate/gc in
    :class:`~gramops.registry.catalog.RegistryCatalog`, semvers and aliases in
    :class:`~gramops.registry.bindings.RegistryBindings`, verify and verified loads in
    :class:`~gramops.registry.verify.RegistryVerifier`, the lock and the journal in
    :class:`~gramops.registry.journal.Journaled`. This class holds the state and the paths.
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
    def journal_path(self) -> Path:
        return self.root / JOURNAL

    def entry_path(self, sha: str) -> Path:
        return self.root / entry_name(sha)
