"""What one pipeline execution produced, read from ``dvc.yaml``, ``dvc.lock`` and its files.

The MLflow mirror logs these results; collecting them lives here, apart from the MLflow code
(:mod:`gramops.tracking.runs`), so it can be tested without MLflow and without a DVC run. A
stage result is identified by its *lock hash*: the sha256 of the canonical JSON of the stage's
``dvc.lock`` entry (command, deps, params and outs with their hashes), which changes exactly
when DVC considers the stage's result different.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gramops.core.errors import GramopsError
from gramops.core.fileio import canonical_bytes
from gramops.core.stage import STAGE_TIMES, read_stage_times

log = logging.getLogger(__name__)

# Small file outputs (reports, manifests, configs) are worth keeping next to a run; weights
# and data directories are not (bundles reach MLflow through the model registry mirror).
ARTIFACT_MAX_BYTES = 1 << 20
PARAMS_FILE = "params.yaml"
# YAML is read with libyaml's safe loader (PyYAML's wheels have it): dvc.lock is ~45 kB and
# the pure-Python loader spent a quarter of a second on it, a tenth of the mirror stage.
_TEMPLATE = re.compile(r"\$\{\s*([^}]*?)\s*\}")
# A plot whose x axis is the epoch is a training history: each row is logged as one step of
# its columns' metrics, so MLflow charts the curves (the CSV is logged as an artifact too).
HISTORY_X = "epoch"
# A metrics file whose top level holds a ``decision`` (the gate's promote | hold | block) is a
# verdict: the stage's run, and every pipeline run that includes it, get the tag
# ``<stage>_decision`` (``tags.gate_decision = 'block'``) and a metric of the same name that
# orders the decisions for searches like ``metrics.gate_decision < 0``.
DECISION_KEY = "decision"
DECISION_SCORES = {"block": -1.0, "hold": 0.0, "promote": 1.0}


class PipelineError(GramopsError):
    """``dvc.yaml``/``dvc.lock`` or a file they declare cannot be read as a stage result."""


@dataclass(frozen=True)
class StageResult:
    """One stage's result as the mirror logs it (paths are relative to the workspace).

    ``series`` maps a metric to its (step, value) history; ``tags`` are the verdicts a
    search filters on; ``start_ms``/``end_ms`` are when the stage really ran (epoch ms), or
    None when it left no record (it ran before records were kept, or elsewhere).
    """

    name: str
    lock_hash: str
    params: dict[str, str]
    metrics: dict[str, float]
    artifacts: tuple[str, ...]
    series: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None


def lock_hash(lock_entry: Mapping[str, Any]) -> str:
    """sha256 of a ``dvc.lock`` stage entry: equal exactly when DVC saw the same result."""
    return hashlib.sha256(canonical_bytes(lock_entry)).hexdigest()


def pipeline_hash(results: Iterable[StageResult]) -> str:
    """Identity of a whole pipeline execution: the hash of every stage's lock hash."""
    return hashlib.sha256(canonical_bytes({r.name: r.lock_hash for r in results})).hexdigest()


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to one level with ``"."``-joined keys; lists stay whole leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def numeric_leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The metrics MLflow can plot: finite numbers only (booleans, strings, lists dropped)."""
    return {
        key: float(value)
        for key, value in flatten(tree, prefix).items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def lock_params(lock_entry: Mapping[str, Any]) -> dict[str, str]:
    """A stage's params as DVC recorded them, flattened to strings MLflow accepts.

    Strings stay as they are; everything else (numbers, null, lists) is JSON so that a value
    reads the same in MLflow as in ``params.yaml``. Keys from a params file other than
    ``params.yaml`` carry that file as a prefix, the way ``dvc params diff`` shows them.
    """
    params: dict[str, str] = {}
    for file, tree in sorted((lock_entry.get("params") or {}).items()):
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        for key, value in flatten(tree or {}, prefix).items():
            params[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return params


def declared_outputs(dvc_yaml: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Each concrete stage's declared ``metrics`` and ``plots`` paths, ``foreach`` expanded,
    and as ``history`` its plots whose x axis is :data:`HISTORY_X`; outputs marked
    ``type: metrics`` count as metrics.

    DVC names a ``foreach`` instance ``stage@key``, which is the name ``dvc.lock`` uses; only
    ``${key}``, ``${item}`` and ``${item.field}`` are substituted, which is all this pipeline
    uses. Anything else left in a path raises rather than mirroring the wrong file.
    """
    declared: dict[str, dict[str, list[str]]] = {}
    for name, spec in (dvc_yaml.get("stages") or {}).items():
        if "matrix" in spec:
            raise PipelineError(
                f"dvc.yaml: stage {name!r} uses matrix, which the mirror can't read"
            )
        if "foreach" not in spec:
            declared[name] = _output_paths(name, spec, {})
            continue
        items = spec["foreach"]
        pairs = (
            items.items()
            if isinstance(items, Mapping)
            else (
                (str(i) if isinstance(item, Mapping) else str(item), item)
                for i, item in enumerate(items)
            )
        )
        for key, item in pairs:
            instance = f"{name}@{key}"
            declared[instance] = _output_paths(instance, spec["do"], {"key": key, "item": item})
    return declared


