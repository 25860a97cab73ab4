import hashlib
import json
import logging
import multiprocessing
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from gramops.core.fileio import canonical_bytes, write_json
from gramops.models.identity import canonical_sha
from gramops.registry import auditlog
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import CORPUS, tiny_bundle
from helpers.registry import die_after_log_line, die_before_tags_rename, register_tagged

# ---------------------------------------------------------------------------------------------
# The registry store
# ---------------------------------------------------------------------------------------------

INDEX_KEYS = {
    "seq",
    "op",
    "time",
    "actor",
    "sha",
    "semver",
    "alias",
    "new",
    "previous",
    "prev",
    "reason",
    "gate",
    "forced",
}


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", actor="tester")


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the registry, for byte-identical comparisons."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _index_bytes(reg: Registry) -> bytes:
    return reg.index_path.read_bytes() if reg.index_path.exists() else b""


def _family(reg: Registry, tmp_path: Path) -> dict[str, str]:
    """fp32 v0.1.0, int8 v0.2.0 and lora v0.3.0 registered with parent links and tagged."""
    fp32 = register_tagged(reg, tiny_bundle(tmp_path / "fp32"), "fp32", "v0.1.0").sha
    int8 = register_tagged(
        reg, tiny_bundle(tmp_path / "int8", "int8", parent=fp32, seed=2), "int8", "v0.2.0"
    ).sha
    lora = register_tagged(
        reg, tiny_bundle(tmp_path / "lora", "lora", parent=fp32, seed=3), "lora", "v0.3.0"
    ).sha
    return {"fp32": fp32, "int8": int8, "lora": lora}


def test_register_new_bundle_writes_entry_objects_and_one_log_line_and_binds_no_semver(
    reg, tmp_path
):
    bundle = tiny_bundle(tmp_path / "b")
    result = reg.register(bundle, family="fp32")
    assert result.created and result.sha == canonical_sha(bundle) and result.semver is None
    # registering records what exists: no semver is consumed and no alias moves
    assert reg.tags() == {} and reg.aliases() == {}
    entry = reg.entry(result.sha)
    assert entry["family"] == "fp32" and entry["parent_sha"] is None
    assert entry["corpus_dvc_hash"] == CORPUS
    assert [f["path"] for f in entry["files"]] == sorted(f["path"] for f in entry["files"])
    # W1 3×256 + b1 3 + W2 6×3 + b2 6 (the tiny bundle has a real bundle's tensors)
    assert entry["parameters"] == 3 * 256 + 3 + 6 * 3 + 6 and entry["metrics"] == {
        "verb": {"strict_accuracy": 0.5, "pass_rate": 0.9, "count": 4}
    }
    assert entry["size_bytes"] == sum((bundle / f["path"]).stat().st_size for f in entry["files"])
    assert "semver" not in entry and "semvers" not in entry
    for item in entry["files"]:
        assert reg.objects.sha256(item["object"]) == item["object"]
    assert [(r["op"], r["semver"], r["alias"]) for r in reg.history()] == [("register", None, None)]
    with pytest.raises(TypeError, match="seed_semver"):
        reg.register(bundle, family="fp32", seed_semver="v0.1.0")


def test_register_known_sha_returns_existing_entry_without_growing_index(reg, tmp_path):
    first = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0")
    before = _snapshot(reg.root)
    again = reg.register(tiny_bundle(tmp_path / "copy"), family="fp32")
    # a known SHA reports the version it already has
    assert not again.created and again.sha == first.sha and again.semver == "v0.1.0"
    assert again.entry == first.entry and again.restored_objects == 0
    assert _snapshot(reg.root) == before


def test_promote_binds_the_familys_next_patch_in_the_same_record_that_moves_the_alias(
    reg, tmp_path
):
    a = reg.register(tiny_bundle(tmp_path / "a", seed=1), family="fp32").sha
    first = reg.promote(a, reason="first release", first_semver="0.1.0")
    assert (first.sha, first.previous, first.semver, first.changed) == (a, None, "v0.1.0", True)
    assert reg.tags() == {"v0.1.0": a} and reg.aliases() == {"production": a}
    record = reg.history()[-1]
    assert (record["op"], record["sha"], record["semver"], record["alias"]) == (
        "promote",
        a,
        "v0.1.0",
        "production",
    )
    assert (record["new"], record["previous"], record["reason"], record["forced"]) == (
        a,
        None,
        "first release",
        False,
    )
    assert [r["op"] for r in reg.history()] == ["register", "promote"]  # one act, one record
    # a new SHA in the family gets the next patch; first_semver only seeds a new family
    b = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32").sha
    assert reg.next_semver("fp32") == "v0.1.1"
    gate = {"digest": "d" * 64, "decision": "promote", "candidate": b, "judged_head": "h"}
    second = reg.promote(b, reason="better", gate=gate, first_semver="v0.5.0")
    assert (second.semver, second.previous) == ("v0.1.1", a)
    assert reg.history()[-1]["gate"] == gate
    # other families do not move the fp32 line and start at their own first version
    int8 = reg.register(tiny_bundle(tmp_path / "i", "int8", parent=b), family="int8").sha
    staged = reg.promote(int8, alias="staging", reason="canary", first_semver="v0.2.0")
    assert staged.semver == "v0.2.0" and reg.aliases() == {"production": b, "staging": int8}
    assert reg.next_semver("fp32") == "v0.1.2"
    # a patch another family took is skipped: the next free one
    lora = reg.register(tiny_bundle(tmp_path / "l", "lora", parent=b, seed=3), family="lora").sha
    reg.tag(lora, "v0.1.2")
    assert reg.next_semver("fp32") == "v0.1.3"
    # promoting a model that has a version binds none: it is released under its version
    tags = reg.tags()
    back = reg.promote(a, reason="back to the first")
    assert (back.semver, back.previous, back.changed) == ("v0.1.0", b, True)
    assert reg.tags() == tags and reg.history()[-1]["semver"] == "v0.1.0"
    # the alias already holds it, with a version: nothing to write
    lines = len(reg.history())
    assert not reg.promote(a, reason="again").changed
    assert len(reg.history()) == lines
    assert reg.verify().ok


