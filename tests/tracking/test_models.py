"""Registry entries as versions of one MLflow Model: tags, aliases, races, MLflow following
the registry exactly (issue 11, cases 6 and 7), the per-family models of earlier mirrors
retired; the mirror stage reads the registry only."""

import dataclasses
import importlib.util
import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from gramops.core.fileio import dumps_pretty
from gramops.models.identity import canonical_sha
from gramops.registry.store import Registry
from gramops.tracking.aliases import TAG_SUPERSEDED
from gramops.tracking.connect import Tracker, TrackingError, connect
from gramops.tracking.models import (
    RegistryView,
    mirror_model_registry,
    mirror_registry,
    mirror_run_ids,
    mirror_summary,
    registry_view,
)
from gramops.tracking.runs import mirror_stage_results
from gramops.tracking.verify import verify_mlflow
from helpers.bundles import tiny_bundle
from helpers.paths import ROOT
from helpers.processes import sh
from helpers.tracking import register_entry, release, snapshot_bytes, store_uri

MODEL = "gramops"


@pytest.fixture
def registry_data(tmp_path: Path) -> dict:
    fp32 = tiny_bundle(tmp_path / "bundles" / "fp32", "fp32", seed=1)
    int8 = tiny_bundle(tmp_path / "bundles" / "int8", "int8", parent=canonical_sha(fp32), seed=2)
    bundles = {canonical_sha(b): b for b in (fp32, int8)}
    fp32_sha, int8_sha = bundles
    calls: list[str] = []

    def materialize(sha: str, dest: Path) -> Path:
        calls.append(sha)
        shutil.copytree(bundles[sha], dest)
        return dest

    entries = [
        {
            "sha": fp32_sha,
            "family": "fp32",
            "parent_sha": None,
            "metrics": {"verb": {"pass_rate": 0.9}},
        },
        {
            "sha": int8_sha,
            "family": "int8",
            "parent_sha": fp32_sha,
            "metrics": {"verb": {"pass_rate": 0.8}},
        },
    ]
    return {
        "entries": entries,
        "semvers": {fp32_sha: ["v0.1.0"], int8_sha: ["v0.2.0"]},
        "aliases": {"production": fp32_sha, "challenger": int8_sha},
        "materialize": materialize,
        "calls": calls,
        "fp32": fp32_sha,
        "int8": int8_sha,
        "bundles": bundles,
    }


def _mirror_models(tracker: Tracker, data: dict):
    return mirror_model_registry(
        tracker, data["entries"], data["semvers"], data["aliases"], data["materialize"]
    )


def test_registry_becomes_versions_of_one_model_with_tags_and_aliases(
    tracker: Tracker, registry_data: dict
) -> None:
    fp32_sha, int8_sha = registry_data["fp32"], registry_data["int8"]
    mirrored = _mirror_models(tracker, registry_data)
    assert mirrored.pointers == {
        fp32_sha: {"registered_model": MODEL, "version": "1"},
        int8_sha: {"registered_model": MODEL, "version": "2"},
    }
    client = tracker.client
    fp32 = client.get_model_version(MODEL, "1")
    assert fp32.tags["canonical_sha"] == fp32_sha and fp32.tags["semver"] == "v0.1.0"
    assert fp32.tags["family"] == "fp32"
    assert client.get_model_version(MODEL, "2").tags["family"] == "int8"
    assert client.get_registered_model(MODEL).aliases == {"production": 1, "challenger": 2}
    # The version's source is an MLflow Model whose data is the bundle, byte for byte.
    assert fp32.source == f"runs:/{fp32.run_id}/model"
    files = {a.path for a in client.list_artifacts(fp32.run_id, "model")}
    assert {"model/MLmodel", "model/requirements.txt", "model/input_example.json"} <= files
    local = client.download_artifacts(fp32.run_id, "model/data/bundle/model.safetensors")
    assert (
        Path(local).read_bytes()
        == registry_data["bundles"][fp32_sha].joinpath("model.safetensors").read_bytes()
    )


def test_remirroring_adds_no_version(tracker: Tracker, registry_data: dict) -> None:
    fp32_sha, int8_sha = registry_data["fp32"], registry_data["int8"]
    first = _mirror_models(tracker, registry_data)
    assert first.created == (fp32_sha, int8_sha)
    second = _mirror_models(tracker, registry_data)
    assert second.created == () and second.pointers == first.pointers
    assert registry_data["calls"] == [fp32_sha, int8_sha]  # bundles copied once
    versions = tracker.client.search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 2


