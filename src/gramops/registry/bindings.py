"""Naming models: bind semvers (tag, retag) and move aliases (set, promote, roll back).

A semver names one model forever unless it is retagged on purpose; an alias is a pointer
that moves, each move one audited record. A promotion is the move that releases a model:
it records the gate decision it relied on and binds the model's semver if it has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gramops.registry import auditlog, refs
from gramops.registry.layout import ALIASES, INDEX, TAGS_FILE, RegistryError
from gramops.registry.reader import RegistryReader


@dataclass(frozen=True)
class PromoteResult:
    """The outcome of :meth:`Registry.promote`: the alias's new and previous holder, the
    semver the model is released as, and whether anything was written."""

    sha: str
    previous: str | None
    semver: str
    changed: bool


class RegistryBindings(RegistryReader):
    """The semver and alias mutations of :class:`gramops.registry.store.Registry`."""

    def tag(self, ref: str, semver: str, *, reason: str | None = None) -> str:
        """Bind a new semver to a SHA; a semver names one model forever (see :meth:`retag`)."""
        version = refs.normalize_semver(semver)
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
        version = refs.normalize_semver(semver)
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
        refs.check_alias(alias)
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

    def move_alias(self, alias: str, ref: str) -> tuple[str, str]:
        """Move an existing alias (a typo must not silently create a new one)."""
        refs.check_alias(alias)
        with self._locked():
            if alias not in self.aliases():
                raise RegistryError(
                    f"alias {alias!r} does not exist, nothing to move; use set_alias to create it"
                )
            sha, previous = self.set_alias(alias, ref)
            assert previous is not None  # checked above, under the same lock
            return sha, previous

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
        refs.check_alias(alias)
        with self._locked():
            sha = self.resolve(ref)
            entry = self._load_entry(sha)
            aliases, tags = self.aliases(), self.tags()
            current = aliases.get(alias)
            own = refs.sorted_semvers(v for v, s in tags.items() if s == sha)
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

    def rollback(self, alias: str = "production", *, reason: str | None = None) -> tuple[str, str]:
        """Point ``alias`` back at its holder before the latest move, as the log records it.

        The alias's moves form a stack in ``index.jsonl``: a move pushes, a rollback pops, so
        repeated rollbacks walk further back. Returns ``(new_sha, previous_sha)``.
        """
        refs.check_alias(alias)
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
