"""The HTTP face of :class:`gramops.serving.service.Service`: a Starlette app for uvicorn.

- ``POST /v1/predict``: the schemas of `gramops predict` (one request object, a JSON array
  or JSON lines); an object is answered with ``prediction``, an array with ``predictions``.
- ``POST /invocations``: MLflow's scoring protocol (:mod:`gramops.serving.invocations`).
- ``GET /healthz`` (the process is alive), ``GET /readyz`` (which model every alias is
  served by and whether a reload failed), ``GET /metrics`` (Prometheus text);
  ``GET /ping`` and ``/health`` answer as MLflow's server does.

Every response names the model in headers (``X-Gramops-Model-Sha``, ``-Semver``,
``-Alias``) and, for answers, in the body. Bad input is a 400 naming the field; a body
over ``serve.max_body_bytes`` or a batch over ``serve.max_batch`` a 413; neither is logged
as a server error. Prediction runs on the event loop: a call is a millisecond of numpy,
cheaper than a hop to a thread; calls that arrive together are answered in one model call
(:mod:`gramops.serving.coalesce`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gramops.core.params import ServeParams
from gramops.inference.requests import PredictRequest, RequestError, read_requests
from gramops.registry.store import Registry
from gramops.serving.coalesce import Coalescer
from gramops.serving.invocations import parse_invocation, predictions
from gramops.serving.metrics import Gauge
from gramops.serving.service import Served, Service, model_body, model_header

logger = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WORKER_CONFIG = "GRAMOPS_SERVE_WORKER"
"""Environment variable carrying the registry and serve params to `--workers` processes."""


class TooLarge(Exception):
    """The body or the batch is over the configured limit (413)."""


async def read_body(request: Request, limit: int) -> str:
    """The body as text, refused past ``limit`` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(
            f"request body is {declared} bytes, over the limit of {limit} "
            "(serve.max_body_bytes); send smaller batches"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(
                f"request body is over the limit of {limit} bytes (serve.max_body_bytes); "
                "send smaller batches"
            )
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request body is not UTF-8 text (byte {exc.start})") from None


def _predict_body(text: str) -> tuple[list[PredictRequest], bool]:
    """`gramops predict`'s requests, and whether the body was one object (not a batch)."""
    requests = read_requests(text)
    return requests, len(requests) == 1 and text.lstrip().startswith("{")


def create_app(service: Service) -> Starlette:
    """The ASGI app; its lifespan starts and stops ``service`` (follower, log, shadow)."""
    params, metrics = service.params, service.metrics
    coalescer = Coalescer(service)

    def headers(alias: str | None = None, model: Any = None, request_id: str | None = None):
        holder = service.primary
        found = model_header(alias or holder.alias, model or holder.model)
        if request_id:
            found["X-Request-Id"] = request_id
        return found

    def finish(endpoint: str, status: int, start: float) -> float:
        seconds = time.perf_counter() - start
        metrics.observe(endpoint, seconds)
        metrics.count(
            "gramops_requests_total",
            "HTTP requests by endpoint and status",
            endpoint=endpoint,
            code=str(status),
        )
        if status >= 400:
            metrics.count(
                "gramops_request_errors_total",
                "refused or failed requests",
                endpoint=endpoint,
                code=str(status),
            )
        return seconds

    async def answer(
        request: Request,
        endpoint: str,
        parse: Callable[[str, str], tuple[Sequence[PredictRequest], Any]],
        render: Callable[[Served, Any], dict[str, Any]],
        refusal: Callable[[str, int], dict[str, Any]],
    ) -> Response:
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or None
        text = ""
        try:
            text = await read_body(request, params.max_body_bytes)
            requests, shape = parse(text, request.headers.get("content-type", ""))
            if len(requests) > params.max_batch:
                raise TooLarge(
                    f"{len(requests)} requests in one call, over the limit of "
                    f"{params.max_batch} (serve.max_batch); split the batch"
                )
        except (RequestError, TooLarge) as exc:
            status = 413 if isinstance(exc, TooLarge) else 400
            seconds = finish(endpoint, status, start)
            service.record_refusal(endpoint, status, str(exc), request_id, seconds, text)
            return JSONResponse(refusal(str(exc), status), status, headers(request_id=request_id))
        try:
            served = await coalescer.answer(requests, request_id)
        except Exception as exc:  # a model that cannot answer valid input is our fault: 500
            logger.exception("%s: answering failed", endpoint)
            seconds = finish(endpoint, 500, start)
            message = f"the model failed to answer: {exc}"
            service.record_refusal(endpoint, 500, message, request_id, seconds, text)
            return JSONResponse(refusal(message, 500), 500, headers(request_id=request_id))
        seconds = finish(endpoint, 200, start)
        service.record(served, endpoint, 200, seconds)
        return JSONResponse(
            render(served, shape), 200, headers(served.alias, served.model, served.request_id)
        )

    def identity() -> dict[str, Any]:
        holder = service.primary
        return model_body(holder.alias, holder.model)

    async def v1_predict(request: Request) -> Response:
        def render(served: Served, single: bool) -> dict[str, Any]:
            body: dict[str, Any] = {
                "model": model_body(served.alias, served.model),
                "request_id": served.request_id,
            }
            answers = [a.model_dump() for a in served.answers]
            if single:
                body["prediction"] = answers[0]
            else:
                body["predictions"] = answers
            return body

        return await answer(
            request,
            "/v1/predict",
            lambda text, _type: _predict_body(text),
            render,
            lambda message, _status: {"error": message, "model": identity()},
        )

    async def invocations(request: Request) -> Response:
        def refusal(message: str, status: int) -> dict[str, Any]:
            code = {400: "BAD_REQUEST", 413: "RESOURCE_LIMIT_EXCEEDED"}.get(
                status, "INTERNAL_ERROR"
            )
            return {"error_code": code, "message": message, "model": identity()}

        return await answer(
            request,
            "/invocations",
            lambda text, content_type: (parse_invocation(text, content_type), None),
            lambda served, _shape: {
                "predictions": predictions(served.answers),
                "model": model_body(served.alias, served.model),
            },
            refusal,
        )

    async def healthz(request: Request) -> Response:
        start = time.perf_counter()
        response = JSONResponse({"status": "ok", "model": identity()}, headers=headers())
        finish(request.url.path, 200, start)
        return response

    async def readyz(request: Request) -> Response:
        start = time.perf_counter()
        response = JSONResponse(service.ready(), headers=headers())
        finish("/readyz", 200, start)
        return response

    async def metrics_endpoint(request: Request) -> Response:
        start = time.perf_counter()
        finish("/metrics", 200, start)
        text = metrics.render(scrape_gauges(service))
        return PlainTextResponse(text, media_type=PROMETHEUS_TYPE, headers=headers())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()  # after uvicorn drained in-flight requests: nothing is lost

    return Starlette(
        routes=[
            Route("/v1/predict", v1_predict, methods=["POST"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/ping", healthz, methods=["GET"]),
            Route("/health", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def scrape_gauges(service: Service) -> list[Gauge]:
    """The samples read from the service's state at scrape time."""
    samples: list[Gauge] = []
    for alias, holder in service.holders.items():
        model, failure = holder.model, holder.failure
        samples += [
            (
                "gramops_model_info",
                "gauge",
                "the model each alias is served by (value 1)",
                {
                    "alias": alias,
                    "model_sha": model.sha,
                    "model_semver": model.semver or "",
                    "family": model.family,
                },
                1,
            ),
            (
                "gramops_model_loaded_timestamp_seconds",
                "gauge",
                "when the served model was loaded",
                {"alias": alias},
                model.loaded_at,
            ),
            (
                "gramops_model_reloads_total",
                "counter",
                "reloads by result (a new model served, or a failure that kept the old one)",
                {"alias": alias, "result": "ok"},
                holder.reloads,
            ),
            (
                "gramops_model_reloads_total",
                "counter",
                "",
                {"alias": alias, "result": "failed"},
                holder.failed_reloads,
            ),
            (
                "gramops_model_reload_failing",
                "gauge",
                "1 while the alias's registry target "
                "cannot be served and the old model still serves",
                {"alias": alias, "target_sha": failure.target if failure else ""},
                1 if failure else 0,
            ),
        ]
    follower = service.follower
    samples.append(
        (
            "gramops_registry_poll_errors_total",
            "counter",
            "failed reads of the registry's aliases",
            {},
            follower.poll_errors,
        )
    )
    samples.append(
        ("gramops_shadow_pending", "gauge", "shadow calls queued", {}, service.shadow_pending)
    )
    if service.log is not None:
        samples += [
            (
                "gramops_request_log_pending",
                "gauge",
                "request log lines not yet written",
                {},
                service.log.pending,
            ),
            (
                "gramops_request_log_lines_total",
                "counter",
                "request log lines written",
                {},
                service.log.lines,
            ),
        ]
    return samples


def worker_config(registry: str, params: ServeParams) -> str:
    """What :func:`worker_app` reads from :data:`WORKER_CONFIG`, as JSON."""
    return json.dumps({"registry": registry, "params": params.model_dump(mode="json")})


def worker_app() -> Starlette:
    """The app of one `gramops serve --workers N` process (uvicorn's factory).

    Each worker opens its own service: it loads and verifies the model and follows the
    aliases itself, so every worker switches within the poll interval after a promotion,
    as N replicas would. Each writes its own request log, ``<name>.<pid><suffix>`` beside
    the configured path, so no two processes rotate one file; ``/metrics`` is the
    answering worker's.
    """
    config = json.loads(os.environ[WORKER_CONFIG])
    params = ServeParams.model_validate(config["params"])
    if params.request_log.path:
        path = Path(params.request_log.path)
        own = path.with_name(f"{path.stem}.{os.getpid()}{path.suffix}")
        params = params.model_copy(
            update={"request_log": params.request_log.model_copy(update={"path": str(own)})}
        )
    return create_app(Service.open(Registry(config["registry"]), params))
