"""Where the MLflow mirror writes, and a checked connection to it.

MLflow is imported only inside functions here and in the other tracking modules: the import
costs over a second, and nothing else in gramops should pay it. The store defaults to
``mlflow.db`` at the DVC workspace root, found through experiment temp copies, so results of
`dvc exp run --temp` land in the workspace's store. Failures of MLflow, its database or the
network become one :class:`TrackingError` naming the tracking URI and what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gramops.core.errors import GramopsError
from gramops.core.workspace import workspace_root as find_workspace

EXPERIMENT = "gramops"
DB_NAME = "mlflow.db"
# MLflow's HTTP defaults (7 retries with exponential backoff, 120 s per attempt) would keep
# a stage waiting on a server that accepts connections and never answers for over 20
# minutes per request. The connection check fails within seconds; every later request
# (uploading a 17 MB weights file included) gets 30 s and one retry, so a server that
# stalls mid-mirror fails the stage within about a minute. Users who set these variables
# themselves keep theirs, e.g. MLFLOW_HTTP_REQUEST_TIMEOUT=300 for a slow remote store.
CHECK_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
REQUEST_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# Against a server, MLflow prints two "View run ... at" lines to stdout per finished run.
QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
_NETWORK_REASON = re.compile(
    r"\[Errno -?\d+\][^\"')]*|Read timed out\. \(read timeout=[^)]*\)|timed out"
)


class TrackingError(GramopsError):
    """MLflow could not be reached or refused a write; the message names the tracking URI."""


def workspace_root(start: Path) -> Path:
    """The DVC workspace a path belongs to, seen through experiment temp copies: results
    of `dvc exp run --temp` and queued experiments must land in the workspace's store."""
    root = find_workspace(start)
    if root is None:
        raise TrackingError(
            f"{Path(start).resolve()} is not inside a DVC workspace, so there is no default "
            "MLflow store; set MLFLOW_TRACKING_URI"
        )
    return root


def default_tracking_uri(start: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the SQLite store at the workspace root.

    The file is ``mlflow.db`` because that is what ``mlflow ui`` opens by default when
    started in the workspace root.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{workspace_root(start) / DB_NAME}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlruns`` next to a SQLite file.

    MLflow's own default is ``./mlruns`` relative to the *current directory*, which inside
    an experiment temp copy is deleted after the run; a server decides for itself (None).
    """
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()


def store_missing(uri: str) -> bool:
    """A SQLite store that does not exist yet: checks and syncs must not create one."""
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


MIRROR_RETRY = (
    "the stages before the mirror are done, so the next `dvc repro` re-runs only the mirror"
)
VERIFY_RETRY = "then verify again"


@contextlib.contextmanager
def mlflow_errors(uri: str, doing: str, retry: str = MIRROR_RETRY) -> Iterator[None]:
    """Turn MLflow, database and network failures into one TrackingError naming the URI."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        raise TrackingError(
            f"MLflow at {uri}: {doing} failed ({_reason(exc)}). Start the tracking server or "
            f"fix MLFLOW_TRACKING_URI (unset it to use the workspace's mlflow.db); {retry}"
        ) from exc


def _reason(exc: BaseException) -> str:
    """The useful part of a failure: urllib3's nested message buries it at the end."""
    text = " ".join(str(exc).split())
    found = _NETWORK_REASON.search(text)
    if found:
        return found.group(0).strip()
    return text[:300] or type(exc).__name__


@contextlib.contextmanager
def env_defaults(defaults: Mapping[str, str]) -> Iterator[None]:
    """Set MLflow settings the user has not set, for one block only.

    MLflow reads these from the environment at each call, so scoping them here changes
    its behaviour for the mirror without leaking into anything else in the process.
    """
    added = [name for name in defaults if name not in os.environ]
    os.environ.update({name: defaults[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@dataclass(frozen=True)
class Tracker:
    """A checked connection: the client and the ``gramops`` experiment it writes to."""

    uri: str
    client: Any
    experiment_id: str


def connect(uri: str) -> Tracker:
    """Open MLflow at ``uri`` and make sure the ``gramops`` experiment exists.

    The first request doubles as the reachability check, so a dead or stalled server fails
    here, before anything is logged, within :data:`CHECK_LIMITS`' timeout.
    """
    # MLflow 3 reports usage at interpreter exit; a pipeline stage should not phone home
    # (nor wait on a closed network). Users who want it set MLFLOW_DISABLE_TELEMETRY=false.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with mlflow_errors(uri, "connecting"), env_defaults(CHECK_LIMITS):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            experiment_id = client.create_experiment(
                EXPERIMENT, artifact_location=artifact_location(uri)
            )
        elif experiment.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow at {uri}: experiment {EXPERIMENT!r} is deleted; restore it "
                f"(`mlflow experiments restore --experiment-id {experiment.experiment_id}`) "
                "or purge it (`mlflow gc`) so the mirror can create it again"
            )
        else:
            experiment_id = experiment.experiment_id
    return Tracker(uri=uri, client=client, experiment_id=experiment_id)