def test_promote_refuses_a_new_family_without_a_free_first_semver_and_writes_nothing(reg, tmp_path):
    fp32 = reg.register(tiny_bundle(tmp_path / "fp32"), family="fp32").sha
    reg.promote(fp32, reason="first", first_semver="v0.1.0")
    int8 = reg.register(tiny_bundle(tmp_path / "i", "int8", parent=fp32), family="int8").sha
    before = _snapshot(reg.root)
    with pytest.raises(RegistryError, match=r"int8 has no semver yet.*release\.first_semver\.int8"):
        reg.promote(int8, reason="no first version")
    with pytest.raises(
        RegistryError, match=r"semver already mapped to a different SHA: v0\.1\.0.*int8"
    ) as err:
        reg.promote(int8, reason="taken first version", first_semver="v0.1.0")
    assert fp32 in str(err.value)
    with pytest.raises(RegistryError, match="not a semver"):
        reg.promote(int8, reason="bad first version", first_semver="0.2")
    assert _snapshot(reg.root) == before
    assert reg.promote(int8, reason="ok", first_semver="v0.2.0").semver == "v0.2.0"


def test_a_bound_semver_is_never_taken_by_a_promotion(reg, tmp_path):
    a = register_tagged(reg, tiny_bundle(tmp_path / "a", seed=1), "fp32", "v0.1.0").sha
    b = register_tagged(reg, tiny_bundle(tmp_path / "b", seed=2), "fp32", "v0.1.1").sha
    c = reg.register(tiny_bundle(tmp_path / "c", seed=3), family="fp32").sha
    reg.retag(b, "v0.1.0")  # both versions now name b: a holds none
    assert reg.promote(c, reason="next").semver == "v0.1.2"
    assert reg.promote(a, reason="a has no version left").semver == "v0.1.3"
    assert reg.tags() == {"v0.1.0": b, "v0.1.1": b, "v0.1.2": c, "v0.1.3": a}
    assert reg.verify().ok


def test_semver_maps_to_one_sha_forever_unless_retag(reg, tmp_path):
    a = reg.register(tiny_bundle(tmp_path / "a", seed=1), family="fp32").sha
    b = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32").sha
    assert reg.tag(a, "1.0.0", reason="hotfix build") == a
    record = reg.history()[-1]
    assert (record["op"], record["semver"], record["sha"], record["reason"]) == (
        "tag",
        "v1.0.0",
        a,
        "hotfix build",
    )
    lines = len(reg.history())
    assert reg.tag(a, "v1.0.0") == a  # same binding again: a no-op, not logged
    assert len(reg.history()) == lines
    before = _snapshot(reg.root)
    with pytest.raises(RegistryError, match="semver already mapped to a different SHA") as err:
        reg.tag(b, "v1.0.0")
    assert "v1.0.0" in str(err.value) and "retag" in str(err.value)
    assert _snapshot(reg.root) == before
    assert reg.resolve("v1.0.0") == a


def test_retag_moves_a_semver_and_records_the_previous_sha(reg, tmp_path):
    a = register_tagged(reg, tiny_bundle(tmp_path / "a", seed=1), "fp32", "v0.1.0").sha
    b = register_tagged(reg, tiny_bundle(tmp_path / "b", seed=2), "fp32", "v0.1.1").sha
    assert reg.retag(b[:10], "v0.1.0", reason="a was mis-tagged") == (b, a)
    assert reg.tags()["v0.1.0"] == b and reg.semvers_of(b) == ["v0.1.0", "v0.1.1"]
    record = reg.history()[-1]
    assert (record["op"], record["semver"], record["new"], record["previous"]) == (
        "retag",
        "v0.1.0",
        b,
        a,
    )
    assert record["reason"] == "a was mis-tagged"
    with pytest.raises(RegistryError, match="not bound.*gramops registry tag"):
        reg.retag(a, "v7.0.0")


def test_alias_set_move_and_rollback_from_the_log(reg, tmp_path):
    shas = _family(reg, tmp_path)
    fp32, int8, lora = shas["fp32"], shas["int8"], shas["lora"]
    assert reg.set_alias("production", "v0.1.0") == (fp32, None)
    assert reg.move_alias("production", "v0.2.0") == (int8, fp32)
    assert reg.move_alias("production", "v0.3.0") == (lora, int8)
    assert reg.rollback(reason="lora regressed") == (int8, lora)
    assert reg.aliases()["production"] == int8
    rec = reg.history()[-1]
    assert (rec["op"], rec["alias"], rec["new"], rec["previous"], rec["reason"]) == (
        "rollback",
        "production",
        int8,
        lora,
        "lora regressed",
    )
    # a second rollback walks further back, then there is nothing left
    assert reg.rollback("production") == (fp32, int8)
    with pytest.raises(RegistryError, match="no earlier holder"):
        reg.rollback("production")
    with pytest.raises(RegistryError, match="does not exist"):
        reg.move_alias("prodution", fp32)
    with pytest.raises(RegistryError, match="not set"):
        reg.rollback("challenger")


