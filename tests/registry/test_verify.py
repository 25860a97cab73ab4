import pytest

from gramops.registry.layout import RegistryError
from gramops.registry.verify import ObjectProblem, absent_entries, binding_diff, kept_entries

BASE, LORA, OLD = "b" * 64, "l" * 64, "o" * 64
ENTRIES = {BASE: {"parent_sha": None}, LORA: {"parent_sha": BASE}, OLD: {"parent_sha": None}}


def _load(sha):
    if sha not in ENTRIES:
        raise RegistryError(f"no entry {sha}")
    return ENTRIES[sha]


def test_gc_keeps_what_a_binding_reaches_and_its_ancestors():
    kept = kept_entries({}, {"production": LORA}, _load, strict=True)
    assert sorted(kept) == [BASE, LORA]


def test_an_unreadable_kept_entry_stops_gc_but_not_verify():
    with pytest.raises(RegistryError):
        kept_entries({"v0.1.0": "x" * 64}, {}, _load, strict=True)
    assert kept_entries({"v0.1.0": "x" * 64, "v0.2.0": OLD}, {}, _load, strict=False) == {
        OLD: ENTRIES[OLD]
    }


def _missing(sha, *keys):
    return [ObjectProblem(sha, f"f{i}", key) for i, key in enumerate(keys)]


def test_an_unkept_entry_missing_bytes_is_absent_not_lost():
    objects = {OLD: {"1", "2"}}
    assert absent_entries(_missing(OLD, "1"), objects, kept=set()) == {OLD}


def test_a_kept_entry_missing_all_its_own_bytes_was_registered_elsewhere():
    # "s" is shared with BASE and still here: LORA's own bytes are all gone
    objects = {BASE: {"s", "w"}, LORA: {"s", "a"}}
    assert absent_entries(_missing(LORA, "a"), objects, kept={BASE, LORA}) == {LORA}


def test_a_kept_entry_missing_some_of_its_own_bytes_lost_them():
    objects = {LORA: {"a", "c"}}
    assert absent_entries(_missing(LORA, "a"), objects, kept={LORA}) == set()


def test_binding_diff_names_each_disagreeing_key():
    assert binding_diff({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == (
        "a: log 1, file None; b: log 2, file 3; c: log None, file 4"
    )