def test_entry_without_local_objects_still_gets_a_version(
    tracker: Tracker, registry_data: dict, caplog: pytest.LogCaptureFixture
) -> None:
    int8_sha = registry_data["int8"]
    # An entry registered on another machine: its bytes are not in this object store.
    registry_data["materialize"] = lambda sha, dest: None
    with caplog.at_level(logging.WARNING, logger="gramops.tracking.models"):
        mirrored = _mirror_models(tracker, registry_data)
    # one line for all of them (a fresh clone has many), naming each
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("2 registry entries have no bytes")
    assert f"int8 {int8_sha[:12]}" in warnings[0]
    assert mirrored.pointers[int8_sha] == {"registered_model": MODEL, "version": "2"}
    version = tracker.client.get_model_version(MODEL, "2")
    assert version.tags["canonical_sha"] == int8_sha
    files = {a.path for a in tracker.client.list_artifacts(version.run_id, "model")}
    assert files == {"model/entry.json"}
    assert tracker.client.get_run(version.run_id).data.tags["gramops.bundle_bytes"] == "missing"


def test_the_model_name_comes_from_the_environment(
    tracker: Tracker, registry_data: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAMOPS_MLFLOW_MODEL", "tutor")
    mirrored = _mirror_models(tracker, registry_data)
    assert set(mirrored.aliases) == {"tutor"}
    assert tracker.client.get_registered_model("tutor").aliases == {
        "production": 1,
        "challenger": 2,
    }
    assert verify_mlflow(tracker, _view(registry_data)) == []


def _view(data: dict) -> RegistryView:
    """The registry ``data`` stands for, as verify reads it."""
    tags = {v: sha for sha, semvers in data["semvers"].items() for v in semvers}
    return RegistryView(frozenset(e["sha"] for e in data["entries"]), tags, data["aliases"])


def test_semver_and_alias_moves_are_mirrored(tracker: Tracker, registry_data: dict) -> None:
    fp32_sha, int8_sha = registry_data["fp32"], registry_data["int8"]
    _mirror_models(tracker, registry_data)
    registry_data["semvers"][fp32_sha] = ["v0.1.0", "v1.0.0"]
    registry_data["aliases"] = {"production": int8_sha}
    mirrored = _mirror_models(tracker, registry_data)
    client = tracker.client
    assert client.get_model_version(MODEL, "1").tags["semver"] == "v1.0.0"
    assert client.get_registered_model(MODEL).aliases == {"production": 2}
    assert mirrored.aliases == {MODEL: {"production": "2"}}


def test_per_family_models_of_earlier_mirrors_are_retired_not_deleted(
    tracker: Tracker, registry_data: dict, caplog: pytest.LogCaptureFixture
) -> None:
    client = tracker.client
    # what a mirror before issue 13 left: a per-family model carrying the registry's alias
    client.create_registered_model("gramops-fp32")
    run_id = client.create_run(tracker.experiment_id).info.run_id
    client.create_model_version("gramops-fp32", f"runs:/{run_id}/bundle", run_id=run_id)
    client.set_registered_model_alias("gramops-fp32", "production", "1")
    assert verify_mlflow(tracker, _view(registry_data))[-1] == (
        "retired model with aliases: gramops-fp32@production is no longer synced (entries are "
        "versions of gramops); the mirror removes them"
    )
    with caplog.at_level(logging.WARNING, logger="gramops.tracking"):
        _mirror_models(tracker, registry_data)
    assert any("gramops-fp32: retired" in w for w in _warnings(caplog)), _warnings(caplog)
    legacy = client.get_registered_model("gramops-fp32")
    assert legacy.aliases == {} and legacy.tags[TAG_SUPERSEDED] == MODEL
    assert len(client.search_model_versions("name = 'gramops-fp32'")) == 1  # history kept
    assert verify_mlflow(tracker, _view(registry_data)) == []
    recording = _RecordingClient(client)
    _mirror_models(dataclasses.replace(tracker, client=recording), registry_data)
    assert recording.writes == []  # retired once


class _LosesOneRace:
    """A client whose first version-tag write hits the row a concurrent mirror just wrote."""

    def __init__(self, client: object) -> None:
        self._client = client
        self.conflicts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def set_model_version_tag(self, *args: object) -> None:
        from mlflow.exceptions import MlflowException

        if not self.conflicts:
            self.conflicts += 1
            self._client.set_model_version_tag(*args)  # the other mirror's identical write
            raise MlflowException(
                "(psycopg2.errors.UniqueViolation) duplicate key value violates unique "
                'constraint "model_version_tag_pk"',
                error_code="BAD_REQUEST",
            )
        self._client.set_model_version_tag(*args)


def test_a_write_lost_to_a_concurrent_mirror_is_synced_again(
    tracker: Tracker, registry_data: dict
) -> None:
    fp32_sha = registry_data["fp32"]
    _mirror_models(tracker, registry_data)
    registry_data["semvers"][fp32_sha] = ["v0.1.0", "v1.0.0"]
    racing = _LosesOneRace(tracker.client)
    mirrored = _mirror_models(dataclasses.replace(tracker, client=racing), registry_data)
    assert racing.conflicts == 1
    version = tracker.client.get_model_version(MODEL, "1")
    assert version.tags["semver"] == "v1.0.0" and version.tags["semvers"] == "v0.1.0,v1.0.0"
    assert mirrored.pointers[fp32_sha] == {"registered_model": MODEL, "version": "1"}


def test_other_model_registry_errors_are_not_retried(tracker: Tracker, registry_data: dict) -> None:
    from mlflow.exceptions import MlflowException

    class Refuses(_LosesOneRace):
        def set_model_version_tag(self, *args: object) -> None:
            self.conflicts += 1
            raise MlflowException("tag value too long", error_code="INVALID_PARAMETER_VALUE")

    _mirror_models(tracker, registry_data)
    registry_data["semvers"][registry_data["fp32"]] = ["v0.1.0", "v1.0.0"]
    refusing = Refuses(tracker.client)
    with pytest.raises(TrackingError, match="tag value too long"):
        _mirror_models(dataclasses.replace(tracker, client=refusing), registry_data)
    assert refusing.conflicts == 1


def test_fresh_store_gives_the_same_pointers_and_summary_but_its_own_run_ids(
    tmp_path: Path, migrated_db: Path, registry_data: dict, results: list
) -> None:
    summaries, run_ids = [], []
    for name in ("one", "two"):
        tracker = connect(store_uri(tmp_path, migrated_db, name))
        stages = mirror_stage_results(tracker, results, tmp_path)
        mirrored = _mirror_models(tracker, registry_data)
        summaries.append(mirror_summary(results, mirrored))
        run_ids.append(mirror_run_ids(mirrored))
    assert summaries[0]["registered_models"] == {
        MODEL: {
            "versions": {"1": registry_data["fp32"], "2": registry_data["int8"]},
            "aliases": {"production": "1", "challenger": "2"},
        }
    }
    assert stages.parent_run_id not in repr(summaries[1])
    # the summary (a DVC output whose hash dvc.lock records) is the same for every store,
    # byte for byte; the run ids, each store's own, are kept beside it
    assert dumps_pretty(summaries[0]) == dumps_pretty(summaries[1])
    assert "run_id" not in repr(summaries[0])
    assert run_ids[0]["entries"].keys() == run_ids[1]["entries"].keys()
    for sha, entry in run_ids[0]["entries"].items():
        assert entry["run_id"] and entry["run_id"] != run_ids[1]["entries"][sha]["run_id"]


def test_summary_names_each_entry_with_its_semvers_version_and_run(
    tracker: Tracker, registry_data: dict, results: list
) -> None:
    fp32_sha, int8_sha = registry_data["fp32"], registry_data["int8"]
    mirrored = _mirror_models(tracker, registry_data)
    summary, runs = mirror_summary(results, mirrored), mirror_run_ids(mirrored)
    client = tracker.client
    for sha, family, semver, version in (
        (fp32_sha, "fp32", "v0.1.0", "1"),
        (int8_sha, "int8", "v0.2.0", "2"),
    ):
        mv = client.get_model_version(MODEL, version)
        assert summary["entries"][sha] == {
            "family": family,
            "semvers": [semver],
            "registered_model": MODEL,
            "version": version,
        }
        assert runs["entries"][sha] == {"version": version, "run_id": mv.run_id}
        # the ids are the real ones: the run holds this entry as an MLflow Model
        assert client.get_run(mv.run_id).data.tags["gramops.canonical_sha"] == sha
    # a second mirror finds the same version and run, and says so
    again = _mirror_models(tracker, registry_data)
    assert mirror_summary(results, again)["entries"] == summary["entries"]
    assert mirror_run_ids(again) == runs


# -- MLflow follows the registry exactly (issue 11, cases 6 and 7) ----------------------------


def _git_restore(root: Path, snapshot: dict[str, bytes]) -> None:
    """What `git restore models/registry` (and a clean) does to the registry's files."""
    for path in root.rglob("*"):
        if path.is_file() and path.relative_to(root).as_posix() not in snapshot:
            path.unlink()
    for rel, data in snapshot.items():
        (root / rel).write_bytes(data)


def _aliases(tracker: Tracker) -> dict[str, int]:
    return dict(tracker.client.get_registered_model(MODEL).aliases)


def _semver_tags(tracker: Tracker) -> dict[str, str | None]:
    versions = tracker.client.search_model_versions(f"name = '{MODEL}'")
    return {str(v.version): v.tags.get("semver") for v in versions}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_case6_registry_restored_with_git_and_hand_set_alias_are_undone(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    int8 = register_entry(reg, tmp_path, "int8", 2, parent=fp32)
    lora = register_entry(reg, tmp_path, "lora", 3, parent=fp32)
    release(reg, fp32, "v0.1.0")
    mirror_registry(tracker, reg)
    committed = snapshot_bytes(reg.root)
    release(reg, int8, "v0.2.0")
    mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"production": 2}

    _git_restore(reg.root, committed)  # production is fp32 again; int8 has no semver
    tracker.client.set_registered_model_alias(MODEL, "staging", "3")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"semver not bound: gramops version 2 ({int8[:12]}) carries v0.2.0; the "
        "registry does not bind it",
        f"stale alias: gramops@production is gramops version 2 ({int8[:12]}); the "
        f"registry's production is {fp32[:12]}",
        f"alias not in the registry: gramops@staging is gramops version 3 ({lora[:12]})",
    ]

    with caplog.at_level(logging.INFO, logger="gramops.tracking"):
        mirrored = mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"production": 1}
    assert mirrored.aliases == {MODEL: {"production": "1"}}
    assert _semver_tags(tracker)["2"] is None
    warned = _warnings(caplog)
    # the hand-set alias is named; following the registry back is routine, not a warning
    assert any("gramops@staging on version 3" in w for w in warned), warned
    assert not any("gramops@production" in w for w in warned), warned
    assert verify_mlflow(tracker, registry_view(reg)) == []
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gramops.tracking"):
        mirror_registry(tracker, reg)  # nothing left to correct
    assert _warnings(caplog) == []