def test_rollback_walks_back_over_promotions_and_raw_moves_alike(reg, tmp_path):
    shas = _family(reg, tmp_path)
    fp32, int8, lora = shas["fp32"], shas["int8"], shas["lora"]
    reg.promote(fp32, reason="first")
    reg.set_alias("production", int8)  # a raw move still pushes on the alias's stack
    reg.promote(lora, reason="third")
    assert auditlog.alias_stack(reg.history(), "production") == [fp32, int8, lora]
    assert reg.rollback(reason="lora is slow") == (int8, lora)
    assert reg.rollback(reason="int8 too") == (fp32, int8)
    assert set(auditlog.rolled_back(reg.history())) == {lora, int8}
    assert "lora is slow" in auditlog.rolled_back(reg.history())[lora]
    # promoting a rolled-back model again lifts its rollback verdict
    reg.promote(lora, reason="fixed the latency")
    assert set(auditlog.rolled_back(reg.history())) == {int8}
    assert reg.verify().ok


def test_rollback_refuses_when_aliases_file_disagrees_with_the_log(reg, tmp_path):
    shas = _family(reg, tmp_path)
    reg.set_alias("production", shas["fp32"])
    reg.set_alias("production", shas["int8"])
    write_json(reg.aliases_path, {"production": shas["lora"]})  # a hand edit
    with pytest.raises(RegistryError, match="verify"):
        reg.rollback()


@pytest.mark.parametrize("name", ["deadbeef", "cafe", "v1", "v2-0", "Production", "1st", "a.b", ""])
def test_alias_names_that_would_read_as_another_ref_are_refused(reg, tmp_path, name):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    with pytest.raises(RegistryError, match="not a valid alias"):
        reg.set_alias(name, sha)


def test_every_index_line_is_canonical_chained_with_op_time_actor_new_and_previous(reg, tmp_path):
    shas = _family(reg, tmp_path)
    reg.tag(shas["fp32"], "v1.0.0")
    reg.retag(shas["int8"], "v1.0.0", reason="int8 is the 1.0 build")
    reg.set_alias("production", shas["fp32"])
    gate = {"digest": "d" * 64, "decision": "promote", "candidate": shas["int8"]}
    reg.promote(shas["int8"], reason="passed the gate", gate=gate)
    reg.rollback(reason="paged at night")
    reg.annotate(shas["fp32"], "mlflow", {"registered_model": "gramops-fp32", "version": "1"})
    lines = reg.index_path.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["op"] for r in records] == [
        "register",
        "tag",
        "register",
        "tag",
        "register",
        "tag",
        "tag",
        "retag",
        "alias",
        "promote",
        "rollback",
        "annotate",
    ]
    for number, (line, record) in enumerate(zip(lines, records, strict=True), start=1):
        assert set(record) == INDEX_KEYS
        assert line == canonical_bytes(record)
        assert record["seq"] == number and record["actor"] == "tester"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["time"])
        assert record["new"] is not None
        # each line links to the bytes of the line before it (the first to the genesis link)
        expected = hashlib.sha256(lines[number - 2]).hexdigest() if number > 1 else "0" * 64
        assert record["prev"] == expected
    assert auditlog.check_chain(lines, records) is None
    assert records[7]["previous"] == shas["fp32"] and records[9]["previous"] == shas["fp32"]
    assert records[11]["previous"] is None  # a new pointer: the entry had none
    # why and on what decision: only the acts that carry them say so
    assert [r["reason"] for r in records[7:11]] == [
        "int8 is the 1.0 build",
        None,
        "passed the gate",
        "paged at night",
    ]
    assert [r["gate"] for r in records] == [None] * 9 + [gate, None, None]
    assert not any(r["forced"] for r in records)
    assert reg.verify().ok


def _unchained(reg: Registry) -> list[bytes]:
    """Rewrite the log as it was before the hash chain: no prev, reason, gate or forced."""
    legacy = [
        canonical_bytes(
            {
                k: v
                for k, v in json.loads(line).items()
                if k not in ("prev", "reason", "gate", "forced")
            }
        )
        for line in reg.index_path.read_bytes().splitlines()
    ]
    reg.index_path.write_bytes(b"".join(line + b"\n" for line in legacy))
    return legacy


def test_a_legacy_log_is_sealed_once_by_a_chain_record_before_the_first_new_one(reg, tmp_path):
    shas = _family(reg, tmp_path)
    reg.set_alias("production", shas["fp32"])
    legacy = _unchained(reg)
    assert reg.verify().ok  # an all-legacy log is valid as it is
    reg.promote(shas["int8"], reason="first chained act")
    records = reg.history()
    assert [r["op"] for r in records[len(legacy) :]] == ["chain", "promote"]
    chain = records[len(legacy)]
    assert chain["new"] == {
        "legacy_records": len(legacy),
        "legacy_sha256": hashlib.sha256(b"".join(line + b"\n" for line in legacy)).hexdigest(),
    }
    assert chain["prev"] == hashlib.sha256(legacy[-1]).hexdigest()
    assert chain["seq"] == len(legacy) + 1 and records[-1]["seq"] == len(legacy) + 2
    reg.rollback(reason="once only")
    assert [r["op"] for r in reg.history()].count("chain") == 1
    assert reg.verify().ok
    # the sealed lines are covered too: changing one breaks the chain record's digest
    lines = reg.index_path.read_bytes().splitlines()
    lines[0] = lines[0].replace(b'"actor":"tester"', b'"actor":"mallory"')
    reg.index_path.write_bytes(b"".join(line + b"\n" for line in lines))
    errors = reg.verify().errors
    assert any("hash chain breaks" in e and "does not seal lines" in e for e in errors), errors


