"""Where a registry lives and what its documents are called: names, environment, backend.

Every module of the registry names its documents through these constants, so the on-disk
format (which git tracks) is spelled out once. The environment decides the location, so one
codebase serves a laptop and a team (see :mod:`gramops.registry.store`).
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

from gramops.core.errors import GramopsError
from gramops.registry.backends import LocalMetadataFiles, MetadataFiles
from gramops.registry.objects import ObjectStoreError
from gramops.registry.s3 import S3MetadataFiles


class RegistryError(GramopsError):
    """A registry operation was refused; the message says why."""


DEFAULT_ROOT = Path("models/registry")
REGISTRY_ENV = "GRAMOPS_REGISTRY"
OBJECTS_ENV = "GRAMOPS_REGISTRY_OBJECTS"
ACTOR_ENV = "GRAMOPS_ACTOR"
INDEX = "index.jsonl"
TAGS_FILE = "tags.json"
ALIASES = "aliases.json"
ENTRIES = "entries"
JOURNAL = ".journal.json"

FULL_SHA = re.compile(r"[0-9a-f]{64}")
# what an atomic write of an entry leaves when it is killed before its rename
ENTRY_TMP = re.compile(r"[0-9a-f]{64}\.json\.tmp")


def entry_name(sha: str) -> str:
    """The document name of an entry, relative to the registry root."""
    return f"{ENTRIES}/{sha}.json"


def registry_location() -> str:
    """The registry root when none is given: ``GRAMOPS_REGISTRY`` or ``models/registry``."""
    return os.environ.get(REGISTRY_ENV, "").strip() or str(DEFAULT_ROOT)


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
    """The timestamp format of the audit log and of entries (seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