def test_alias_the_registry_has_moved_by_hand_to_another_version_is_moved_back(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = register_entry(reg, tmp_path, "fp32", 1)
    new = register_entry(reg, tmp_path, "fp32", 2)
    release(reg, old, "v0.1.0")
    mirror_registry(tracker, reg)
    tracker.client.set_registered_model_alias(MODEL, "production", "2")
    tracker.client.set_registered_model_alias(MODEL, "staging", "2")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"stale alias: gramops@production is gramops version 2 ({new[:12]}); the "
        f"registry's production is {old[:12]}",
        f"alias not in the registry: gramops@staging is gramops version 2 ({new[:12]})",
    ]
    with caplog.at_level(logging.WARNING, logger="gramops.tracking"):
        mirror_registry(tracker, reg)
    assert _aliases(tracker) == {"production": 1}
    warned = " | ".join(_warnings(caplog))
    assert "gramops@production on version 2" in warned and "moved to version 1" in warned
    assert "gramops@staging on version 2" in warned and "removed" in warned
    # an alias removed in MLflow is set again: the registry's aliases are always there
    tracker.client.delete_registered_model_alias(MODEL, "production")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"alias missing: the registry's production ({old[:12]}) is not on gramops"
    ]
    mirror_registry(tracker, reg)
    assert verify_mlflow(tracker, registry_view(reg)) == []


