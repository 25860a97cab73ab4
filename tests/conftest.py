"""Shared fixtures: the venv's tools and one real pipeline run in a fresh clone.

The pipeline fixture clones the committed repository into a temporary directory and
runs `dvc repro` there once per session; end-to-end and data tests share that run.
"""

import dataclasses
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from gramops.core.fileio import write_json
from gramops.models.bundle import save_bundle
from gramops.registry.store import normalize_semver

ROOT = Path(__file__).resolve().parents[1]
# The venv's executables, whatever PATH the test runner was started with.
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")


# the DVC hash of the committed corpus: tiny bundles name it as their training data
CORPUS = "2b209b2ce91f17cd724a65906eb9b5f9.dir"


def tiny_bundle(
    path: Path,
    family: str = "fp32",
    parent: str | None = None,
    seed: int = 1,
    corpus: str = CORPUS,
) -> Path:
    """A registrable bundle of a few bytes; ``seed`` changes the weights and so the SHA."""
    weights = "adapter.safetensors" if family == "lora" else "model.safetensors"
    tensors = {"W1": np.arange(12, dtype=np.float32).reshape(3, 4) + seed, "b1": np.ones(3)}
    save_bundle(
        path,
        weights,
        tensors,
        {"family": family, "hidden": 3},
        {"seed": seed, "family": family, "parent_sha": parent, "corpus": {"dvc_hash": corpus}},
    )
    write_json(
        path / "eval_report.json",
        {"domains": {"verb": {"strict_accuracy": 0.5, "pass_rate": 0.9, "count": 4}}},
    )
    return path


def register_tagged(reg, bundle: Path, family: str, semver: str):
    """Register ``bundle`` and bind ``semver`` to it with an explicit ``tag``.

    Registering binds no semver (promotion or ``gramops registry tag`` does): tests that
    need a model reachable by version say so with this. Returns the register result with
    ``semver`` set to the bound version.
    """
    result = reg.register(bundle, family=family)
    reg.tag(result.sha, semver)
    return dataclasses.replace(result, semver=normalize_semver(semver))


@functools.cache
def team_stack_module():
    """``scripts/team_stack.py`` (not a package) as a module: the stack and its S3 server."""
    path = ROOT / "scripts" / "team_stack.py"
    spec = importlib.util.spec_from_file_location("team_stack", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["team_stack"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


_DIE_AFTER_LOG_LINE = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from gramops.registry.store import Registry\n"
    "append = Registry._append\n"
    "def dying(*args, **kwargs):  # the log line is durable, the journal not yet removed\n"
    "    append(*args, **kwargs)\n"
    "    os._exit(17)\n"
    "Registry._append = dying\n"
    "Registry(Path(sys.argv[1]), actor='crash').set_alias('production', sys.argv[2])\n"
)
_DIE_BEFORE_TAGS_RENAME = (
    "import os, sys\n"
    "from pathlib import Path\n"
    "from gramops.registry.store import Registry\n"
    "replace = os.replace\n"
    "def dying(src, dst):  # tags.json.tmp is written and fsynced, not renamed\n"
    "    if str(dst).endswith('tags.json'):\n"
    "        os._exit(17)\n"
    "    replace(src, dst)\n"
    "os.replace = dying\n"
    "Registry(Path(sys.argv[1]), actor='crash').tag(sys.argv[2], 'v9.0.0')\n"
)


def die_after_log_line(root: Path, sha: str) -> None:
    """In a child process, move production to ``sha`` and die right after the log line."""
    _die(_DIE_AFTER_LOG_LINE, root, sha)


def die_before_tags_rename(root: Path, sha: str) -> None:
    """In a child process, tag ``sha`` v9.0.0 and die between writing tags.json.tmp and
    renaming it into place."""
    _die(_DIE_BEFORE_TAGS_RENAME, root, sha)


def _die(script: str, root: Path, sha: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", script, str(root), sha], capture_output=True, text=True
    )
    assert child.returncode == 17, child.stderr


@pytest.fixture
def webhook():
    """A webhook receiver on loopback: its URL, the JSON bodies it received and their
    Content-Type headers."""
    received: list[dict] = []
    content_types: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            content_types.append(self.headers["Content-Type"])
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, content_types
    server.shutdown()
    server.server_close()


def tool_env() -> dict[str, str]:
    """Environment for child processes: venv first on PATH (stages call `python`)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def sh(
    args: list[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env={**tool_env(), **(env or {})}, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}) in {cwd}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def stages_run(output: str) -> list[str]:
    """The stages `dvc repro` executed, from its output."""
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory) -> dict:
    """A fresh clone of the committed repo after a cold `dvc repro`."""
    clone = tmp_path_factory.mktemp("e2e") / "gramops"
    sh(["git", "clone", "--quiet", str(ROOT), str(clone)], cwd=ROOT)
    # what `make install` adds beside the venv: the offline `dvc plots` page template
    template = ROOT / ".dvc" / "plots" / "offline.html"
    if template.exists():
        shutil.copy2(template, clone / ".dvc" / "plots" / "offline.html")
    result = sh([DVC, "repro"], cwd=clone)
    return {"path": clone, "output": result.stdout + result.stderr}


@pytest.fixture(scope="session")
def processed_dir(pipeline_repo) -> Path:
    return pipeline_repo["path"] / "data" / "processed"


def pytest_collection_modifyitems(items) -> None:
    """Tests that need the real pipeline run are end-to-end tests, wherever they live."""
    for item in items:
        if {"pipeline_repo", "processed_dir"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
