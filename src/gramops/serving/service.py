"""What `gramops serve` does for a request, apart from HTTP: route it, answer it, shadow
it, log it. The app (:mod:`gramops.serving.app`) only translates between this and HTTP.

:meth:`Service.open` loads and verifies every alias the server needs before the server
exists, so a missing or tampered model stops `gramops serve` with a message instead of
giving a server that cannot answer. Shadow answers run on one background thread with a
bounded backlog: a slow or failing shadow model never delays or fails the user's answer;
when the backlog is full the shadow is skipped, counted and logged as skipped.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from gramops.core.params import ServeParams
from gramops.core.vocab import short
from gramops.inference.requests import PredictRequest, PredictResponse, predict
from gramops.registry.store import Registry
from gramops.serving.holder import (
    AliasFollower,
    AliasHolder,
    LoadedModel,
    load_alias,
    load_model,
)
from gramops.serving.metrics import Metrics
from gramops.serving.requestlog import RequestLog
from gramops.serving.routing import Decision, Routing, decide

logger = logging.getLogger(__name__)

SHADOW_BACKLOG = 1024  # shadow requests queued at most; beyond, a shadow is skipped


@dataclass(frozen=True)
class Served:
    """One call's answer: who answered (the model object the call started with) and what."""

    request_id: str
    alias: str
    model: LoadedModel
    decision: Decision
    requests: Sequence[PredictRequest]
    answers: list[PredictResponse]


def model_header(alias: str, model: LoadedModel) -> dict[str, str]:
    return {
        "X-Gramops-Model-Sha": model.sha,
        "X-Gramops-Model-Semver": model.semver or "",
        "X-Gramops-Model-Alias": alias,
    }


