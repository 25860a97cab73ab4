"""Start the team-scale services on loopback: PostgreSQL, an S3 server and MLflow on them.

What a team runs as shared infrastructure, started here on free loopback ports with data in
a temporary directory, for a demo on one machine and for ``tests/scale``:

- PostgreSQL from the Debian packages' binaries (``/usr/lib/postgresql/*/bin``), as the
  ``postgres`` user when run as root (the server refuses to run as root);
- an S3-compatible server (moto's, from the pinned Python packages) with one bucket;
- ``mlflow server`` with its backend store on PostgreSQL and its artifacts on S3.

``python scripts/team_stack.py`` prints the environment the pipeline needs (``export``
lines), keeps the services up until Ctrl-C or SIGTERM and then stops them and deletes their
data. Install the system packages first: ``scripts/install_system_deps.sh``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("team_stack")

BUCKET = "gramops"
DATABASE = "mlflow"
DB_USER = "gramops"
# moto accepts any credentials; these name themselves as fake.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "gramops-test",
    "AWS_SECRET_ACCESS_KEY": "gramops-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
STARTUP_TIMEOUT = 120.0


class StackError(RuntimeError):
    """A service did not start; the message names it and where its log is."""


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian layout)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise StackError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; run "
            "scripts/install_system_deps.sh (installs the Debian package postgresql)"
        )
    return found[-1].parent


def _wait(
    check: Callable[[], bool], what: str, log_path: Path, proc: subprocess.Popen | None
) -> None:
    """Poll ``check`` until it returns True; fail naming ``what`` and its log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.3)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    raise StackError(f"{what} did not start; its log {log_path}:\n{tail}")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on a loopback port, trusted for local connections."""

    data_dir: Path
    port: int
    bin_dir: Path
    as_user: str | None

    @property
    def uri(self) -> str:
        # psycopg2 (pinned); SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.as_user, "--", *cmd] if self.as_user else cmd

    def _run(self, what: str, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if result.returncode != 0:
            server_log = self.data_dir / "server.log"
            tail = server_log.read_text(errors="replace")[-3000:] if server_log.exists() else ""
            raise StackError(f"PostgreSQL: {what} failed:\n{result.stderr.strip()}\n{tail}")

    @classmethod
    def start(cls, port: int | None = None) -> Postgres:
        """initdb, start and create the ``mlflow`` database; nothing is left on failure."""
        bin_dir = postgres_bin()
        as_user = "postgres" if os.geteuid() == 0 else None
        # Not under the caller's temp dir: pytest's is 0700 root, which `postgres` cannot enter.
        data_dir = Path(tempfile.mkdtemp(prefix="gramops-pg-"))
        if as_user:
            entry = pwd.getpwnam(as_user)
            os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        pg = cls(data_dir=data_dir, port=port or free_port(), bin_dir=bin_dir, as_user=as_user)
        cluster = str(data_dir / "cluster")
        # a throwaway server: no fsync, trust for loopback only, socket in its own dir
        options = f"-c listen_addresses=127.0.0.1 -p {pg.port} -k {data_dir} -c fsync=off"
        try:
            # UTF-8 whatever the machine's locale (C works with every encoding)
            pg._run(
                "initdb",
                *("initdb", "-D", cluster, "-U", DB_USER, "--auth=trust", "--no-sync"),
                *("-E", "UTF8", "--locale=C"),
            )
            pg._run(
                "start",
                *("pg_ctl", "-D", cluster, "-l", str(data_dir / "server.log"), "-o", options),
                *("-w", "-t", "60", "start"),
            )
            pg._run(
                "createdb",
                *("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", DB_USER, DATABASE),
            )
        except BaseException:
            pg.stop()
            raise
        log.info("PostgreSQL %s on 127.0.0.1:%d", bin_dir.parent.name, pg.port)
        return pg

    def stop(self) -> None:
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data_dir / "cluster"), "-m", "fast", "-w", "stop"),
            capture_output=True,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class Process:
    """A service run as a child process, its output in a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # stop() ends the server and any workers it forks
            )
        _wait(lambda: _http_ok(self.health_url), self.name, self.log_path, self.proc)
        log.info("%s up (%s)", self.name, self.health_url)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class TeamStack:
    """The running services and the URIs a clone of the repository is configured with."""

    workdir: Path
    postgres: Postgres
    s3: Process
    mlflow: Process
    s3_endpoint: str
    mlflow_uri: str

    @property
    def registry_url(self) -> str:
        return f"s3://{BUCKET}/registry"

    @property
    def objects_url(self) -> str:
        return f"s3://{BUCKET}/registry-objects"

    @property
    def dvc_remote_url(self) -> str:
        return f"s3://{BUCKET}/dvc"

    @property
    def artifacts_url(self) -> str:
        return f"s3://{BUCKET}/mlflow"

    def s3_env(self) -> dict[str, str]:
        """What any S3 client here needs: the endpoint (botocore and MLflow read these)."""
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint,
        }

    def client_env(self) -> dict[str, str]:
        """The environment a clone runs the pipeline and ``gramops`` with."""
        return {
            **self.s3_env(),
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "GRAMOPS_REGISTRY": self.registry_url,
            "GRAMOPS_REGISTRY_OBJECTS": self.objects_url,
        }

    def configure_dvc_remote(self, repo: Path, dvc: str = "dvc") -> None:
        """Make the S3 bucket ``repo``'s default DVC remote, in the untracked config.local."""
        for args in (
            ["remote", "add", "--local", "--force", "--default", "team", self.dvc_remote_url],
            ["remote", "modify", "--local", "team", "endpointurl", self.s3_endpoint],
        ):
            subprocess.run([dvc, *args], cwd=repo, check=True, capture_output=True, text=True)

    def stop(self) -> None:
        for service in (self.mlflow, self.s3):
            service.stop()
        self.postgres.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the stack's server."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def start(workdir: Path, python: str = sys.executable) -> TeamStack:
    """Start PostgreSQL, the S3 server and MLflow; on any failure stop what already runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(python).parent
    base_env = {
        **os.environ,
        **CREDENTIALS,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    started: list = []
    try:
        postgres = Postgres.start()
        started.append(postgres)
        s3_port = free_port()
        endpoint = f"http://127.0.0.1:{s3_port}"
        s3 = Process(
            name="S3 server (moto)",
            args=[python, str(Path(__file__).resolve()), "--serve-s3", str(s3_port)],
            env=base_env,
            log_path=workdir / "s3.log",
            health_url=f"{endpoint}/moto-api/",
        )
        s3.start()
        started.append(s3)
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        mlflow_port = free_port()
        mlflow_uri = f"http://127.0.0.1:{mlflow_port}"
        mlflow = Process(
            name="MLflow tracking server",
            args=[
                str(bin_dir / "mlflow"), "server",
                "--backend-store-uri", postgres.uri,
                "--artifacts-destination", f"s3://{BUCKET}/mlflow",
                "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
            ],
            env={**base_env, "MLFLOW_S3_ENDPOINT_URL": endpoint},
            log_path=workdir / "mlflow.log",
            health_url=f"{mlflow_uri}/health",
        )  # fmt: skip
        mlflow.start()
        started.append(mlflow)
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return TeamStack(
        workdir=workdir,
        postgres=postgres,
        s3=s3,
        mlflow=mlflow,
        s3_endpoint=endpoint,
        mlflow_uri=mlflow_uri,
    )


@contextlib.contextmanager
def running(workdir: Path, python: str = sys.executable) -> Iterator[TeamStack]:
    """The stack for the duration of a ``with`` block, stopped and deleted afterwards."""
    stack = start(workdir, python)
    try:
        yield stack
    finally:
        stack.stop()


def start_serial_s3(port: int) -> Any:
    """Start moto's S3 server on 127.0.0.1:``port`` with requests served one at a time.

    moto checks a conditional PUT (``If-None-Match: *``, which the registry's lock relies
    on) and then writes, in two steps: two requests on two of its threads can both win.
    AWS S3 and MinIO evaluate the condition atomically; serving one request at a time gives
    moto the same guarantee, so the tests exercise the registry's lock, not moto's race.
    Returns the started ``ThreadedMotoServer``; ``stop()`` it when done.
    """
    import threading

    from moto.moto_server import threaded_moto_server
    from moto.server import ThreadedMotoServer

    serial = threading.Lock()
    original = threaded_moto_server.DomainDispatcherApplication

    class SerialApp(original):  # type: ignore[misc, valid-type]
        def __call__(self, environ: Any, start_response: Any) -> Any:
            with serial:
                return list(super().__call__(environ, start_response))

    threaded_moto_server.DomainDispatcherApplication = SerialApp
    try:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
    finally:
        threaded_moto_server.DomainDispatcherApplication = original
    return server


def serve_s3(port: int) -> None:
    """The serial S3 server (:func:`start_serial_s3`) until SIGTERM or SIGINT."""
    import threading

    server = start_serial_s3(port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    stopped.wait()
    server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="service logs (default: a temp dir)"
    )
    parser.add_argument("--serve-s3", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.serve_s3:
        serve_s3(args.serve_s3)
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gramops-stack-"))
    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with running(workdir) as stack:
        for name, value in sorted(stack.client_env().items()):
            sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
        sys.stdout.write(
            f"# then, in the clone: dvc remote add --local -d team {stack.dvc_remote_url} && "
            f"dvc remote modify --local team endpointurl {stack.s3_endpoint}\n"
            f"# PostgreSQL: {stack.postgres.uri}; logs in {workdir}; Ctrl-C stops everything\n"
        )
        sys.stdout.flush()
        while not stop:
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