def test_rewriting_a_chained_line_is_named_by_verify(reg, tmp_path):
    shas = _family(reg, tmp_path)
    reg.promote(shas["fp32"], reason="genuine")
    reg.promote(shas["int8"], reason="genuine too")
    lines = reg.index_path.read_bytes().splitlines()
    record = json.loads(lines[6])
    assert record["op"] == "promote"
    lines[6] = canonical_bytes({**record, "reason": "rewritten later"})
    reg.index_path.write_bytes(b"".join(line + b"\n" for line in lines))
    errors = reg.verify().errors
    assert any("hash chain breaks" in e and "line 7 was changed" in e for e in errors), errors


def _judged(state: dict) -> dict:
    """The part of ``state()`` the contract names (the lead may add more beside it)."""
    return {k: state[k] for k in ("records", "seq", "head", "aliases", "production")}


def test_state_names_the_log_head_and_changes_with_every_record(reg, tmp_path):
    assert _judged(reg.state()) == {
        "records": 0,
        "seq": 0,
        "head": auditlog.GENESIS,
        "aliases": {},
        "production": None,
    }
    shas = _family(reg, tmp_path)
    reg.promote(shas["int8"], reason="release")
    state = reg.state()
    last = reg.index_path.read_bytes().splitlines()[-1]
    assert _judged(state) == {
        "records": 7,
        "seq": 7,
        "head": hashlib.sha256(last).hexdigest(),
        "aliases": {"production": shas["int8"]},
        "production": shas["int8"],
    }
    reg.register(tiny_bundle(tmp_path / "again"), family="fp32")  # known SHA: nothing written
    assert reg.state() == state
    reg.tag(shas["lora"], "v9.0.0")  # moves no alias, but the registry changed
    assert reg.state()["head"] != state["head"] and reg.state()["seq"] == 8


def test_actor_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAMOPS_ACTOR", "stage:register")
    registry = Registry(tmp_path / "registry")
    registry.register(tiny_bundle(tmp_path / "a"), family="fp32")
    assert registry.history()[0]["actor"] == "stage:register"
    entry = next(iter(registry.entries().values()))
    assert entry["registered_by"] == "stage:register"


def test_annotate_sets_pointers_once_and_refuses_identity_fields(reg, tmp_path):
    sha = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0").sha
    pointer = {"registered_model": "gramops-fp32", "version": "1"}
    assert reg.annotate("v0.1.0", "mlflow", pointer)["mlflow"] == pointer
    before = _snapshot(reg.root)
    reg.annotate(sha, "mlflow", dict(reversed(pointer.items())))  # same value: no write
    assert _snapshot(reg.root) == before
    for key in ("sha", "files", "family", "parent_sha"):
        with pytest.raises(RegistryError, match="refused"):
            reg.annotate(sha, key, "x")
    assert reg.verify().ok


def test_crash_between_tmp_write_and_replace_leaves_the_old_file_valid(reg, tmp_path, caplog):
    sha = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0").sha
    before = _snapshot(reg.root)
    die_before_tags_rename(reg.root, sha)
    assert json.loads((reg.root / "tags.json.tmp").read_text()) == {"v0.1.0": sha, "v9.0.0": sha}
    journal = json.loads(reg.journal_path.read_text())
    assert journal["op"] == "tag" and journal["previous"] == {
        "tags.json": before["tags.json"].decode()
    }
    after = _snapshot(reg.root)
    del after["tags.json.tmp"], after[".journal.json"]
    assert after == before
    assert reg.tags() == {"v0.1.0": sha}  # a lock-free read sees the old file
    # the dead process released its lock; the next mutation rolls the journaled one back
    with caplog.at_level(logging.WARNING):
        assert reg.tag(sha, "v9.0.0") == sha
    assert "rolled back an interrupted tag" in caplog.text
    assert reg.history()[-1]["seq"] == 3 and not reg.journal_path.exists()
    assert reg.verify().ok


def test_a_failing_mutation_undoes_its_own_writes(reg, tmp_path, monkeypatch):
    a = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    reg.promote(a, reason="first", first_semver="v0.1.0")
    before = _snapshot(reg.root)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    def metadata(snapshot: dict[str, bytes]) -> dict[str, bytes]:
        return {k: v for k, v in snapshot.items() if not k.startswith("objects/")}

    monkeypatch.setattr(Registry, "_append", disk_full)
    with pytest.raises(OSError, match="No space"):
        reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32")
    assert metadata(_snapshot(reg.root)) == metadata(before)
    monkeypatch.undo()
    b = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32")
    assert b.created and b.semver is None
    before = _snapshot(reg.root)
    # a promotion writes two documents (aliases.json, tags.json): both are undone
    monkeypatch.setattr(Registry, "_append", disk_full)
    with pytest.raises(OSError, match="No space"):
        reg.promote(b.sha, reason="disk fills up")
    assert _snapshot(reg.root) == before
    monkeypatch.undo()
    assert reg.promote(b.sha, reason="retry").semver == "v0.1.1"  # the failure burnt no semver


