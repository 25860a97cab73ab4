"""Registry refs or entries that match nothing, several things, or escape the object store are
refused naming them, and the registry is left byte-identical.

Part of the reliability tier (bad input of every kind), split by the module it attacks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gramops.models.identity import manifest_sha
from gramops.registry.store import Registry, RegistryError
from helpers.bundles import tiny_bundle

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "wordnet"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# Registry refs and entries
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", r"empty ref"),
        ("   ", r"empty ref"),
        ("0123456789abcdef", r"no registered SHA starts with '0123456789abcdef'"),
        ("f" * 64, r"SHA f{64} is not registered"),
        ("abc", r"short SHA 'abc' has 3 hex digits; give at least 8"),
        ("v9.9.9", r"semver v9\.9\.9 is not tagged .*tagged: v0\.1\.0, v0\.2\.0, v0\.3\.0"),
        ("1.2", r"unknown ref '1\.2'"),
        ("v1.2", r"unknown ref 'v1\.2'"),
        ("v1.2.3.4", r"unknown ref 'v1\.2\.3\.4'"),
        ("01.2.3", r"unknown ref '01\.2\.3'"),
        ("v0.1.0-rc1", r"unknown ref 'v0\.1\.0-rc1'"),
        ("staging", r"unknown ref 'staging'.*aliases: production"),
        ("PRODUCTION", r"unknown ref 'PRODUCTION'"),
        ("../../etc/passwd", r"unknown ref '\.\./\.\./etc/passwd'"),
        ("g" * 12, r"unknown ref 'g{12}'"),
    ],
)
def test_refs_that_match_nothing_name_the_ref(populated_registry, snap, ref, message):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=message):
        populated_registry.resolve(ref)
    assert snap(populated_registry.root) == before


def test_an_ambiguous_prefix_lists_every_candidate(tmp_path, snap):
    reg = Registry(tmp_path / "registry", actor="tester")
    reg.entries_dir.mkdir(parents=True)
    twins = ["deadbeef" + "0" * 56, "deadbeef" + "1" * 56, "deadbeef" + "2" * 56]
    for sha in twins:
        reg.entry_path(sha).write_text("{}")
    before = snap(reg.root)
    for prefix in ("deadbeef", "DEADBEEF"):
        with pytest.raises(RegistryError, match=r"ambiguous, it matches 3 entries") as info:
            reg.resolve(prefix)
        assert all(sha in str(info.value) for sha in twins)
    assert snap(reg.root) == before


SEMVER_OPS: dict[str, Callable[[Registry, str], Any]] = {
    "tag": lambda reg, v: reg.tag("v0.1.0", v),
    "retag": lambda reg, v: reg.retag("v0.1.0", v),
}
NOT_SEMVERS = ["1.2", "v1.2.3.4", "01.2.3", "v1.02.3", "v-1.0.0", "latest", "", "V1.2.3"]


@pytest.mark.parametrize("op", sorted(SEMVER_OPS))
@pytest.mark.parametrize("semver", NOT_SEMVERS)
def test_a_semver_that_is_not_semver_changes_nothing(populated_registry, snap, op, semver):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=r"is not a semver: use vMAJOR\.MINOR\.PATCH") as info:
        SEMVER_OPS[op](populated_registry, semver)
    assert repr(semver) in str(info.value)
    assert snap(populated_registry.root) == before


@pytest.fixture(scope="module")
def untagged_registry(tmp_path_factory):
    """A registry with one registered fp32 entry and no semver yet (read-only)."""
    tmp = tmp_path_factory.mktemp("untagged")
    reg = Registry(tmp / "registry", actor="tester")
    reg.register(tiny_bundle(tmp / "fp32", "fp32", seed=1), family="fp32")
    return reg


@pytest.mark.parametrize("semver", NOT_SEMVERS)
def test_a_first_semver_that_is_not_semver_promotes_nothing(untagged_registry, snap, semver):
    """The family's first version comes from params (release.first_semver) at promotion."""
    reg = untagged_registry
    before = snap(reg.root)
    with pytest.raises(RegistryError, match=r"is not a semver: use vMAJOR\.MINOR\.PATCH") as info:
        reg.promote(reg.shas()[0], reason="first release", first_semver=semver)
    assert repr(semver) in str(info.value)
    assert snap(reg.root) == before


