"""Serving: `gramops serve` against `mlflow models serve`, same model, same client, one run.

Both servers run on loopback from a temporary copy of the workspace registry (``--repo``,
default this repository): MLflow serves ``models:/gramops@production`` from a throwaway
SQLite store that the project's mirror (``mirror_registry``) fills from that copy, and
`gramops serve` serves and follows the copy's ``production`` alias. One asyncio client
(raw HTTP/1.1 over keep-alive connections, standard library only) posts the same bytes
to both servers' ``/invocations`` (MLflow's scoring protocol, which both speak):

- single sentences from ``--clients`` (8) concurrent connections: requests/s, p50, p99;
- batches of ``--batch`` (64) sentences: sentences/s; the two servers alternate in
  ``--rounds`` (3) runs totalling ``--seconds`` (30) each, so both see the same load;
- alias switch under load: ``--switches`` (20) promote/rollback moves of the copy's
  ``production`` alias (``Registry.promote(forced=True)``, the gate bypassed as tests do,
  then ``Registry.rollback``) spread over ``--switch-seconds`` (60) of single-sentence
  load: failed requests, the SHAs answered, and how long after each registry write the
  last request answered by the previous model was sent;
- ``--workers`` N runs both servers with N processes (``mlflow models serve --workers``,
  ``gramops serve --workers``);
- a soak of ``--soak-seconds`` (300) of single-sentence load: the server's RSS (its
  process and any workers, from /proc) at the start and the end.

Sentences come from the reference test split (``data/processed/test.jsonl``, verb slot
masked). The client shares the machine with the servers, as a loopback benchmark must.

    .venv/bin/python benchmarks/serve.py [--seconds 30] [--soak-seconds 300] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import Row, print_table

SINGLE_SPEEDUP = 5.0  # >= MLflow's single-sentence throughput times this
P99_MS = 25.0  # at --clients connections
BATCH_SPEEDUP = 2.0
SWITCH_SECONDS = 2.0  # a move is served within this after the registry write
RSS_GROWTH = 0.05  # the soak's RSS may grow at most this much
SHA_HEADER = b"x-gramops-model-sha"


@dataclass
class Load:
    """What the client saw during one run of load."""

    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    # (send time, sha answered), for the switch test
    answered: list[tuple[float, str]] = field(default_factory=list)

    def add(self, other: Load) -> None:
        self.seconds += other.seconds
        self.ok += other.ok
        self.failed += other.failed
        self.errors += other.errors
        self.latencies += other.latencies
        self.answered += other.answered

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sentences(repo: Path, count: int) -> list[dict[str, str]]:
    """Requests made from the test split: the verb replaced by the slot, valid by schema."""
    from gramops.core.fileio import read_jsonl
    from gramops.inference.requests import PredictRequest

    rows = []
    for record in read_jsonl(repo / "data/processed/test.jsonl"):
        tokens = list(record["tokens"])
        tokens[record["verb_index"]] = "___"
        row = {"sentence": " ".join(tokens), "lemma": record["lemma"]}
        try:
            PredictRequest.model_validate(row)
        except ValueError:
            continue
        rows.append(row)
        if len(rows) == count:
            break
    if not rows:
        sys.exit(f"no usable sentences in {repo / 'data/processed/test.jsonl'}: run `dvc repro`")
    return rows


def invocation(port: int, rows: list[dict[str, str]]) -> bytes:
    body = json.dumps({"dataframe_records": rows}).encode()
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port: int, bodies: list[bytes], deadline: float, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            writer.write(bodies[i % len(bodies)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length, sha = 0, ""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == SHA_HEADER:
                    sha = value.strip().decode()
            body = await reader.readexactly(length)
            done = time.perf_counter()
            if status == 200:
                load.ok += 1
                load.latencies.append(done - sent)
                load.answered.append((sent, sha))
            else:
                load.failed += 1
                load.errors.append(f"{status}: {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        load.failed += 1
        load.errors.append(repr(exc))
    finally:
        writer.close()


def run_load(port: int, rows: list[list[dict[str, str]]], clients: int, seconds: float) -> Load:
    """``clients`` keep-alive connections posting the bodies in turn for ``seconds``."""
    bodies = [invocation(port, r) for r in rows]
    load = Load()

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_connection(port, bodies[c:] + bodies[:c], deadline, load) for c in range(clients))
        )

    start = time.perf_counter()
    asyncio.run(main())
    load.seconds = time.perf_counter() - start
    return load


def wait_ready(port: int, server: subprocess.Popen, log: Path, limit: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit(f"server exited {server.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:]
            sys.exit(f"server on port {port} not ready in {limit:.0f} s:\n{tail}")
        time.sleep(0.3)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (uvicorn workers), from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def other_entry(registry, production: str) -> str:
    """The model the switch test moves ``production`` to: an INT8 entry with its bytes here."""
    entries = registry.entries()
    family = entries[production]["family"]
    candidates = [
        sha
        for sha, entry in entries.items()
        if sha != production and registry.objects_present(sha) and entry["family"] == family
    ] or [sha for sha in entries if sha != production and registry.objects_present(sha)]
    if not candidates:
        sys.exit("the registry holds no second model to switch to")
    return sorted(candidates)[0]


def switch_under_load(
    port: int, registry, rows, clients: int, seconds: float, moves: int, old: str, new: str
) -> tuple[Load, list[float]]:
    """Load for ``seconds`` while ``moves`` promote/rollback writes happen, evenly spaced;
    each move's delay: the last request answered by the previous model was sent this long
    after the write (0 when none was)."""
    writes: list[tuple[float, str, str]] = []  # (write done, previous sha, target sha)

    def mover() -> None:
        gap = seconds / (moves + 1)
        for k in range(moves):
            time.sleep(gap)
            if k % 2 == 0:
                registry.promote(new, alias="production", reason="benchmark", forced=True)
                writes.append((time.perf_counter(), old, new))
            else:
                registry.rollback("production", reason="benchmark")
                writes.append((time.perf_counter(), new, old))

    thread = threading.Thread(target=mover)
    thread.start()
    load = run_load(port, rows, clients, seconds)
    thread.join()
    delays = []
    for k, (written, previous, target) in enumerate(writes):
        until = writes[k + 1][0] if k + 1 < len(writes) else float("inf")
        window = [(t, sha) for t, sha in load.answered if written <= t < until]
        stale = [t for t, sha in window if sha == previous]
        seen = any(sha == target for _, sha in window)
        delays.append((max(stale) - written if stale else 0.0) if seen else float("inf"))
    return load, delays


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--seconds", type=float, default=30, help="load per server and request size"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the servers")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--switch-seconds", type=float, default=60)
    parser.add_argument("--soak-seconds", type=float, default=300)
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes, for both servers alike"
    )
    args = parser.parse_args()

    from gramops.registry.store import Registry
    from gramops.tracking.connect import connect
    from gramops.tracking.models import mirror_registry

    source = args.repo / "models/registry"
    if not (source / "aliases.json").is_file():
        sys.exit(f"no registry at {source}: run `dvc repro` and promote a model first")
    pool = sentences(args.repo, 2048)
    singles = [[r] for r in pool]
    batches = [pool[i : i + args.batch] for i in range(0, len(pool) - args.batch + 1, args.batch)]

    tmp = Path(tempfile.mkdtemp(prefix="gramops-bench-serve-"))
    servers: list[subprocess.Popen] = []
    try:
        shutil.copytree(source, tmp / "registry")
        registry = Registry(str(tmp / "registry"))
        production = registry.aliases()["production"]
        other = other_entry(registry, production)
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # MLflow's server runs `uvicorn` from PATH: this interpreter's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        began = time.perf_counter()
        mirror_registry(connect(uri), registry)
        print(f"mirrored {tmp / 'registry'} into {uri} in {time.perf_counter() - began:.1f} s")

        mlflow_port, gramops_port = free_port(), free_port()
        mlflow_server = start(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m",
             "models:/gramops@production", "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(mlflow_port),
             "--workers", str(args.workers)],
            tmp / "mlflow.log",
            env,
        )  # fmt: skip
        servers.append(mlflow_server)
        gramops_server = start(
            [sys.executable, "-m", "gramops.cli", "--registry", str(tmp / "registry"),
             "serve", "--params", str(args.repo / "params.yaml"), "--port", str(gramops_port),
             "--request-log", str(tmp / "requests.jsonl"), "--log-level", "warning",
             *(["--workers", str(args.workers)] if args.workers > 1 else [])],
            tmp / "gramops.log",
            env,
        )  # fmt: skip
        servers.append(gramops_server)
        wait_ready(mlflow_port, mlflow_server, tmp / "mlflow.log")
        wait_ready(gramops_port, gramops_server, tmp / "gramops.log")

        ports = {"mlflow": mlflow_port, "gramops": gramops_port}
        single = {name: Load() for name in ports}
        batch = {name: Load() for name in ports}
        for port in ports.values():
            run_load(port, singles, args.clients, 2)  # warm-up
        # the servers alternate in --rounds short runs, so both see the same machine load
        share = args.seconds / args.rounds
        for _ in range(args.rounds):
            for name, port in ports.items():
                single[name].add(run_load(port, singles, args.clients, share))
                batch[name].add(run_load(port, batches, args.clients, share))

        def rps(load: Load) -> float:
            return load.ok / load.seconds

        switch, delays = switch_under_load(
            gramops_port, registry, singles, args.clients, args.switch_seconds,
            args.switches, production, other,
        )  # fmt: skip
        rss_start = tree_rss(gramops_server.pid)
        soak = run_load(gramops_port, singles, args.clients, args.soak_seconds)
        rss_end = tree_rss(gramops_server.pid)
    finally:
        for server in servers:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    workers = f", {args.workers} workers" if args.workers > 1 else ""
    rows = []
    for name, load in single.items():
        rows.append(
            Row(
                f"{name}: single sentences, {args.clients} clients{workers}",
                f"{rps(load):,.0f} req/s, p50 {load.percentile(0.5):.1f} ms, "
                f"p99 {load.percentile(0.99):.1f} ms, {load.failed} failed",
            )
        )
    ratio = rps(single["gramops"]) / max(rps(single["mlflow"]), 1e-9)
    rows.append(Row("single sentences, gramops / mlflow", f"{ratio:.2f}x", ">= 5x", ratio >= 5))
    p99 = single["gramops"].percentile(0.99)
    rows.append(Row("gramops p99, single sentences", f"{p99:.1f} ms", "<= 25 ms", p99 <= P99_MS))
    for name, load in batch.items():
        rows.append(
            Row(
                f"{name}: batches of {args.batch}, {args.clients} clients{workers}",
                f"{rps(load) * args.batch:,.0f} sentences/s, p50 {load.percentile(0.5):.1f} ms, "
                f"{load.failed} failed",
            )
        )
    ratio = rps(batch["gramops"]) / max(rps(batch["mlflow"]), 1e-9)
    rows.append(Row("batches, gramops / mlflow", f"{ratio:.2f}x", ">= 2x", ratio >= BATCH_SPEEDUP))
    shas = {sha for _, sha in switch.answered}
    rows.append(
        Row(
            f"alias switch: {len(delays)} moves in {args.switch_seconds:.0f} s of load",
            f"{switch.ok:,} answered, {switch.failed} failed",
            "0 failed",
            switch.failed == 0 and len(delays) == args.switches,
        )
    )
    rows.append(
        Row(
            "SHAs answered during the switches",
            f"{len(shas)} ({', '.join(sorted(s[:12] for s in shas))})",
            "old or new only",
            shas <= {production, other},
        )
    )
    worst = max(delays, default=float("inf"))
    rows.append(
        Row(
            "switch visible after the registry write: median / worst",
            f"{statistics.median(delays) if delays else float('inf'):.2f} / {worst:.2f} s",
            "<= 2 s each",
            worst <= SWITCH_SECONDS,
        )
    )
    growth = rss_end / rss_start - 1
    rows.append(
        Row(
            f"soak {args.soak_seconds:.0f} s: {rps(soak):,.0f} req/s, {soak.failed} failed; RSS",
            f"{rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB ({growth:+.1%})",
            f"<= +{RSS_GROWTH:.0%}, 0 failed",
            growth <= RSS_GROWTH and soak.failed == 0,
        )
    )
    for name, load in [*single.items(), *batch.items(), ("switch", switch), ("soak", soak)]:
        if load.errors:
            print(f"{name}: first errors: {load.errors[:3]}", file=sys.stderr)
    ok = print_table("Serving", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
