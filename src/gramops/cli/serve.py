"""`gramops serve`: the params' ``serve:`` section, overridden by flags, then uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from gramops.cli.common import EXIT_OK, registry_of
from gramops.core.params import ServeParams, read_params_file, validate_section

# flag destination -> the dotted key of the serve section it overrides
OVERRIDES = {
    "alias": "alias",
    "host": "host",
    "port": "port",
    "poll_seconds": "poll_seconds",
    "retry_seconds": "retry_seconds",
    "max_body_bytes": "max_body_bytes",
    "max_batch": "max_batch",
    "shadow_alias": "shadow.alias",
    "shadow_fraction": "shadow.fraction",
    "canary_alias": "canary.alias",
    "canary_fraction": "canary.fraction",
    "request_log": "request_log.path",
}
OFF = "none"  # `--shadow-alias none` turns a configured shadow off


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the serve: section is read here (default: %(default)s)",
    )
    p.add_argument("--alias", help="registry alias to serve and follow (serve.alias)")
    p.add_argument("--host", help="interface to listen on (serve.host)")
    p.add_argument("--port", type=int, help="port to listen on (serve.port)")
    p.add_argument("--poll-seconds", type=float, help="alias poll interval (serve.poll_seconds)")
    p.add_argument(
        "--retry-seconds",
        type=float,
        help="wait before retrying a failed reload (serve.retry_seconds)",
    )
    p.add_argument("--max-body-bytes", type=int, help="413 above this (serve.max_body_bytes)")
    p.add_argument("--max-batch", type=int, help="413 above this many requests (serve.max_batch)")
    p.add_argument("--shadow-alias", help=f"shadow alias, {OFF!r} = off (serve.shadow.alias)")
    p.add_argument("--shadow-fraction", type=float, help="share shadowed (serve.shadow.fraction)")
    p.add_argument("--canary-alias", help=f"canary alias, {OFF!r} = off (serve.canary.alias)")
    p.add_argument(
        "--canary-fraction", type=float, help="share answered by the canary (serve.canary.fraction)"
    )
    p.add_argument("--request-log", help=f"JSON lines file, {OFF!r} = off (serve.request_log.path)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the one port, each loading and following the alias itself "
        "(default: %(default)s)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def serve_params(args: argparse.Namespace) -> ServeParams:
    """The ``serve:`` section of ``--params`` with the flags given applied, validated."""
    if args.params.exists():
        data = read_params_file(args.params)
    else:
        logging.getLogger(__name__).warning(
            "%s not found: serving with the serve: defaults and the flags given", args.params
        )
        data = {}
    section: dict[str, Any] = dict(data.get("serve") or {})
    for dest, dotted in OVERRIDES.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if isinstance(value, str) and value.lower() == OFF and dest != "alias":
            value = None
        *parents, leaf = dotted.split(".")
        target = section
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        target[leaf] = value
    return validate_section({"serve": section}, "serve")


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket the workers share, made as a TCP socket.

    uvicorn's own multi-worker socket is created without ``IPPROTO_TCP``, so asyncio never
    sets ``TCP_NODELAY`` on its connections and a response sent in two writes waits for
    the client's delayed ACK: 40 ms per request on Linux (measured: 182 requests/s).
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gramops.serving.app import WORKER_CONFIG, create_app, worker_config
    from gramops.serving.service import Service

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    params = serve_params(args)
    service = Service.open(registry_of(args), params)  # refuses a missing/tampered model
    model = service.primary.model
    sys.stderr.write(
        f"gramops serve: {params.alias} = {model.family} {model.semver or '(no semver)'} "
        f"{model.sha} from {service.registry.url}, on http://{params.host}:{params.port}"
        + (f", {args.workers} workers\n" if args.workers > 1 else "\n")
    )
    options: dict[str, Any] = {
        "host": params.host,
        "port": params.port,
        "log_level": args.log_level,
        "access_log": False,  # every request is in the request log already
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
    }
    if args.workers > 1:
        # the model was verified above; each worker loads and follows it on its own
        service.stop()
        os.environ[WORKER_CONFIG] = worker_config(str(args.registry), params)
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "gramops.serving.app:worker_app", factory=True, workers=args.workers, **options
        )
        Multiprocess(config, sockets=[listening_socket(params.host, params.port)]).run()
        return EXIT_OK
    uvicorn.run(create_app(service), **options)
    return EXIT_OK
