"""Serving test helpers: an in-process ASGI caller, tampering, reading the request log.

The caller speaks ASGI directly, one event loop per call, so calls can run in threads at
once (an in-flight call and a swap); the app's lifespan is not run: tests start and stop
the service themselves.
"""

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.registry.store import Registry


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call_app(
    app: Any,
    method: str,
    path: str,
    body: bytes | str | Any = b"",
    headers: dict[str, str] | None = None,
    chunks: int = 1,
) -> Reply:
    """One HTTP exchange with ``app``; ``body`` (not bytes/str) is sent as JSON, in ``chunks``."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    size = max(1, -(-len(raw) // chunks))
    parts = [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]
    messages: list[dict] = []

    async def run() -> None:
        pending = list(parts)

        async def receive() -> dict:
            if pending:
                part = pending.pop(0)
                return {"type": "http.request", "body": part, "more_body": bool(pending)}
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)

    asyncio.run(run())
    start = next(m for m in messages if m["type"] == "http.response.start")
    return Reply(
        start["status"],
        {k.decode().lower(): v.decode() for k, v in start["headers"]},
        b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"),
    )


def tamper(reg: Registry, ref: str) -> None:
    """Flip one byte of ``ref``'s stored weights."""
    weights = next(f for f in reg.entry(ref)["files"] if f["path"].endswith(".safetensors"))
    stored = Path(reg.objects.path_of(weights["object"]))
    raw = bytearray(stored.read_bytes())
    raw[-1] ^= 0x01
    stored.write_bytes(bytes(raw))


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(server: subprocess.Popen, port: int, path: str, seconds: float) -> None:
    """Return once ``GET path`` answers on ``port``; fail naming the exit (stderr) or the wait."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gramops serve exited: {server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError(f"gramops serve did not answer {path} within {seconds:g} s")
