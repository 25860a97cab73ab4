"""Unit tests of the corpus builder (locating, records, splits, stats) on the WordNet fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gramops.core.params import PrepareParams, SplitParams
from gramops.corpus.build import Corpus, CorpusError, build_corpus, locate, split_for
from gramops.corpus.tagging import tokenize

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wordnet"
KEYS = {
    "id", "domain", "synset", "tokens", "verb_index", "form", "lemma", "synset_lemma", "tag",
    "acceptable", "split",
}  # fmt: skip


def _params(**overrides: Any) -> PrepareParams:
    data: dict[str, Any] = {"split": {"train": 0.5, "dev": 0.25, "test": 0.25}}
    data.update(overrides)
    return PrepareParams.model_validate(data)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(FIXTURES, _params())


@pytest.fixture(scope="module")
def by_id(corpus: Corpus) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for split in corpus.records.values() for r in split}


# ---------------------------------------------------------------- locating


def test_locate_inflected_and_irregular_forms() -> None:
    match = locate(tokenize("She went home"), ["go", "travel"], {})
    assert match is not None and (match.index, match.lemma) == (1, "go")


def test_locate_tries_every_synset_lemma_and_takes_the_first_occurrence() -> None:
    match = locate(tokenize("He travelled far and went home"), ["go", "travel"], {})
    assert match is not None and match.synset_lemma == "travel" and match.index == 1


def test_locate_multiword_contiguous_and_discontiguous() -> None:
    tokens = tokenize("They pulled the old house down")
    match = locate(tokens, ["pull_down", "raze"], {})
    assert match is not None
    assert (match.index, match.lemma, match.synset_lemma) == (1, "pull", "pull_down")
    contiguous = locate(tokenize("The workers are pulling down the wall"), ["pull_down"], {})
    assert contiguous is not None and contiguous.index == 3


def test_locate_particle_beyond_a_clause_boundary_is_only_a_head_match() -> None:
    # The particle is past a comma: no full match, the head word alone is accepted.
    match = locate(tokenize("They pulled, and the house fell down"), ["pull_down"], {})
    assert match is not None and match.index == 1


def test_locate_placeholder_lemmas() -> None:
    match = locate(tokenize("He made up his mind"), ["make_up_one's_mind"], {})
    assert match is not None and (match.index, match.lemma) == (1, "make")


def test_locate_head_last_and_hyphen_variants() -> None:
    dry = locate(tokenize("Mother dry cleaned the suit"), ["dry_clean"], {})
    assert dry is not None and (dry.index, dry.lemma) == (2, "clean")
    skate = locate(tokenize("She ice-skated on the pond"), ["ice_skate"], {})
    assert skate is not None and (skate.index, skate.lemma) == (1, "ice-skate")
    examine = locate(tokenize("They cross examined him"), ["cross-examine"], {})
    assert examine is not None and examine.lemma == "examine"


def test_locate_uses_verb_exc_forms_and_ignores_case() -> None:
    assert locate(tokenize("ABODE here"), ["abide"], {"abide": ("abode",)}) is not None
    assert locate(tokenize("She broke her clavicle"), ["fracture"], {}) is None


# ---------------------------------------------------------------- the built corpus


def test_records_have_exactly_the_documented_keys_and_are_json(corpus: Corpus) -> None:
    for split, records in corpus.records.items():
        for record in records:
            assert set(record) == KEYS
            assert record["split"] == split
            assert record["tokens"][record["verb_index"]].lower() == record["form"]
            assert record["form"] in record["acceptable"]
            assert record["acceptable"] == sorted(record["acceptable"])
            json.dumps(record)


def test_records_are_sorted_by_id_and_ids_unique(corpus: Corpus) -> None:
    ids = [r["id"] for split in corpus.records.values() for r in split]
    assert len(ids) == len(set(ids))
    for records in corpus.records.values():
        assert [r["id"] for r in records] == sorted(r["id"] for r in records)


def test_verb_domain_records(by_id: dict[str, dict[str, Any]]) -> None:
    pulled = by_id["verb:00000003-v:0"]
    assert (pulled["lemma"], pulled["synset_lemma"], pulled["tag"]) == ("pull", "pull_down", "VBD")
    assert by_id["verb:00000002-v:0"]["acceptable"] == ["goes", "went"]
    assert by_id["verb:00000008-v:0"]["tag"] == "VBN"
    assert by_id["verb:00000010-v:0"]["form"] == "airdropped"  # only via verb.exc before
    assert "verb:00000009-v:0" not in by_id  # "She broke her clavicle": fracture not present


def test_tutor_domain_records(by_id: dict[str, dict[str, Any]]) -> None:
    tutor = {k: r for k, r in by_id.items() if r["domain"] == "tutor"}
    assert set(tutor) == {"tutor:00000100-n:0", "tutor:00000200-a:0", "tutor:00000300-r:0"}
    # A main verb is preferred over the copula ("she is able to swim").
    assert tutor["tutor:00000200-a:0"]["lemma"] == "swim"
    assert tutor["tutor:00000300-r:0"]["form"] == "ran"


def test_stats(corpus: Corpus) -> None:
    stats = corpus.stats
    assert stats["examples_total"] == 26
    assert stats["located"] == 25 and stats["located_share"] == round(25 / 26, 4)
    assert stats["dropped"] == {"not_located": 1, "tutor_no_confirmed_verb": 4}
    assert sum(stats["records"].values()) == stats["records_total"] == 28
    assert stats["domains"] == {"tutor": 3, "verb": 25}
    assert sum(stats["tags"].values()) == 28
    assert stats["distinct_lemmas"] == 13
    assert 0 < stats["irregular_share"] < 1
    assert json.loads(json.dumps(stats, sort_keys=True)) == stats


def test_build_is_deterministic(corpus: Corpus) -> None:
    again = build_corpus(FIXTURES, _params())
    assert json.dumps(again.records, sort_keys=True) == json.dumps(corpus.records, sort_keys=True)
    assert again.stats == corpus.stats


def test_max_tokens_and_tutor_switch() -> None:
    small = build_corpus(FIXTURES, _params(max_tokens=4, tutor_domain=False))
    assert small.stats["dropped"]["too_long"] > 0
    assert small.stats["domains"] == {"verb": small.stats["records_total"]}
    assert all(len(r["tokens"]) <= 4 for split in small.records.values() for r in split)


# ---------------------------------------------------------------- splits


def test_split_is_deterministic_and_follows_fractions() -> None:
    split = SplitParams(train=0.8, dev=0.1, test=0.1)
    keys = [f"{i:08d}-v" for i in range(4000)]
    first = [split_for(k, split) for k in keys]
    assert first == [split_for(k, split) for k in keys]
    share = first.count("train") / len(first)
    assert 0.77 < share < 0.83
    assert {"dev", "test"} <= set(first)


def test_splits_are_disjoint_by_synset(corpus: Corpus) -> None:
    owners: dict[str, set[str]] = {}
    for split, records in corpus.records.items():
        for record in records:
            owners.setdefault(record["synset"], set()).add(split)
    assert all(len(splits) == 1 for splits in owners.values())


# ---------------------------------------------------------------- errors


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="WordNet directory not found"):
        build_corpus(tmp_path / "nowhere", _params())
    shutil.copytree(FIXTURES, tmp_path / "wn")
    (tmp_path / "wn" / "data.adv").unlink()
    with pytest.raises(CorpusError, match=r"data\.adv: WordNet file not found"):
        build_corpus(tmp_path / "wn", _params())


def test_malformed_line_stops_the_build_with_its_line_number(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "wn")
    shutil.copy(FIXTURES / "malformed" / "data.verb", tmp_path / "wn" / "data.verb")
    with pytest.raises(CorpusError, match=r"data\.verb:3: malformed WordNet data line"):
        build_corpus(tmp_path / "wn", _params())