def test_case7_discarded_experiment_loses_its_semver_and_semvers_appear_once_bound(
    tracker: Tracker, reg: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    release(reg, fp32, "v0.1.0")
    committed = snapshot_bytes(reg.root)
    # an experiment (old behaviour: it bound a semver) mirrored into the shared store ...
    discarded = register_entry(reg, tmp_path, "int8", 2, parent=fp32)
    reg.tag(discarded, "v0.2.1")
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker)["2"] == "v0.2.1"
    # ... then discarded; the next candidate is registered by SHA only
    _git_restore(reg.root, committed)
    candidate = register_entry(reg, tmp_path, "int8", 3, parent=fp32)

    with caplog.at_level(logging.WARNING, logger="gramops.tracking"):
        mirror_registry(tracker, reg)
    tags = _semver_tags(tracker)
    assert tags["2"] is None  # the discarded entry's semver is gone
    assert tags["3"] is None  # not bound yet: no semver
    assert tracker.client.get_model_version(MODEL, "3").tags["canonical_sha"] == candidate
    assert any("gramops version 2" in w and "v0.2.1" in w for w in _warnings(caplog)), _warnings(
        caplog
    )
    assert verify_mlflow(tracker, registry_view(reg)) == []

    release(reg, candidate, "v0.2.1", alias="staging")  # the semver is bound now
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker)["3"] == "v0.2.1"
    assert _aliases(tracker) == {"production": 1, "staging": 3}
    assert verify_mlflow(tracker, registry_view(reg)) == []


def test_case7_one_semver_on_two_versions_is_reported_and_corrected(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    first = register_entry(reg, tmp_path, "int8", 2, parent=fp32)
    second = register_entry(reg, tmp_path, "int8", 3, parent=fp32)
    release(reg, fp32, "v0.1.0")
    release(reg, second, "v0.2.1", alias="staging")
    mirror_registry(tracker, reg)
    # what the issue found: versions 2 and 3 both say v0.2.1
    tracker.client.set_model_version_tag(MODEL, "2", "semver", "v0.2.1")
    assert verify_mlflow(tracker, registry_view(reg)) == [
        f"semver not bound: gramops version 2 ({first[:12]}) carries v0.2.1; the registry "
        f"binds it to {second[:12]}",
        f"duplicate semver: v0.2.1 on gramops version 2 ({first[:12]}), gramops "
        f"version 3 ({second[:12]})",
    ]
    mirror_registry(tracker, reg)
    assert _semver_tags(tracker) == {"1": "v0.1.0", "2": None, "3": "v0.2.1"}
    assert verify_mlflow(tracker, registry_view(reg)) == []


def _mirror_stage(root: Path, monkeypatch: pytest.MonkeyPatch):
    """stages/mirror.py as a module, run in ``root`` with no stage results to log."""
    spec = importlib.util.spec_from_file_location("mirror_stage", ROOT / "stages" / "mirror.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "collect_stage_results", lambda root, skip: [])
    monkeypatch.setattr(module, "git_commit", lambda root: None)
    monkeypatch.chdir(root)
    monkeypatch.delenv("GRAMOPS_REGISTRY", raising=False)
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    return module


def test_mirror_stage_never_writes_to_the_registry(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    reg = Registry(workspace / "models" / "registry", actor="tester")
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    release(reg, fp32, "v0.1.0")
    before = snapshot_bytes(reg.root)
    _mirror_stage(workspace, monkeypatch).main()
    assert snapshot_bytes(reg.root) == before  # no pointers written back, no audit line
    summary = json.loads((workspace / "metrics" / "mirror.json").read_text("utf-8"))
    assert summary["registered_models"][MODEL] == {
        "versions": {"1": fp32},
        "aliases": {"production": "1"},
    }


def test_mirror_stage_declares_the_registry_state_and_is_never_run_cached() -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text("utf-8"))["stages"]["mirror"]
    assert {
        "models/registry/index.jsonl",
        "models/registry/tags.json",
        "models/registry/aliases.json",
    } <= set(stage["deps"])
    # an ordinary uncached output turns the run-cache off: no replay without the MLflow writes
    assert {"metrics/mirror.json": {"cache": False}} in stage["outs"]
    for path in ("metrics/mirror.json", "metrics/mirror_runs.json"):
        assert sh(["git", "check-ignore", path], cwd=ROOT, check=False).returncode == 0
    # the store's random run ids are never in an output whose hash dvc.lock records
    assert all("mirror_runs" not in repr(out) for out in stage["outs"])


class _RecordingClient:
    """An MlflowClient that records the name of every model registry write it is asked for."""

    WRITES = ("create_", "set_", "delete_", "update_", "log_")

    def __init__(self, client: object) -> None:
        self._client = client
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> object:
        if name.startswith(self.WRITES):
            self.writes.append(name)
        return getattr(self._client, name)


def test_mirroring_an_unchanged_registry_writes_nothing(
    tracker: Tracker, reg: Registry, tmp_path: Path
) -> None:
    fp32 = register_entry(reg, tmp_path, "fp32", 1)
    int8 = register_entry(reg, tmp_path, "int8", 2, parent=fp32)
    register_entry(reg, tmp_path, "lora", 3, parent=fp32)
    release(reg, fp32, "v0.1.0")
    release(reg, int8, "v0.2.0", alias="staging")
    mirror_registry(tracker, reg)
    recording = _RecordingClient(tracker.client)
    mirror_registry(dataclasses.replace(tracker, client=recording), reg)
    assert recording.writes == []
    # a change writes only itself: one alias moved, nothing else touched
    reg.set_alias("staging", fp32, reason="test")
    mirror_registry(dataclasses.replace(tracker, client=recording), reg)
    assert sorted(recording.writes) == ["set_registered_model_alias", "set_registered_model_tag"]
