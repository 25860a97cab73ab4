"""Following a registry alias: the model it names, loaded and verified, swapped atomically.

A server serves an alias, not a SHA: when ``gramops promote`` or ``gramops rollback`` moves
it, the server must follow, or "promoted v3 but the server still serves v2" is the normal
state. :class:`AliasFollower` reads the registry's aliases (one small document) every
``poll_seconds``; when an alias moved it loads the new model *beside* the old one, checks
its hashes, and only then replaces the holder's reference. Python rebinds an attribute
atomically, and every request reads the reference once and keeps the object it got, so a
request in flight finishes on the model it started with while the next one gets the new
model. A load that fails (missing or tampered bytes, an unreadable entry) leaves the old
model serving and is kept as the holder's :class:`ReloadFailure`, which ``/readyz`` and
``/metrics`` show, and is retried after ``retry_seconds``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.vocab import short
from gramops.inference.requests import Answering, PredictRequest, predict
from gramops.models.identity import canonical_sha
from gramops.monitoring.challenger import load_registered
from gramops.registry.store import Registry

logger = logging.getLogger(__name__)

WARM_UP = PredictRequest(sentence="She ___ to school every day.", lemma="walk")


class ServeError(GramopsError):
    """The server cannot serve what it was asked to (an alias, a model, a setting)."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model, ready to answer: what it is and the predictor that runs it."""

    sha: str
    semver: str | None
    family: str
    predictor: Answering
    loaded_at: float

    def identity(self) -> dict[str, Any]:
        return {"sha": self.sha, "semver": self.semver, "family": self.family}


@dataclass(frozen=True)
class ReloadFailure:
    """Why the alias's new target is not served: the holder still serves its old model."""

    target: str
    error: str
    at: float  # wall-clock time, for people
    attempts: int
    tried: float  # the follower's clock, for the retry wait

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_sha": self.target or None,
            "error": self.error,
            "at": self.at,
            "attempts": self.attempts,
        }


def load_model(registry: Registry, sha: str, workdir: Path) -> LoadedModel:
    """Materialize ``sha`` (objects re-hashed on the way), check the bundle's canonical SHA
    and load it; the files are removed once the weights are in memory.

    Raises :class:`ServeError` naming the model and what is wrong with it.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f"{short(sha)}-", dir=workdir))
    try:
        loaded, predictor = load_registered(registry, sha, tmp)
        actual = canonical_sha(tmp / short(loaded))
        if actual != sha:
            raise ServeError(
                f"the bundle materialized for {short(sha)} hashes to {short(actual)}; "
                "run `gramops registry verify`"
            )
        # one answer before any request: a model that loads but cannot answer is refused here
        predict([WARM_UP], predictor)
        entry = registry.entry(sha)
        semvers = registry.semvers_of(sha)
    except ServeError:
        raise
    except Exception as exc:  # any failure to load is the same refusal to serve
        raise ServeError(f"model {short(sha)} cannot be served: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return LoadedModel(
        sha=sha,
        semver=semvers[-1] if semvers else None,
        family=str(entry.get("family")),
        predictor=predictor,
        loaded_at=time.time(),
    )


def load_alias(registry: Registry, alias: str, workdir: Path) -> LoadedModel:
    """The model ``alias`` names now, verified; :class:`ServeError` if there is none to serve."""
    target = registry.aliases().get(alias)
    if target is None:
        known = ", ".join(sorted(registry.aliases())) or "none"
        raise ServeError(
            f"alias {alias!r} is not set in registry {registry.url} (aliases: {known}); "
            f"point it at a model (`gramops promote` for production and staging, "
            f"`gramops registry alias {alias} REF` for others) or serve another alias"
        )
    try:
        return load_model(registry, target, workdir)
    except ServeError as exc:
        raise ServeError(
            f"alias {alias!r} points at {short(target)}, which cannot be served: {exc}; "
            "`gramops registry verify` names missing or tampered objects, `gramops rollback` "
            "moves the alias back"
        ) from exc


class AliasHolder:
    """The model one alias is served by; read :attr:`model` once per request and keep it."""

    def __init__(self, alias: str, model: LoadedModel) -> None:
        self.alias = alias
        self.model = model
        self.reloads = 0
        self.failed_reloads = 0
        self.failure: ReloadFailure | None = None

    def swap(self, model: LoadedModel) -> LoadedModel:
        """Serve ``model`` from now on; returns the model it replaced."""
        old, self.model = self.model, model
        self.reloads += 1
        self.failure = None
        return old

    def status(self) -> dict[str, Any]:
        return {
            **self.model.identity(),
            "loaded_at": self.model.loaded_at,
            "reloads": self.reloads,
            "failed_reloads": self.failed_reloads,
            "reload_failure": self.failure.to_dict() if self.failure else None,
        }


Loader = Callable[[str], LoadedModel]


class AliasFollower:
    """Polls the registry's aliases and moves each holder to its alias's current target."""

    def __init__(
        self,
        registry: Registry,
        holders: Mapping[str, AliasHolder],
        loader: Loader,
        poll_seconds: float = 0.5,
        retry_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.holders = holders
        self.loader = loader
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.polls = 0
        self.poll_errors = 0
        self.poll_error: str | None = None
        self.last_poll_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """One poll: read the aliases, reload every holder whose alias moved."""
        try:
            aliases = self.registry.aliases()
        except Exception as exc:  # an unreachable registry must not stop serving
            self.poll_errors += 1
            if self.poll_error is None:
                logger.warning("cannot read the registry's aliases (%s); still serving", exc)
            self.poll_error = str(exc)
            return
        if self.poll_error is not None:
            logger.info("registry %s readable again", self.registry.url)
        self.polls += 1
        self.poll_error = None
        self.last_poll_at = time.time()
        for alias, holder in self.holders.items():
            target = aliases.get(alias)
            if target is None:
                self._failed(holder, "", f"alias {alias!r} is no longer set in the registry")
            elif target != holder.model.sha:
                self._follow(holder, target)
            elif holder.failure is not None:  # moved back to the model still served
                logger.info("%s points at the served %s again", alias, short(target))
                holder.failure = None

    def _follow(self, holder: AliasHolder, target: str) -> None:
        failure = holder.failure
        if (
            failure is not None
            and failure.target == target
            and self.clock() - failure.tried < self.retry_seconds
        ):
            return
        try:
            model = self.loader(target)
        except Exception as exc:  # keep serving the old model, whatever broke the new one
            self._failed(holder, target, str(exc))
            return
        old = holder.swap(model)
        logger.info(
            "%s moved: now serving %s %s (was %s %s)",
            holder.alias,
            short(model.sha),
            model.semver or "(no semver)",
            short(old.sha),
            old.semver or "(no semver)",
        )

    def _failed(self, holder: AliasHolder, target: str, error: str) -> None:
        previous = holder.failure
        if previous is not None and previous.target == target and not target:
            return  # an unset alias is reported once, not on every poll
        attempts = previous.attempts + 1 if previous and previous.target == target else 1
        holder.failure = ReloadFailure(target, error, time.time(), attempts, self.clock())
        holder.failed_reloads += 1
        logger.error(
            "%s: reload to %s failed (attempt %d), still serving %s: %s",
            holder.alias,
            short(target) if target else "(unset)",
            attempts,
            short(holder.model.sha),
            error,
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()

    def status(self) -> dict[str, Any]:
        return {
            "registry": self.registry.url,
            "poll_seconds": self.poll_seconds,
            "polls": self.polls,
            "last_poll_at": self.last_poll_at,
            "poll_errors": self.poll_errors,
            "poll_error": self.poll_error,
        }
