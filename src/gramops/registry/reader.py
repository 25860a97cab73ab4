"""Reading the registry without its lock: bindings, entries, the audit log, ref resolution.

Every read goes through the committed view of :class:`gramops.registry.journal.Journaled`,
so a reader never sees a mutation that recovery would undo. Resolving a ref reads only the
two small binding files and, for a SHA prefix, the entry *file names*: it stays fast with
thousands of entries.
"""

from __future__ import annotations

import json
from typing import Any

from gramops.registry import auditlog, refs
from gramops.registry.entries import checked_files
from gramops.registry.journal import Journaled
from gramops.registry.layout import (
    ALIASES,
    FULL_SHA,
    INDEX,
    TAGS_FILE,
    RegistryError,
    entry_name,
)
from gramops.registry.objects import ObjectStore


class RegistryReader(Journaled):
    """The lock-free reads of :class:`gramops.registry.store.Registry`."""

    objects_url: str
    _store: ObjectStore | None

    @property
    def objects(self) -> ObjectStore:
        """The object store, opened on first use so that pure reads never import fsspec."""
        if self._store is None:
            self._store = ObjectStore(self.objects_url)
        return self._store

    def tags(self) -> dict[str, str]:
        """semver -> SHA, the one place semvers are recorded."""
        return self._read_map(TAGS_FILE)

    def aliases(self) -> dict[str, str]:
        return self._read_map(ALIASES)

    def semvers_of(self, sha: str) -> list[str]:
        return refs.sorted_semvers(v for v, s in self.tags().items() if s == sha)

    def aliases_of(self, sha: str) -> list[str]:
        return sorted(a for a, s in self.aliases().items() if s == sha)

    def shas(self) -> list[str]:
        """Every registered SHA, from the entry file names alone (no entry is read)."""
        names = self._committed_entry_names()
        return sorted(
            name[:-5] for name in names if name.endswith(".json") and FULL_SHA.fullmatch(name[:-5])
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
        """The full SHA a ref names: full SHA, unique SHA prefix (>= 8 hex), semver, alias,
        or family name (that family's newest registered entry).

        Reads the two small binding files and, for a prefix, the entry *file names*; a
        family name reads the audit log and entries newest first until one is the family's.
        """
        text = refs.ref_text(ref)
        if refs.is_hex(text):
            return self._resolve_hex(text)
        if refs.is_semver(text):
            return refs.semver_target(text, self.tags(), self.url)
        if refs.is_family(text):
            return refs.family_target(
                text,
                auditlog.registration_order(self.history()),
                lambda sha: self._load_entry(sha).get("family") if self._has_entry(sha) else None,
                self.aliases(),
                self.url,
            )
        return refs.alias_target(text, self.aliases(), self.url)

    def _resolve_hex(self, text: str) -> str:
        lowered = text.lower()
        if len(lowered) == 64:
            if self._has_entry(lowered):
                return lowered
            raise RegistryError(f"SHA {lowered} is not registered in {self.url}")
        refs.check_prefix(text)
        return refs.prefix_target(text, self.shas(), self.url)

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
                    "semvers": refs.sorted_semvers(v for v, s in tags.items() if s == sha),
                    "aliases": sorted(a for a, s in aliases.items() if s == sha),
                    "parent_sha": entry.get("parent_sha"),
                    "corpus_dvc_hash": entry.get("corpus_dvc_hash"),
                    "metrics": entry.get("metrics", {}),
                }
            )
            sha = entry.get("parent_sha")
        chain.append({"kind": "corpus", "dvc_hash": entry.get("corpus_dvc_hash")})
        return chain

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
        mine = [v for v, s in tags.items() if families[s] == family]
        return refs.next_semver(family, mine, tags, first)

    def state(self) -> dict[str, Any]:
        """What a decision about the registry judged: the audit log's length, last sequence
        number and chain head (equal heads mean an equal registry: every change appends a
        record), the aliases, production and the record of its last move. A decision about
        production is stale once production moved (:func:`gramops.release.policy.is_fresh`)."""
        lines = self._index_lines()
        records = auditlog.parse_lines(lines)
        aliases = self.aliases()
        moves = auditlog.alias_moves(records, "production")
        return {
            "records": len(records),
            "seq": auditlog.last_seq(records),
            "head": auditlog.head(lines),
            "aliases": dict(sorted(aliases.items())),
            "production": aliases.get("production"),
            # the last move of production: a decision judged before it is stale
            "production_seq": moves[-1].get("seq") if moves else 0,
        }

    def chain_errors(self) -> list[str]:
        """The audit log's hash chain, checked: where the history was rewritten, if it was."""
        broken = auditlog.chain_break(self._index_lines())
        if broken is None:
            return []
        return [
            f"{self._where(INDEX)}: the hash chain breaks: {broken}; the audit history was "
            "rewritten, compare it with git (`git log -p models/registry/index.jsonl`)"
        ]

    def _has_entry(self, sha: str) -> bool:
        return self._committed_exists(entry_name(sha))

    def _read_index(self) -> tuple[list[dict[str, Any]], bool]:
        raw = self._committed_index()
        if raw is None:
            return [], False
        return auditlog.parse_log(raw, self._where(INDEX))

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
        where = self._where(entry_name(sha))
        raw = self._committed_doc(entry_name(sha))
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

    def _entry_files(self, sha: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """An entry's files list, checked for shape: paths become file names on disk."""
        return checked_files(sha, entry, self._where(entry_name(sha)))