def test_register_killed_before_its_log_line_is_rolled_back_by_verify(reg, tmp_path):
    first = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    before = {k: v for k, v in _snapshot(reg.root).items() if not k.startswith("objects/")}
    bundle = tiny_bundle(tmp_path / "b", seed=2)
    crash = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gramops.registry.store import Registry\n"
        "import os\n"
        "Registry._append = lambda *args, **kwargs: os._exit(17)  # die before the log line\n"
        "Registry(Path(sys.argv[1])).register("
        "Path(sys.argv[2]), family='fp32')\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", crash, str(reg.root), str(bundle)], capture_output=True, text=True
    )
    assert child.returncode == 17, child.stderr
    sha = canonical_sha(bundle)
    # the entry file is on disk, its log line is not: lock-free reads already show what
    # recovery restores, the register did not happen
    assert reg.entry_path(sha).is_file()
    assert reg.shas() == [first]
    assert len(reg.history()) == 1
    with pytest.raises(RegistryError, match="not registered"):
        reg.resolve(sha)
    report = reg.verify()
    assert report.ok, report.errors
    assert report.repaired == [f"rolled back an interrupted register (restored entries/{sha}.json)"]
    after = {k: v for k, v in _snapshot(reg.root).items() if not k.startswith("objects/")}
    assert after == before  # the orphaned objects are harmless: gc collects them
    result = reg.register(bundle, family="fp32")
    assert result.created and result.semver is None
    assert [(r["op"], r["sha"]) for r in reg.history()][-1] == ("register", sha)
    assert reg.verify().ok and reg.verify().repaired == []


def test_promote_killed_before_its_log_line_is_rolled_back_and_burns_no_semver(reg, tmp_path):
    a = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    reg.promote(a, reason="first", first_semver="v0.1.0")
    b = reg.register(tiny_bundle(tmp_path / "b", seed=2), family="fp32").sha
    before = _snapshot(reg.root)
    crash = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from gramops.registry.store import Registry\n"
        "Registry._append = lambda *args, **kwargs: os._exit(17)  # die before the log line\n"
        "Registry(Path(sys.argv[1]), actor='crash').promote(sys.argv[2], reason='dies')\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", crash, str(reg.root), b], capture_output=True, text=True
    )
    assert child.returncode == 17, child.stderr
    assert json.loads(reg.journal_path.read_text())["op"] == "promote"
    report = reg.verify()
    assert report.ok, report.errors
    assert report.repaired == [
        "rolled back an interrupted promote (restored aliases.json, tags.json)"
    ]
    assert _snapshot(reg.root) == before
    result = reg.promote(b, reason="again")
    assert (result.semver, result.previous) == ("v0.1.1", a)
    assert reg.verify().ok


def test_mutation_killed_after_its_log_line_is_rolled_forward(reg, tmp_path, caplog):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    die_after_log_line(reg.root, sha)
    assert reg.journal_path.is_file()
    with caplog.at_level(logging.WARNING):
        report = reg.verify()
    assert report.ok and report.repaired == [
        "rolled forward an interrupted alias (its log line is in index.jsonl)"
    ]
    assert "rolled forward" in caplog.text and not reg.journal_path.exists()
    assert reg.aliases() == {"production": sha} and reg.history()[-1]["actor"] == "crash"


def test_a_torn_last_index_line_is_ignored_then_dropped(reg, tmp_path, caplog):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    with reg.index_path.open("ab") as fh:
        fh.write(b'{"seq":2,"op":"tag","ti')
    with caplog.at_level(logging.WARNING):
        assert [r["seq"] for r in reg.history()] == [1]
    assert "torn" in caplog.text
    assert any("torn" in e for e in reg.verify().errors)
    reg.set_alias("production", sha)
    assert [r["seq"] for r in reg.history()] == [1, 2]
    assert all(json.loads(line) for line in reg.index_path.read_bytes().splitlines())
    assert reg.verify().ok


def test_appends_find_the_last_record_behind_lines_longer_than_a_read_block(reg, tmp_path):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    reg.annotate(sha, "notes", "x" * 200_000)
    with reg.index_path.open("ab") as fh:
        fh.write(b'{"seq":3,' + b"y" * 150_000)  # a long torn line, no newline
    reg.set_alias("production", sha)
    assert [r["seq"] for r in reg.history()] == [1, 2, 3]
    assert reg.history()[-1]["op"] == "alias"


def test_a_corrupt_line_in_the_middle_of_the_index_is_an_error(reg, tmp_path):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    reg.set_alias("production", sha)
    lines = reg.index_path.read_bytes().splitlines(keepends=True)
    reg.index_path.write_bytes(b"{not json\n" + lines[1])
    with pytest.raises(RegistryError, match="line 1 is not valid JSON"):
        reg.history()


def _concurrent_worker(root: str, bundle: str, index: int, barrier) -> None:
    registry = Registry(Path(root), actor=f"worker{index}")
    barrier.wait()
    sha = registry.register(Path(bundle), family="fp32").sha
    registry.set_alias("challenger", sha)
    registry.promote(sha, reason=f"worker {index}", first_semver="v0.1.0")
    registry.tag(sha, f"v9.{index}.0")


