"""Registry helpers: tag on register, crash a child mid-operation, compare states."""

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gramops.registry.refs import normalize_semver


def register_tagged(reg, bundle: Path, family: str, semver: str):
    """Register ``bundle`` and bind ``semver`` to it with an explicit ``tag``.

    Registering binds no semver (promotion or ``gramops registry tag`` does): tests that
    need a model reachable by version say so with this. Returns the register result with
    ``semver`` set to the bound version.
    """
    result = reg.register(bundle, family=family)
    reg.tag(result.sha, semver)
    return dataclasses.replace(result, semver=normalize_semver(semver))


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


def metadata_state(root: Path) -> dict[str, Any]:
    """The registry's metadata with wall-clock fields dropped, to compare runs of one op.

    Objects (content-addressed, orphans are harmless), the lock and tmp files are left out.
    """
    state: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith("objects/") or rel.endswith(".tmp"):
            continue
        if rel in (".lock", ".journal.json"):
            continue
        if rel == "index.jsonl":
            state[rel] = [_untimed(json.loads(line)) for line in path.read_bytes().splitlines()]
        else:
            state[rel] = _untimed(json.loads(path.read_bytes()))
    return state


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("time", "registered_at")}
    return value


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (empty if it does not exist)."""
    if not Path(root).exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }
