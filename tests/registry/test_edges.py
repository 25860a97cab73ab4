"""Registry edges (issue 11, case 11): what lock-free readers, gc, verify and recovery agree on.

- A mutation killed before its log line is undone by the next lock holder; lock-free readers
  must already show that outcome, not the half-applied documents.
- gc and verify share one rule (kept = reached from a tag or alias, plus ancestors): what gc
  collects, verify reports as "not in this store" (like entries registered in another store,
  as in a fresh clone), never as lost bytes.
- A write killed between its tmp file and its rename leaves ``*.tmp``; the next lock holder
  removes those of the registry's own documents, and nothing else.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle
from helpers.registry import die_after_log_line, die_before_tags_rename, snapshot

# Crash, concurrency, tamper and S3 cases: the registry's reliability tier.
pytestmark = pytest.mark.reliability

GRAMOPS = str(Path(sys.executable).parent / "gramops")


def _register(reg: Registry, bundle: Path, semver: str, family: str = "fp32") -> str:
    sha = reg.register(bundle, family=family).sha
    reg.tag(sha, semver)
    return sha


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    """fp32 v0.1.0 (production) and v0.1.1, int8 v0.2.0 derived from v0.1.0."""
    registry = Registry(tmp_path / "registry", actor="tester")
    first = _register(registry, tiny_bundle(tmp_path / "a", seed=1), "v0.1.0")
    _register(registry, tiny_bundle(tmp_path / "b", seed=2), "v0.1.1")
    int8 = tiny_bundle(tmp_path / "q", "int8", parent=first, seed=3)
    _register(registry, int8, "v0.2.0", family="int8")
    registry.set_alias("production", first)
    assert registry.verify().ok
    return registry


def _killed_before_its_log_line(reg: Registry, call: str, *args: str) -> None:
    """Run ``Registry(root).<call>`` in a child that dies where its log line would be written:
    the journal and the new documents are on disk, the commit point is not."""
    crash = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from gramops.registry.store import Registry\n"
        "Registry._append = lambda *args, **kwargs: os._exit(17)\n"
        f"Registry(Path(sys.argv[1]), actor='crash').{call}\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", crash, str(reg.root), *args], capture_output=True, text=True
    )
    assert child.returncode == 17, child.stderr
    assert reg.journal_path.is_file()


def _view(reg: Registry) -> dict:
    """Everything a reader can see, through the public lock-free reads."""
    return {
        "tags": reg.tags(),
        "aliases": reg.aliases(),
        "history": reg.history(),
        "shas": reg.shas(),
        "entries": reg.entries(),
        "production": reg.resolve("production"),
    }


def _cli_list(reg: Registry) -> list[dict]:
    cli = subprocess.run(
        [GRAMOPS, "--registry", str(reg.root), "registry", "list", "--json"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    return json.loads(cli.stdout)


def test_a_killed_alias_move_is_never_shown_before_recovery_reverts_it(reg):
    old = reg.resolve("v0.1.0")
    new = reg.resolve("v0.1.1")
    before, listed = _view(reg), _cli_list(reg)
    _killed_before_its_log_line(reg, "set_alias('production', sys.argv[2])", new)
    assert json.loads(reg.aliases_path.read_text()) == {"production": new}  # on disk
    files = snapshot(reg.root)
    assert _view(reg) == before and reg.aliases() == {"production": old}
    assert _cli_list(reg) == listed
    assert next(r for r in listed if r["aliases"] == "production")["sha"] == old[:12]
    assert snapshot(reg.root) == files  # the reads took no lock and wrote nothing
    report = reg.verify()  # takes the lock: recovery rolls the move back
    assert report.ok and report.repaired == [
        "rolled back an interrupted alias (restored aliases.json)"
    ]
    assert _view(reg) == before and _cli_list(reg) == listed


def test_a_killed_register_and_retag_are_never_shown(reg, tmp_path):
    before = _view(reg)
    bundle = tiny_bundle(tmp_path / "new", seed=9)
    _killed_before_its_log_line(reg, "register(Path(sys.argv[2]), family='fp32')", str(bundle))
    pending = next(p.stem for p in reg.entries_dir.iterdir() if p.stem not in before["shas"])
    assert _view(reg) == before
    with pytest.raises(RegistryError, match="not registered"):
        reg.entry(pending)
    assert reg.verify().ok and _view(reg) == before

    _killed_before_its_log_line(reg, "retag(sys.argv[2], 'v0.1.0')", reg.resolve("v0.1.1"))
    assert _view(reg) == before
    assert reg.verify().repaired and _view(reg) == before


def test_a_mutation_killed_after_its_log_line_is_shown_as_committed(reg):
    new = reg.resolve("v0.1.1")
    die_after_log_line(reg.root, new)
    assert reg.journal_path.is_file()
    seen = _view(reg)
    assert seen["aliases"] == {"production": new} and seen["history"][-1]["actor"] == "crash"
    assert reg.verify().repaired == [
        "rolled forward an interrupted alias (its log line is in index.jsonl)"
    ]
    assert _view(reg) == seen


def test_an_unreadable_journal_is_named_by_readers_too(reg):
    reg.journal_path.write_text("{not json")
    with pytest.raises(RegistryError, match="unreadable journal"):
        reg.aliases()


# ---------------------------------------------------------------------------------------------
# gc and verify: one rule
# ---------------------------------------------------------------------------------------------


def _objects(reg: Registry, ref: str) -> dict[str, str]:
    return {f["path"]: f["object"] for f in reg.entry(ref)["files"]}


def test_gc_after_a_retag_leaves_an_entry_verify_reports_not_in_this_store(reg, tmp_path):
    spare = reg.resolve("v0.1.1")
    reg.retag("v0.1.0", "v0.1.1")  # the semver moves away: spare is reached by nothing
    spare_objects = _objects(reg, spare)
    shared = set(spare_objects.values()) & {
        key for ref in ("v0.1.0", "v0.2.0") for key in _objects(reg, ref).values()
    }
    assert shared  # e.g. the eval report: gc must keep it for the kept entries
    deleted = reg.gc(dry_run=False)
    assert set(deleted) == set(spare_objects.values()) - shared
    report = reg.verify()
    assert report.ok, report
    assert report.missing == [] and report.absent == [spare]
    cli = subprocess.run(
        [GRAMOPS, "--registry", str(reg.root), "registry", "verify"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"NOT HERE  {spare[:12]} bytes not in this store" in cli.stdout
    assert f"rebuild with: gramops reproduce {spare[:12]}" in cli.stdout
    assert cli.stdout.endswith("ok: 12 objects checked, 1 entry not in this store\n")
    as_json = subprocess.run(
        [GRAMOPS, "--registry", str(reg.root), "registry", "verify", "--json"],
        capture_output=True,
        text=True,
    )
    assert json.loads(as_json.stdout)["absent"] == [spare]
    for ref in ("v0.1.0", "v0.2.0"):  # what gc kept still loads
        reg.materialize(ref, tmp_path / "out" / ref)


def test_a_kept_entry_missing_some_of_its_own_bytes_is_lost_not_absent(reg):
    sha = reg.resolve("v0.2.0")
    weights = _objects(reg, sha)["model.safetensors"]
    Path(reg.objects.path_of(weights)).unlink()  # its manifest and config are still here
    report = reg.verify()
    assert not report.ok and report.absent == []
    assert [(p.sha, p.path) for p in report.missing] == [(sha, "model.safetensors")]


def test_a_kept_entry_with_none_of_its_own_bytes_is_absent_and_shared_bytes_still_count(reg):
    """Registered in another store (a fresh clone): its own objects were never here; the
    objects it shares with entries registered here are."""
    int8 = reg.resolve("v0.2.0")
    fp32 = reg.resolve("v0.1.0")
    own = set(_objects(reg, int8).values()) - {
        key for ref in ("v0.1.0", "v0.1.1") for key in _objects(reg, ref).values()
    }
    for key in own:
        Path(reg.objects.path_of(key)).unlink()
    report = reg.verify()
    assert report.ok and report.absent == [int8] and report.missing == []
    # a shared object going missing is a loss for every entry that still has its own bytes
    shared = _objects(reg, fp32)["eval_report.json"]
    Path(reg.objects.path_of(shared)).unlink()
    report = reg.verify()
    assert not report.ok and report.absent == [int8]
    assert {p.sha for p in report.missing} == {fp32, reg.resolve("v0.1.1")}


def test_tampered_bytes_of_an_entry_gc_would_collect_are_still_tampered(reg):
    spare = reg.resolve("v0.1.1")
    reg.retag("v0.1.0", "v0.1.1")
    weights = Path(reg.objects.path_of(_objects(reg, spare)["model.safetensors"]))
    weights.write_bytes(weights.read_bytes() + b"x")
    report = reg.verify()
    assert not report.ok and [(p.sha, p.path) for p in report.tampered] == [
        (spare, "model.safetensors")
    ]


# ---------------------------------------------------------------------------------------------
# Stray tmp files of killed atomic writes
# ---------------------------------------------------------------------------------------------


def test_a_write_killed_before_its_rename_leaves_no_tmp_file_after_recovery(reg, caplog):
    die_before_tags_rename(reg.root, reg.resolve("v0.1.0"))
    assert (reg.root / "tags.json.tmp").is_file()
    with caplog.at_level(logging.WARNING):
        report = reg.verify()
    assert report.ok and not (reg.root / "tags.json.tmp").exists()
    assert "removed tags.json.tmp" in caplog.text


@pytest.mark.parametrize("take_lock", ["verify", "mutation"])
def test_stray_tmp_files_of_registry_documents_go_and_nothing_else(reg, take_lock, caplog):
    entry_tmp = f"entries/{reg.resolve('v0.1.0')}.json.tmp"
    ours = ["tags.json.tmp", "aliases.json.tmp", ".journal.json.tmp", entry_tmp]
    for name in ours:
        (reg.root / name).write_text('{"half": ')
    theirs = ["notes.tmp", "entries/README.tmp"]
    for name in theirs:
        (reg.root / name).write_text("not ours")
    before = _view(reg)
    if take_lock == "verify":
        assert reg.verify().ok
    else:
        reg.set_alias("staging", "v0.1.1")
    for name in ours:
        assert not (reg.root / name).exists(), name
    for name in theirs:
        assert (reg.root / name).is_file(), name
    assert all(name in caplog.text for name in ours)
    assert reg.verify().ok
    if take_lock == "verify":
        assert _view(reg) == before