def test_concurrent_processes_lose_no_update_and_log_every_op_once(reg, tmp_path):
    workers = 6
    bundles = [tiny_bundle(tmp_path / f"b{i}", seed=i) for i in range(workers)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_concurrent_worker, args=(str(reg.root), str(b), i, barrier))
        for i, b in enumerate(bundles)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0] * workers
    records = reg.history()
    assert [r["seq"] for r in records] == list(range(1, 4 * workers + 1))
    shas = {canonical_sha(b) for b in bundles}
    for op in ("register", "alias", "promote", "tag"):
        assert sorted(r["sha"] for r in records if r["op"] == op) == sorted(shas)
    tags = reg.tags()
    # every promotion bound its own next patch (none was bound twice) and kept it
    promoted = [(r["semver"], r["sha"]) for r in records if r["op"] == "promote"]
    assert len({semver for semver, _ in promoted}) == workers
    assert all(tags[semver] == sha for semver, sha in promoted)
    assert not {semver for semver, _ in promoted} & {f"v9.{i}.0" for i in range(workers)}
    assert all(tags[f"v9.{i}.0"] == canonical_sha(bundles[i]) for i in range(workers))
    # every alias move recorded the holder it replaced: the moves form one unbroken chain
    for alias in ("challenger", "production"):
        moves = auditlog.alias_moves(records, alias)
        assert len(moves) == workers
        assert [m["previous"] for m in moves] == [None] + [m["new"] for m in moves[:-1]]
        assert reg.aliases()[alias] == moves[-1]["new"]
    assert reg.verify().ok


def test_refs_resolve_full_short_semver_and_alias(reg, tmp_path):
    sha = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0").sha
    reg.set_alias("production", sha)
    for ref in (sha, sha.upper(), sha[:8], sha[:20], "v0.1.0", "0.1.0", " production "):
        assert reg.resolve(ref) == sha, ref
    with pytest.raises(RegistryError, match=f"short SHA '{sha[:7]}' has 7 hex digits"):
        reg.resolve(sha[:7])
    with pytest.raises(RegistryError, match="semver v0.9.0 is not tagged.*v0.1.0"):
        reg.resolve("0.9.0")
    with pytest.raises(RegistryError, match="unknown ref 'staging'.*aliases: production"):
        reg.resolve("staging")
    with pytest.raises(RegistryError, match=f"SHA {'0' * 64} is not registered"):
        reg.resolve("0" * 64)
    with pytest.raises(RegistryError, match="no registered SHA starts with"):
        reg.resolve("0" * 12)


def test_ambiguous_short_sha_lists_the_candidates(reg):
    reg.entries_dir.mkdir(parents=True)
    twins = ["abcdef12" + "0" * 56, "abcdef12" + "1" * 56]
    for sha in twins:
        reg.entry_path(sha).write_text("{}")
    with pytest.raises(RegistryError, match="ambiguous.*2 entries") as err:
        reg.resolve("abcdef12")
    assert all(sha in str(err.value) for sha in twins)
    assert reg.resolve("abcdef120") == twins[0]


def test_resolve_reads_no_entry_files_with_ten_thousand_entries(reg, monkeypatch):
    # Resolving must stay cheap as the registry grows: only tags, aliases and file names.
    # (Its speed is measured by benchmarks/, not asserted here.)
    reg.entries_dir.mkdir(parents=True)
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(10_000)]
    for sha in shas:
        reg.entry_path(sha).touch()
    write_json(reg.tags_path, {f"v1.0.{i}": sha for i, sha in enumerate(shas)})
    write_json(reg.aliases_path, {"production": shas[42]})

    def no_entry_reads(*args, **kwargs):
        raise AssertionError("resolve read an entry file")

    monkeypatch.setattr(Registry, "_load_entry", no_entry_reads)
    for ref, expected in (
        (shas[7][:10], shas[7]),
        ("v1.0.9999", shas[-1]),
        ("production", shas[42]),
    ):
        assert reg.resolve(ref) == expected


def test_lineage_walks_int8_and_lora_to_fp32_and_the_corpus(reg, tmp_path):
    shas = _family(reg, tmp_path)
    reg.set_alias("production", shas["fp32"])
    for child in ("int8", "lora"):
        chain = reg.lineage(shas[child][:12])
        assert [n["kind"] for n in chain] == ["model", "model", "corpus"]
        assert [n.get("sha") for n in chain[:2]] == [shas[child], shas["fp32"]]
        assert [n["family"] for n in chain[:2]] == [child, "fp32"]
        assert chain[1]["semvers"] == ["v0.1.0"] and chain[1]["aliases"] == ["production"]
        assert chain[-1] == {"kind": "corpus", "dvc_hash": CORPUS}
    assert reg.lineage("production") == [reg.lineage("v0.3.0")[1], reg.lineage("v0.3.0")[2]]


def test_register_refuses_unregistered_parents_and_wrong_families(reg, tmp_path):
    fp32 = canonical_sha(tiny_bundle(tmp_path / "fp32"))
    with pytest.raises(RegistryError, match="parent .* is not registered.*register the parent"):
        reg.register(tiny_bundle(tmp_path / "int8", "int8", parent=fp32), family="int8")
    with pytest.raises(RegistryError, match="no parent_sha"):
        reg.register(tiny_bundle(tmp_path / "orphan", "int8"), family="int8")
    with pytest.raises(RegistryError, match="says family 'fp32'"):
        reg.register(tmp_path / "fp32", family="int8")
    with pytest.raises(RegistryError, match="family 'fp16' is not one of"):
        reg.register(tmp_path / "fp32", family="fp16")
    with pytest.raises(RegistryError, match="not a semver"):
        reg.tag("0" * 64, "0.1")
    assert not reg.root.exists() or not reg.index_path.exists()


