"""Properties of identity and ref parsing, checked on generated inputs (Hypothesis).

Identity must not depend on how a JSON file happens to be written (key order, whitespace,
escaping) nor on the order files are listed, and must change when content does. Ref and
semver parsing must accept exactly the documented forms and refuse everything else with
:class:`RegistryError`, never another exception.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gramops.core.fileio import canonical_bytes
from gramops.models.identity import canonical_sha, file_digest, manifest_sha
from gramops.registry.layout import RegistryError
from gramops.registry.refs import (
    check_alias,
    format_semver,
    is_semver,
    normalize_semver,
    parse_semver,
)
from helpers.bundles import tiny_bundle
from helpers.properties import PROFILE

PROPERTY = settings.get_profile(PROFILE)
FEW = settings(PROPERTY, max_examples=25)  # examples that write files

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
FILE_NAMES = st.text("abcdefghijklmnopqrstuvwxyz._-", min_size=1, max_size=12)
PAIRS = st.lists(st.tuples(FILE_NAMES, HEX64), min_size=1, max_size=6, unique_by=lambda p: p[0])


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in a random insertion order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def _respelled(value: Any, rng: random.Random) -> str:
    """Another valid JSON spelling of ``value``: key order, indentation, escaping, spacing."""
    return json.dumps(
        _shuffled(value, rng),
        indent=rng.choice([None, 0, 1, 2, 4, "\t"]),
        ensure_ascii=rng.choice([True, False]),
        separators=rng.choice([None, (",", ":"), (", ", ": "), (" ,", " : ")]),
    )


# ---------------------------------------------------------------------------------------------
# Canonical JSON and SHAs
# ---------------------------------------------------------------------------------------------


def _typed(value: Any) -> Any:
    """A comparison key that, unlike ``==``, tells 1, 1.0, True and -0.0 from 0.0 apart."""
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _typed(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_typed(v) for v in value))
    if isinstance(value, float):
        return ("number", repr(value))
    return (type(value).__name__, value)


@PROPERTY
@given(JSON_VALUES, st.randoms(use_true_random=False))
def test_every_spelling_of_a_json_value_has_the_same_canonical_bytes(value, rng):
    spelling = _respelled(value, rng)
    assert canonical_bytes(json.loads(spelling)) == canonical_bytes(value)
    # canonical is the shortest spelling: no whitespace, no escapes beyond what JSON needs
    assert len(canonical_bytes(value)) <= len(spelling.encode("utf-8"))


@PROPERTY
@given(JSON_VALUES)
def test_canonical_bytes_are_utf8_json_of_the_same_value_and_a_fixed_point(value):
    data = canonical_bytes(value)
    parsed = json.loads(data.decode("utf-8"))  # never raises: canonical JSON is UTF-8
    assert _typed(parsed) == _typed(value)
    assert canonical_bytes(parsed) == data


@PROPERTY
@given(JSON_VALUES, JSON_VALUES)
def test_canonical_bytes_and_sha_differ_exactly_when_the_values_differ(a, b):
    same_bytes = canonical_bytes(a) == canonical_bytes(b)
    assert same_bytes == (_typed(a) == _typed(b))
    same_sha = (
        hashlib.sha256(canonical_bytes(a)).digest() == hashlib.sha256(canonical_bytes(b)).digest()
    )
    assert same_sha == same_bytes


@PROPERTY
@given(PAIRS, st.none() | HEX64, st.randoms(use_true_random=False))
def test_manifest_sha_ignores_file_order_and_sequence_types(pairs, parent, rng):
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    as_lists = [[path, digest] for path, digest in shuffled]
    assert manifest_sha(pairs, parent) == manifest_sha(as_lists, parent)


@PROPERTY
@given(PAIRS, st.none() | HEX64, st.data())
def test_manifest_sha_changes_with_any_path_digest_or_parent(pairs, parent, data):
    original = manifest_sha(pairs, parent)
    index = data.draw(st.integers(0, len(pairs) - 1))
    path, digest = pairs[index]
    new_digest = data.draw(HEX64.filter(lambda d: d != digest))
    changed = [*pairs[:index], (path, new_digest), *pairs[index + 1 :]]
    assert manifest_sha(changed, parent) != original
    new_path = data.draw(FILE_NAMES.filter(lambda p: p not in {q for q, _ in pairs}))
    renamed = [*pairs[:index], (new_path, digest), *pairs[index + 1 :]]
    assert manifest_sha(renamed, parent) != original
    other_parent = data.draw((st.none() | HEX64).filter(lambda p: p != parent))
    assert manifest_sha(pairs, other_parent) != original
    if len(pairs) > 1:
        assert manifest_sha(pairs[:index] + pairs[index + 1 :], parent) != original


@FEW
@given(
    st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5),
    st.randoms(use_true_random=False),
)
def test_bundle_sha_ignores_how_its_json_files_are_written(extra, rng):
    with tempfile.TemporaryDirectory() as tmp:
        bundle = tiny_bundle(Path(tmp) / "b", "fp32")
        config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
        config["notes"] = extra
        (bundle / "config.json").write_text(json.dumps(config), encoding="utf-8")
        before = canonical_sha(bundle)
        digest = file_digest(bundle / "config.json")
        (bundle / "config.json").write_text(_respelled(config, rng), encoding="utf-8")
        assert file_digest(bundle / "config.json") == digest
        assert canonical_sha(bundle) == before


@FEW
@given(JSON_VALUES, JSON_VALUES)
def test_bundle_sha_changes_when_json_content_does(a, b):
    assume(canonical_bytes(a) != canonical_bytes(b))
    shas = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in (("a", a), ("b", b)):
            bundle = tiny_bundle(Path(tmp) / name, "fp32")
            report = json.loads((bundle / "eval_report.json").read_text(encoding="utf-8"))
            report["extra"] = value
            (bundle / "eval_report.json").write_text(json.dumps(report), encoding="utf-8")
            shas.append(canonical_sha(bundle))
    assert shas[0] != shas[1]


# ---------------------------------------------------------------------------------------------
# Semvers and refs
# ---------------------------------------------------------------------------------------------

VERSIONS = st.tuples(*(st.integers(0, 10**6),) * 3)
SEMVER_LIKE = st.from_regex(
    r"\s?v?(0|[1-9][0-9]{0,3})(\.(0|[1-9][0-9]{0,3})){2}\s?", fullmatch=True
)
GARBAGE = (
    st.text(max_size=20)
    | st.from_regex(r"[vV]?-?[0-9]{1,3}(\.[0-9]{0,3}){0,4}[a-z-]{0,3}", fullmatch=True)
    | st.from_regex(r"[0-9a-fA-F]{0,70}", fullmatch=True)
)


@PROPERTY
@given(VERSIONS)
def test_semver_format_then_parse_round_trips(version):
    text = format_semver(version)
    assert parse_semver(text) == version
    assert parse_semver(text.removeprefix("v")) == version
    assert is_semver(text)


@PROPERTY
@given(SEMVER_LIKE)
def test_normalize_semver_is_idempotent_and_keeps_the_numbers(text):
    once = normalize_semver(text)
    assert normalize_semver(once) == once
    assert once.startswith("v") and parse_semver(once) == parse_semver(text)


@PROPERTY
@given(GARBAGE)
def test_parse_semver_accepts_exactly_what_is_semver_and_raises_only_registry_error(text):
    try:
        version = parse_semver(text)
    except RegistryError as exc:
        assert not is_semver(text)
        assert repr(text) in str(exc)
    else:
        assert is_semver(text)
        assert format_semver(version) == normalize_semver(text)
        assert all(
            not (p.startswith("0") and len(p) > 1) for p in text.strip().lstrip("v").split(".")
        )


@PROPERTY
@given(GARBAGE)
def test_accepted_alias_names_can_never_read_as_a_sha_or_a_semver(name):
    try:
        check_alias(name)
    except RegistryError as exc:
        assert "is not a valid alias" in str(exc)
    else:
        assert not is_semver(name)
        assert not all(c in "0123456789abcdef" for c in name)


@PROPERTY
@given(GARBAGE | SEMVER_LIKE | st.sampled_from(["production", "v0.1.0", "0.2.0", " v0.3.0 "]))
def test_resolving_any_text_returns_a_registered_sha_or_raises_registry_error(
    populated_registry, text
):
    shas = set(populated_registry.shas())
    try:
        sha = populated_registry.resolve(text)
    except RegistryError as exc:
        assert str(exc)
    else:
        assert sha in shas


@PROPERTY
@given(st.data())
def test_every_unique_prefix_of_eight_or_more_digits_resolves_to_its_sha(populated_registry, data):
    sha = data.draw(st.sampled_from(populated_registry.shas()))
    length = data.draw(st.integers(8, 64))
    prefix = sha[:length]
    if data.draw(st.booleans()):
        prefix = prefix.upper()
    assert populated_registry.resolve(prefix) == sha


@pytest.mark.parametrize("value", [None, 3, 1.5, ["v0.1.0"], b"v0.1.0"])
def test_non_text_refs_and_semvers_are_registry_errors(populated_registry, value):
    with pytest.raises(RegistryError):
        populated_registry.resolve(value)
    with pytest.raises(RegistryError):
        parse_semver(value)
    assert not is_semver(value)