def _output_paths(
    stage: str, spec: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, list[str]]:
    declared = {kind: list(spec.get(kind) or []) for kind in ("metrics", "plots")}
    # a detail metrics file is a plain output marked `type: metrics` (dvc.yaml's header says
    # why): its numbers are the stage's metrics all the same
    declared["metrics"] += [out for out in spec.get("outs") or [] if _marked_metrics(out)]
    paths = {
        kind: [_substitute(stage, _out_path(out), context) for out in outs]
        for kind, outs in declared.items()
    }
    paths["history"] = [
        _substitute(stage, _out_path(out), context)
        for out in spec.get("plots") or []
        if isinstance(out, Mapping) and (next(iter(out.values())) or {}).get("x") == HISTORY_X
    ]
    return paths


def _marked_metrics(out: str | Mapping[str, Any]) -> bool:
    options = {} if isinstance(out, str) else next(iter(out.values())) or {}
    return options.get("type") == "metrics"


def _out_path(out: str | Mapping[str, Any]) -> str:
    # An output is a bare path or a one-key mapping {path: {options}}.
    return out if isinstance(out, str) else next(iter(out))


def _substitute(stage: str, text: str, context: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        head, *fields = match.group(1).split(".")
        found: Any = context.get(head)
        for name in fields:
            found = found.get(name) if isinstance(found, Mapping) else None
        if found is None or isinstance(found, Mapping | list):
            raise PipelineError(
                f"dvc.yaml: stage {stage!r}: cannot resolve {match.group(0)} in {text!r}; the "
                "mirror understands ${key}, ${item} and ${item.field} in metrics and plots paths"
            )
        return str(found)

    return _TEMPLATE.sub(value, text)


def read_metrics_file(path: Path) -> Mapping[str, Any]:
    """A metrics file as DVC reads it: JSON, YAML or TOML by its suffix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PipelineError(
            f"{path}: declared as metrics in dvc.yaml but missing; run `dvc repro` or "
            "`dvc checkout` first"
        ) from exc
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.load(text, Loader=yaml.CSafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise PipelineError(f"{path}: not a readable metrics file ({exc})") from exc
    return data if isinstance(data, Mapping) else {}


def collect_stage_results(root: Path, skip: Iterable[str] = ("mirror",)) -> list[StageResult]:
    """The results of every stage in ``dvc.yaml`` that ``dvc.lock`` records, in dvc.yaml order.

    Params come from ``dvc.lock`` (what the stage actually ran with, not the current
    ``params.yaml``), metrics are the numeric leaves of the stage's metrics files (prefixed
    with the file's path without suffix when a stage has several), artifacts are its metrics
    and plots files plus its small file outputs. Training histories become step series,
    a decision a tag; times come from the stage times the stage runner recorded. Stages never
    run yet are left out.
    """
    root = Path(root)
    skipped = set(skip)
    dvc_yaml = _read_yaml(root / "dvc.yaml")
    lock = _read_yaml(root / "dvc.lock").get("stages") or {}
    times = read_stage_times(root / STAGE_TIMES)
    results = []
    for name, outputs in declared_outputs(dvc_yaml).items():
        if name in skipped or name.split("@")[0] in skipped:
            continue
        if name not in lock:
            log.info("stage %s has no dvc.lock entry yet; not mirrored", name)
            continue
        entry = lock[name]
        metrics: dict[str, float] = {}
        tags: dict[str, str] = {}
        several = len(outputs["metrics"]) > 1
        for path in outputs["metrics"]:
            prefix = f"{Path(path).with_suffix('').as_posix()}." if several else ""
            data = read_metrics_file(root / path)
            metrics.update(numeric_leaves(data, prefix))
            tags.update(_verdict(name, data, metrics))
        series: dict[str, tuple[tuple[int, float], ...]] = {}
        for path in outputs["history"]:
            series.update(read_history(root / path, taken=metrics.keys() | series.keys()))
        start_ms, end_ms = times.get(name, (None, None))
        results.append(
            StageResult(
                name=name,
                lock_hash=lock_hash(entry),
                params=lock_params(entry),
                metrics=metrics,
                artifacts=_artifacts(root, name, outputs, entry),
                series=series,
                tags=tags,
                start_ms=start_ms,
                end_ms=end_ms,
            )
        )
    return results


def _verdict(stage: str, data: Mapping[str, Any], metrics: dict[str, float]) -> dict[str, str]:
    """The tag of a metrics file's decision, adding its ordered score to ``metrics``."""
    decision = data.get(DECISION_KEY)
    if not isinstance(decision, str):
        return {}
    key = f"{stage.split('@')[0]}_{DECISION_KEY}"
    if decision in DECISION_SCORES:
        metrics[key] = DECISION_SCORES[decision]
    else:
        log.warning("stage %s: decision %r has no score; tagged only", stage, decision)
    return {key: decision}


def read_history(path: Path, taken: Iterable[str] = ()) -> dict[str, tuple[tuple[int, float], ...]]:
    """A training history CSV as step series: ``HISTORY_X`` is the step, each other column a
    metric. A name the stage already logs as a metric (``taken``) is refused, so a curve
    never overwrites a summary value."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError as exc:
        raise PipelineError(f"{path}: declared as plots in dvc.yaml but missing") from exc
    columns = [c for c in (rows[0] if rows else {}) if c != HISTORY_X]
    clash = sorted(set(columns) & set(taken))
    if clash:
        raise PipelineError(
            f"{path}: columns {', '.join(clash)} are also metrics of the stage; rename one"
        )
    series: dict[str, tuple[tuple[int, float], ...]] = {}
    try:
        for column in columns:
            series[column] = tuple(
                (int(row[HISTORY_X]), float(row[column])) for row in rows if row[column] != ""
            )
    except (TypeError, ValueError) as exc:
        raise PipelineError(
            f"{path}: a training history needs an integer {HISTORY_X!r} and numeric columns ({exc})"
        ) from exc
    return series


def _artifacts(
    root: Path, stage: str, outputs: Mapping[str, list[str]], entry: Mapping[str, Any]
) -> tuple[str, ...]:
    paths: set[str] = set()
    for declared in (*outputs["metrics"], *outputs["plots"]):
        target = root / declared
        if target.is_dir():
            paths.update(p.relative_to(root).as_posix() for p in target.rglob("*") if p.is_file())
        else:
            paths.add(Path(declared).as_posix())
    for out in entry.get("outs") or []:
        small_file = not str(out.get("md5", "")).endswith(".dir")
        if small_file and int(out.get("size", ARTIFACT_MAX_BYTES + 1)) <= ARTIFACT_MAX_BYTES:
            paths.add(Path(out["path"]).as_posix())
    missing = sorted(p for p in paths if not (root / p).is_file())
    if missing:
        raise PipelineError(
            f"stage {stage}: {', '.join(missing)} recorded in dvc.lock but missing from the "
            "workspace; run `dvc checkout` or `dvc repro` first"
        )
    return tuple(sorted(paths))


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except FileNotFoundError as exc:
        raise PipelineError(f"{path}: missing; the mirror runs inside a DVC workspace") from exc
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML ({exc})") from exc
    return data if isinstance(data, Mapping) else {}


def git_commit(root: Path) -> str | None:
    """The commit the workspace is at (``None`` outside git): the code version of a run."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None