def test_verify_tells_missing_from_tampered_and_reports_edited_entries(reg, tmp_path):
    shas = _family(reg, tmp_path)
    report = reg.verify()
    assert report.ok and report.checked == 12, report
    fp32 = reg.entry(shas["fp32"])
    weights = next(f for f in fp32["files"] if f["path"] == "model.safetensors")
    config = next(f for f in reg.entry(shas["lora"])["files"] if f["path"] == "adapter.safetensors")
    Path(reg.objects.path_of(weights["object"])).unlink()
    stored = Path(reg.objects.path_of(config["object"]))
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    stored.write_bytes(bytes(raw))
    report = reg.verify()
    assert not report.ok
    assert report.missing == [(shas["fp32"], "model.safetensors", weights["object"])]
    assert report.tampered == [(shas["lora"], "adapter.safetensors", config["object"])]
    assert report.errors == []
    # an entry whose files list was edited no longer hashes to its SHA
    entry = reg.entry(shas["int8"])
    entry["files"][0]["sha256"] = "0" * 64
    write_json(reg.entry_path(shas["int8"]), entry)
    errors = reg.verify().errors
    assert len(errors) == 1 and shas["int8"] in errors[0] and "edited" in errors[0]


def test_verify_reports_hand_edited_bindings(reg, tmp_path):
    shas = _family(reg, tmp_path)
    write_json(reg.tags_path, {**reg.tags(), "v0.1.0": shas["lora"], "v8.0.0": "f" * 64})
    errors = reg.verify().errors
    assert any("v8.0.0" in e and "not registered" in e for e in errors)
    assert any("tags.json differs" in e and "v0.1.0" in e for e in errors)


def test_materialize_loads_by_ref_and_refuses_a_tampered_object(reg, tmp_path):
    shas = _family(reg, tmp_path)
    out = reg.materialize("v0.3.0", tmp_path / "out")
    assert canonical_sha(out) == shas["lora"]
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter.safetensors",
        "config.json",
        "eval_report.json",
        "train_manifest.json",
    ]
    weights = next(f for f in reg.entry("v0.1.0")["files"] if f["path"] == "model.safetensors")
    stored = Path(reg.objects.path_of(weights["object"]))
    raw = bytearray(stored.read_bytes())
    raw[-1] ^= 0x01
    stored.write_bytes(bytes(raw))
    dest = tmp_path / "refused"
    with pytest.raises(RegistryError, match="model.safetensors is tampered"):
        reg.materialize("v0.1.0", dest)
    assert list(dest.iterdir()) == []  # nothing half-loaded, not even the good files
    stored.unlink()
    with pytest.raises(RegistryError, match="missing.*re-register"):
        reg.materialize("v0.1.0", dest)
    with pytest.raises(RegistryError, match="adapter.safetensors"):
        reg.materialize("v0.1.0", out)  # a lora bundle's adapter would make it two models


def test_reregistering_restores_deleted_objects_without_growing_the_index(reg, tmp_path):
    shas = _family(reg, tmp_path)
    before = _snapshot(reg.root)
    shutil.rmtree(reg.root / "objects")
    # what a fresh clone looks like (objects are not in git): not here, not lost
    report = reg.verify()
    assert report.ok and report.missing == [] and report.absent == sorted(shas.values())
    restored = 0
    for family in ("fp32", "int8", "lora"):
        result = reg.register(tmp_path / family, family=family)
        assert not result.created and result.sha == shas[family]
        restored += result.restored_objects
        if family == "fp32":  # the shared eval report is back, int8 and lora still absent
            report = reg.verify()
            assert report.ok and report.absent == sorted([shas["int8"], shas["lora"]])
    # eval reports are shared between the three entries: one object, restored once
    assert restored == len({f["object"] for sha in shas.values() for f in reg.entry(sha)["files"]})
    assert _snapshot(reg.root) == before
    for key in reg.objects.list_keys():
        assert hashlib.sha256(Path(reg.objects.path_of(key)).read_bytes()).hexdigest() == key
    assert reg.verify().ok


def test_restore_accepts_reserialised_json_only_when_it_reproduces_the_object(reg, tmp_path):
    bundle = tiny_bundle(tmp_path / "a")
    sha = reg.register(bundle, family="fp32").sha
    shutil.rmtree(reg.root / "objects")
    config = json.loads((bundle / "config.json").read_text())
    (bundle / "config.json").write_text(json.dumps(config))  # same identity, other bytes
    assert reg.register(bundle, family="fp32").restored_objects == 4
    assert reg.verify().ok
    assert canonical_sha(reg.materialize(sha, tmp_path / "out")) == sha


