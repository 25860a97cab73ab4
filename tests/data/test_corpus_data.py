"""Data tests: invariants of the corpus built from the real WordNet 3.0.

They take ``processed_dir`` (the directory holding train/dev/test.jsonl), defined in
``tests/conftest.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gramops.core.vocab import TAGS
from gramops.corpus.inflection import forms

SPLITS = ("train", "dev", "test")
VERB_EXAMPLES = 12528  # quoted examples in WordNet 3.0 data.verb


@pytest.fixture(scope="module")
def records(processed_dir: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        with (processed_dir / f"{split}.jsonl").open(encoding="utf-8") as handle:
            out[split] = [json.loads(line) for line in handle]
    return out


def _all(records: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for split in SPLITS for r in records[split]]


def test_form_is_the_verb_token_and_acceptable(records: dict[str, list[dict[str, Any]]]) -> None:
    for r in _all(records):
        assert r["tokens"][r["verb_index"]].lower() == r["form"], r["id"]
        assert r["form"] in r["acceptable"], r["id"]
        assert r["tag"] in TAGS, r["id"]


def test_preferred_form_of_the_gold_tag_is_acceptable(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    # The model answers with inflect(lemma, tag); for the gold tag that must pass
    # (be agrees with its subject, so only the observed person is checked for it).
    misses = [
        r["id"]
        for r in _all(records)
        if r["lemma"] != "be" and not set(forms(r["lemma"])[r["tag"]]) & set(r["acceptable"])
    ]
    assert len(misses) < 0.005 * len(_all(records)), misses[:10]


def test_ids_unique_and_splits_disjoint_by_synset(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    ids = [r["id"] for r in _all(records)]
    assert len(ids) == len(set(ids))
    synsets = [{r["synset"] for r in records[split]} for split in SPLITS]
    assert not synsets[0] & synsets[1] and not synsets[0] & synsets[2]
    assert not synsets[1] & synsets[2]
    for split in SPLITS:
        assert all(r["split"] == split for r in records[split])


def test_counts_meet_targets(records: dict[str, list[dict[str, Any]]]) -> None:
    verb = [r for r in _all(records) if r["domain"] == "verb"]
    tutor = [r for r in _all(records) if r["domain"] == "tutor"]
    assert len(verb) >= 12000
    assert len(verb) >= 0.97 * VERB_EXAMPLES * 0.99  # located share, less long examples
    assert len({r["lemma"] for r in verb}) >= 4000
    assert len(tutor) >= 5000
    for split in SPLITS:
        domains = Counter(r["domain"] for r in records[split])
        assert domains["verb"] > 0 and domains["tutor"] > 0, split


def test_split_sizes_follow_the_fractions(records: dict[str, list[dict[str, Any]]]) -> None:
    total = len(_all(records))
    assert 0.75 < len(records["train"]) / total < 0.85
    assert 0.07 < len(records["dev"]) / total < 0.13


def test_tag_distribution_is_plausible(records: dict[str, list[dict[str, Any]]]) -> None:
    verb = Counter(r["tag"] for r in _all(records) if r["domain"] == "verb")
    total = sum(verb.values())
    shares = {tag: verb[tag] / total for tag in TAGS}
    # WordNet verb examples: many imperative fragments ("reduce an image") and past tense.
    assert 0.25 < shares["VB"] < 0.45
    assert 0.25 < shares["VBD"] < 0.45
    assert all(shares[tag] > 0.03 for tag in ("VBG", "VBN", "VBP", "VBZ"))
    assert max(shares.values()) < 0.5  # no tag is a majority: the task is not trivial


def test_acceptable_sets_are_small_and_lowercase(
    records: dict[str, list[dict[str, Any]]],
) -> None:
    for r in _all(records):
        assert 1 <= len(r["acceptable"]) <= 6, r["id"]
        assert all(a == a.lower() for a in r["acceptable"]), r["id"]