@pytest.mark.parametrize(
    "name", ["Production", "deadbeef", "v2", "v1.2.3", "prod uction", "-x", ""]
)
def test_an_alias_that_could_read_as_another_ref_changes_nothing(populated_registry, snap, name):
    before = snap(populated_registry.root)
    with pytest.raises(RegistryError, match=r"is not a valid alias"):
        populated_registry.set_alias(name, "v0.1.0")
    assert snap(populated_registry.root) == before


def _forged_entry(reg: Registry, make_bundle, tmp_path: Path, edit: Callable[[dict], None]) -> str:
    """Register a real bundle, then store an edited copy of its entry under the SHA the edit
    hashes to: a self-consistent forgery, so only the shape checks can refuse it."""
    sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
    entry = json.loads(reg.entry_path(sha).read_text())
    edit(entry)
    forged = manifest_sha([(f["path"], f["sha256"]) for f in entry["files"]], entry["parent_sha"])
    entry["sha"] = forged
    reg.entry_path(forged).write_text(json.dumps(entry))
    return forged


ENTRY_EDITS = {
    "dotdot-path": lambda e: e["files"][0].update(path="../x"),
    "nested-dotdot": lambda e: e["files"][0].update(path="sub/../../x"),
    "absolute-path": lambda e: e["files"][0].update(path="/tmp/x"),
    "hidden-path": lambda e: e["files"][0].update(path=".bashrc"),
    "object-short": lambda e: e["files"][0].update(object="abc"),
    "object-traversal": lambda e: e["files"][0].update(object="../" + "a" * 61),
    "object-uppercase": lambda e: e["files"][0].update(object=e["files"][0]["object"].upper()),
    "files-not-a-list": lambda e: e.update(files={"path": "config.json"}),
}


@pytest.mark.parametrize("edit", sorted(ENTRY_EDITS))
def test_entries_whose_files_escape_the_store_are_refused_naming_the_entry(
    tmp_path, make_bundle, snap, monkeypatch, edit
):
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(tmp_path / "registry", actor="tester")
    if edit == "files-not-a-list":
        sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
        entry = json.loads(reg.entry_path(sha).read_text())
        ENTRY_EDITS[edit](entry)
        reg.entry_path(sha).write_text(json.dumps(entry))
    else:
        sha = _forged_entry(reg, make_bundle, tmp_path, ENTRY_EDITS[edit])
    dest = tmp_path / "dest"
    before = snap(tmp_path)
    with pytest.raises(RegistryError, match=r"malformed files list") as info:
        reg.materialize(sha[:12], dest)
    assert sha in str(info.value)
    assert snap(tmp_path) == before
    assert not dest.exists()


@pytest.mark.parametrize("edit", ["files-not-a-list", "object-traversal", "dotdot-path"])
def test_objects_present_refuses_a_malformed_entry_naming_it(
    tmp_path, make_bundle, monkeypatch, edit
):
    """cpqu and mirror ask ``objects_present`` before materializing: it must check the entry's
    shape as strictly as ``materialize`` does, not crash or probe a key outside the store."""
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(tmp_path / "registry", actor="tester")
    sha = reg.register(make_bundle(tmp_path / "fp32", "fp32"), family="fp32").sha
    entry = json.loads(reg.entry_path(sha).read_text())
    ENTRY_EDITS[edit](entry)
    reg.entry_path(sha).write_text(json.dumps(entry))
    with pytest.raises(RegistryError, match=r"malformed files list") as info:
        reg.objects_present(sha)
    assert sha in str(info.value)