def test_gc_lists_unreferenced_objects_and_deletes_only_with_dry_run_false(reg, tmp_path):
    shas = _family(reg, tmp_path)
    spare = register_tagged(reg, tiny_bundle(tmp_path / "spare", seed=9), "fp32", "v0.1.1")
    # untag the spare; untag fp32 too, which stays kept as the parent of int8 and lora
    reg.retag(shas["int8"], "v0.1.1")
    reg.retag(shas["lora"], "v0.1.0")
    stray = reg.objects.put_bytes(b"left over by an interrupted register")
    kept_objects = {f["object"] for sha in shas.values() for f in reg.entry(sha)["files"]}
    expected = sorted({f["object"] for f in reg.entry(spare.sha)["files"]} - kept_objects | {stray})
    keys_before = reg.objects.list_keys()
    assert reg.gc() == expected and len(expected) >= 3
    assert reg.objects.list_keys() == keys_before
    assert reg.gc(dry_run=False) == expected
    assert reg.objects.list_keys() == sorted(set(keys_before) - set(expected))
    assert not any(p.entry_sha != spare.sha for p in _missing(reg))
    for sha in shas.values():
        reg.materialize(sha, tmp_path / "check" / sha[:8])


class _Missing(NamedTuple):
    entry_sha: str
    path: str


def _missing(reg: Registry) -> list[_Missing]:
    return [_Missing(p.sha, p.path) for p in reg.verify().missing]


def test_objects_can_live_behind_any_fsspec_url(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAMOPS_REGISTRY_OBJECTS", f"memory://{tmp_path.name}/objects")
    registry = Registry(tmp_path / "registry", actor="tester")
    sha = registry.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    assert not (tmp_path / "registry" / "objects").exists()
    assert len(registry.objects.list_keys()) == 4
    assert canonical_sha(registry.materialize(sha, tmp_path / "out")) == sha
    assert registry.verify().ok


def test_mlflow_round_trip_keeps_the_sha(reg, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    bundle = tiny_bundle(tmp_path / "bundle")
    sha = reg.register(bundle, family="fp32").sha
    before = _index_bytes(reg)
    experiment = mlflow.create_experiment(
        "registry-roundtrip", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(bundle), artifact_path="bundle")
    downloaded = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="bundle", dst_path=str(tmp_path / "download")
        )
    )
    assert downloaded.resolve() != bundle.resolve()
    again = reg.register(downloaded, family="fp32")
    assert again.sha == sha and not again.created
    assert _index_bytes(reg) == before


def test_objects_present_tells_whether_this_store_has_an_entrys_bytes(reg, tmp_path):
    sha = reg.register(tiny_bundle(tmp_path / "fp32"), family="fp32").sha
    assert reg.objects_present(sha)
    shutil.rmtree(reg.root / "objects")
    assert not reg.objects_present(sha)


def test_register_pending_previews_without_writing(reg, tmp_path):
    first = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0")
    before = {p.name: p.read_bytes() for p in reg.root.rglob("*") if p.is_file()}
    known = reg.register_pending(tiny_bundle(tmp_path / "a2"), family="fp32")
    assert (known.sha, known.semver, known.created) == (first.sha, "v0.1.0", False)
    new = reg.register_pending(tiny_bundle(tmp_path / "b", seed=2), family="fp32")
    # a new SHA would be registered untagged: only a promotion gives it a version
    assert new.created and new.semver is None and new.sha != first.sha
    with pytest.raises(RegistryError, match="no parent_sha"):
        reg.register_pending(tiny_bundle(tmp_path / "orphan", "int8"), family="int8")
    assert {p.name: p.read_bytes() for p in reg.root.rglob("*") if p.is_file()} == before


def test_the_registry_root_comes_from_gramops_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAMOPS_REGISTRY", str(tmp_path / "team"))
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(actor="tester")
    sha = register_tagged(reg, tiny_bundle(tmp_path / "a"), "fp32", "v0.1.0").sha
    assert reg.root == tmp_path / "team" and reg.objects_url == str(tmp_path / "team" / "objects")
    assert json.loads((tmp_path / "team" / "tags.json").read_text()) == {"v0.1.0": sha}
    with pytest.raises(RegistryError, match=r"'memory://r'.*local directory or on s3://"):
        Registry("memory://r")


def test_a_torn_tail_left_before_a_mutation_is_dropped_before_it_is_journaled(reg, tmp_path):
    sha = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    clean = reg.index_path.read_bytes()
    with reg.index_path.open("ab") as fh:
        fh.write(b'{"seq":2,"op":"al')
    die_after_log_line(reg.root, sha)
    assert json.loads(reg.journal_path.read_text())["index_size"] == len(clean)
    report = reg.verify()
    assert report.ok and report.repaired[0].startswith("rolled forward"), report.errors
    assert [r["seq"] for r in reg.history()] == [1, 2]


def test_family_names_resolve_to_the_newest_entry_of_the_family(tmp_path):
    from gramops.cli import main

    reg = Registry(tmp_path / "registry", actor="tester")
    first = reg.register(tiny_bundle(tmp_path / "a"), family="fp32").sha
    int8 = reg.register(
        tiny_bundle(tmp_path / "q", "int8", parent=first, seed=2), family="int8"
    ).sha
    newest = reg.register(tiny_bundle(tmp_path / "b", seed=5), family="fp32").sha
    assert reg.resolve("fp32") == newest != first
    assert reg.resolve("int8") == int8
    assert reg.lineage("int8")[1]["sha"] == first
    with pytest.raises(RegistryError, match="family lora has no registered entry"):
        reg.resolve("lora")
    # every CLI ref goes through resolve: a family name works as one
    assert main(["--registry", str(reg.root), "registry", "tag", "fp32", "v1.0.0"]) == 0
    assert reg.tags()["v1.0.0"] == newest