def model_body(alias: str, model: LoadedModel) -> dict[str, Any]:
    return {"alias": alias, **model.identity()}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Service:
    """The holders of every alias served, their follower, the router, log and metrics."""

    def __init__(
        self,
        registry: Registry,
        params: ServeParams,
        holders: dict[str, AliasHolder],
        workdir: Path,
        log: RequestLog | None = None,
    ) -> None:
        self.registry = registry
        self.params = params
        self.holders = holders
        self.workdir = workdir
        self.log = log
        self.metrics = Metrics()
        self.routing = Routing(
            shadow_alias=params.shadow.alias,
            shadow_fraction=params.shadow.fraction,
            canary_alias=params.canary.alias,
            canary_fraction=params.canary.fraction,
        )
        self.follower = AliasFollower(
            registry,
            holders,
            partial(load_model, registry, workdir=workdir),
            poll_seconds=params.poll_seconds,
            retry_seconds=params.retry_seconds,
        )
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_pending = 0
        self._shadow_lock = threading.Lock()

    @classmethod
    def open(cls, registry: Registry, params: ServeParams) -> Service:
        """Load and verify every alias ``params`` names; :class:`ServeError` if one cannot be."""
        workdir = Path(tempfile.mkdtemp(prefix="gramops-serve-"))
        try:
            aliases = [params.alias, params.canary.alias, params.shadow.alias]
            holders = {
                alias: AliasHolder(alias, load_alias(registry, alias, workdir))
                for alias in dict.fromkeys(a for a in aliases if a)
            }
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        log = None
        if params.request_log.path:
            log = RequestLog(
                Path(params.request_log.path),
                params.request_log.max_bytes,
                params.request_log.backups,
            )
        return cls(registry, params, holders, workdir, log)

    @property
    def primary(self) -> AliasHolder:
        return self.holders[self.params.alias]

    def start(self) -> None:
        """Start following the aliases, the request log and the shadow worker."""
        if self.log is not None:
            self.log.start()
        if self.routing.shadow_alias:
            self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="shadow")
        self.follower.start()
        for alias, holder in self.holders.items():
            model = holder.model
            logger.info(
                "serving %s: %s %s (%s)",
                alias,
                model.family,
                model.semver or "(no semver)",
                short(model.sha),
            )

    def stop(self) -> None:
        """Stop following; finish queued shadow answers; write, flush and close the log."""
        self.follower.stop()
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
            self._shadow_pool = None
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def answer(self, requests: Sequence[PredictRequest], request_id: str | None) -> Served:
        """Route and answer ``requests`` (one call: one model answers them all)."""
        return self.answer_calls([(requests, request_id)])[0]

    def answer_calls(
        self, calls: Sequence[tuple[Sequence[PredictRequest], str | None]]
    ) -> list[Served | Exception]:
        """Route and answer several calls, those routed to one alias in one model call.

        A model call has a fixed cost (featurizing, the sparse product) much larger than
        one sentence's share, so the calls that arrive together are answered together;
        each call still reads its model once and is answered, logged and counted on its
        own. When a joint model call fails, each call is answered alone, so one bad call
        fails only itself (its exception is returned in its place).
        """
        routed = [self._route(requests, request_id) for requests, request_id in calls]
        results: list[Served | Exception | None] = [None] * len(calls)
        by_alias: dict[str, list[int]] = {}
        for k, (_, alias, _) in enumerate(routed):
            by_alias.setdefault(alias, []).append(k)
        for alias, members in by_alias.items():
            model = self.holders[alias].model  # read once: these calls finish on this model
            joint = [r for k in members for r in calls[k][0]]
            try:
                answers = predict(joint, model.predictor)
            except Exception:
                if len(members) == 1:
                    raise
                for k in members:
                    try:
                        results[k] = self._served(calls[k][0], routed[k], alias, model)
                    except Exception as exc:  # this call's own failure, reported to it alone
                        results[k] = exc
                continue
            offset = 0
            for k in members:
                n = len(calls[k][0])
                own = answers[offset : offset + n]
                offset += n
                results[k] = self._served(calls[k][0], routed[k], alias, model, own)
        return results  # type: ignore[return-value]  # every slot is filled above

    def _route(
        self, requests: Sequence[PredictRequest], request_id: str | None
    ) -> tuple[str, str, Decision]:
        # the routing key: the caller's X-Request-Id, else the first request's own id, else
        # a fresh id (such a call is routed at random: nothing identifies its caller)
        key = request_id or next((r.id for r in requests if r.id), None)
        request_id = request_id or uuid.uuid4().hex
        decision = decide(key or request_id, self.routing)
        alias = self.routing.canary_alias if decision.canary else self.params.alias
        assert alias is not None
        return request_id, alias, decision

    def _served(
        self,
        requests: Sequence[PredictRequest],
        routed: tuple[str, str, Decision],
        alias: str,
        model: LoadedModel,
        answers: list[PredictResponse] | None = None,
    ) -> Served:
        if answers is None:
            answers = predict(requests, model.predictor)
        self.metrics.count(
            "gramops_predictions_total",
            "sentences answered, by alias and model",
            len(answers),
            alias=alias,
            model_sha=model.sha,
            model_semver=model.semver or "",
        )
        return Served(routed[0], alias, model, routed[2], requests, answers)

    def record(self, served: Served, endpoint: str, status: int, seconds: float) -> None:
        """Log an answered call, with the shadow's answers when it is shadowed."""
        line = {
            "time": now_iso(),
            "request_id": served.request_id,
            "endpoint": endpoint,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
            "model": model_body(served.alias, served.model),
            "requests": [r.model_dump() for r in served.requests],
            "answers": [a.model_dump() for a in served.answers],
            "shadow": None,
        }
        if served.decision.shadow and self._submit_shadow(served, line):
            return
        self._write(line)

    def record_refusal(
        self,
        endpoint: str,
        status: int,
        error: str,
        request_id: str | None,
        seconds: float,
        body: str = "",
    ) -> None:
        """Log a refused call: its status, the message and the start of its body."""
        holder = self.primary
        self._write(
            {
                "time": now_iso(),
                "request_id": request_id,
                "endpoint": endpoint,
                "status": status,
                "latency_ms": round(seconds * 1000, 3),
                "model": model_body(holder.alias, holder.model),
                "error": error,
                "body": body[:2000],
            }
        )

    def _write(self, line: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(line)

    def _submit_shadow(self, served: Served, line: dict[str, Any]) -> bool:
        pool, alias = self._shadow_pool, self.routing.shadow_alias
        if pool is None or alias is None:
            return False
        with self._shadow_lock:
            if self._shadow_pending >= SHADOW_BACKLOG:
                self.metrics.count(
                    "gramops_shadow_total", "shadowed calls by result", result="skipped"
                )
                line["shadow"] = {"alias": alias, "skipped": "shadow backlog full"}
                return False
            self._shadow_pending += 1
        model = self.holders[alias].model
        try:
            pool.submit(self._shadow, served, model, alias, line)
        except RuntimeError:  # shutting down: the call was answered, log it unshadowed
            with self._shadow_lock:
                self._shadow_pending -= 1
            return False
        return True

    def _shadow(self, served: Served, model: LoadedModel, alias: str, line: dict[str, Any]) -> None:
        start = time.perf_counter()
        try:
            answers = predict(served.requests, model.predictor)
        except Exception as exc:  # the user already has their answer; record and move on
            logger.warning("shadow %s (%s) failed: %s", alias, short(model.sha), exc)
            self.metrics.count("gramops_shadow_total", "shadowed calls by result", result="failed")
            line["shadow"] = {**model_body(alias, model), "error": str(exc)}
        else:
            differ = sum(a.form != b.form for a, b in zip(served.answers, answers, strict=True))
            self.metrics.count("gramops_shadow_total", "shadowed calls by result", result="ok")
            self.metrics.count(
                "gramops_shadow_disagreements_total",
                "sentences the shadow corrected differently",
                differ,
            )
            line["shadow"] = {
                **model_body(alias, model),
                "answers": [a.model_dump() for a in answers],
                "disagreements": differ,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3),
            }
        finally:
            with self._shadow_lock:
                self._shadow_pending -= 1
        self._write(line)

    @property
    def shadow_pending(self) -> int:
        return self._shadow_pending

    def ready(self) -> dict[str, Any]:
        """``/readyz``'s body: every alias's model and reload state, the follower's state."""
        failing = [a for a, h in self.holders.items() if h.failure is not None]
        return {
            "status": "degraded" if failing or self.follower.poll_error else "ready",
            "alias": self.params.alias,
            "models": {alias: h.status() for alias, h in self.holders.items()},
            "reload_failing": failing,
            "follower": self.follower.status(),
            "routing": {
                "shadow": {
                    "alias": self.routing.shadow_alias,
                    "fraction": self.routing.shadow_fraction,
                },
                "canary": {
                    "alias": self.routing.canary_alias,
                    "fraction": self.routing.canary_fraction,
                },
            },
        }
