import pytest

from gramops.registry.layout import RegistryError
from gramops.registry.refs import (
    MIN_SHORT_SHA,
    alias_target,
    check_alias,
    check_prefix,
    family_target,
    is_hex,
    next_semver,
    prefix_target,
    ref_text,
    semver_target,
    sorted_semvers,
)

A = "a" * 64
AB = "ab" + "0" * 62
URL = "models/registry"


def test_semvers_sort_by_number_not_by_text():
    assert sorted_semvers(["v0.10.0", "v0.9.0", "v1.0.0", "v0.9.10"]) == [
        "v0.9.0",
        "v0.9.10",
        "v0.10.0",
        "v1.0.0",
    ]


def test_a_ref_is_stripped_and_an_empty_one_names_the_accepted_forms():
    assert ref_text("  production \n") == "production"
    with pytest.raises(RegistryError, match="empty ref.*SHA.*semver.*alias"):
        ref_text("   ")
    with pytest.raises(RegistryError, match="empty ref None"):
        ref_text(None)  # type: ignore[arg-type]


def test_hex_refs_are_recognised_in_any_case():
    assert is_hex("ABCDEF12") and is_hex("0123")
    assert not is_hex("production") and not is_hex("v1.0.0")


@pytest.mark.parametrize(
    "name", ["deadbeef", "v1", "v1.2", "Production", "9lives", "", "fp32", "int8", "lora"]
)
def test_aliases_that_could_read_as_a_sha_semver_or_family_are_refused(name):
    with pytest.raises(RegistryError, match="not a valid alias"):
        check_alias(name)


def test_semver_refs_resolve_in_either_spelling_and_name_what_is_tagged():
    tags = {"v0.1.0": A, "v0.10.0": AB, "v0.2.0": A}
    assert semver_target("0.10.0", tags, URL) == AB
    with pytest.raises(RegistryError) as refused:
        semver_target("v9.9.9", tags, URL)
    assert str(refused.value) == (
        "semver v9.9.9 is not tagged in models/registry (tagged: v0.1.0, v0.2.0, v0.10.0)"
    )


def test_an_unknown_alias_lists_the_aliases_there_are():
    assert alias_target("production", {"production": A}, URL) == A
    with pytest.raises(RegistryError, match=r"unknown ref 'prod'.*\(aliases: production\)"):
        alias_target("prod", {"production": A}, URL)
    with pytest.raises(RegistryError, match=r"\(aliases: none\)"):
        alias_target("prod", {}, URL)


def test_prefixes_shorter_than_the_minimum_are_refused():
    check_prefix("a" * MIN_SHORT_SHA)
    with pytest.raises(RegistryError, match=f"has 7 hex digits; give at least {MIN_SHORT_SHA}"):
        check_prefix("a" * 7)


def test_a_prefix_names_exactly_one_sha_whatever_its_case():
    assert prefix_target("AAAAAAAA", [A, AB], URL) == A
    with pytest.raises(RegistryError, match="no registered SHA starts with 'cccccccc'"):
        prefix_target("cccccccc", [A, AB], URL)
    with pytest.raises(RegistryError, match="ambiguous, it matches 2 entries"):
        prefix_target("a", [A, "a" + "b" * 63], URL)


def test_the_next_semver_is_the_next_free_patch_of_the_family():
    tags = {"v0.1.0": A, "v0.1.1": AB, "v0.1.2": "c" * 64}
    # the family holds v0.1.0; v0.1.1 and v0.1.2 belong to other families
    assert next_semver("fp32", ["v0.1.0"], tags, None) == "v0.1.3"
    assert next_semver("fp32", ["v0.1.2", "v0.1.10"], {}, None) == "v0.1.11"


def test_a_family_without_a_semver_starts_at_its_first_version():
    assert next_semver("lora", [], {"v0.1.0": A}, "0.3.0") == "v0.3.0"
    with pytest.raises(RegistryError, match=r"release.first_semver.lora"):
        next_semver("lora", [], {}, None)
    with pytest.raises(RegistryError, match="v0.1.0 \\(the first version for lora\\) is a+"):
        next_semver("lora", [], {"v0.1.0": A}, "v0.1.0")


def test_a_family_name_is_its_newest_registered_entry():
    families = {A: "fp32", AB: "int8", "c" * 64: "fp32"}
    order = [A, AB, "c" * 64]
    assert family_target("fp32", order, families.get, {}, URL) == "c" * 64
    assert family_target("int8", order, families.get, {}, URL) == AB
    with pytest.raises(RegistryError, match="family lora has no registered entry"):
        family_target("lora", order, families.get, {}, URL)
    with pytest.raises(RegistryError, match="both a family name and an alias"):
        family_target("fp32", order, families.get, {"fp32": A}, URL)
