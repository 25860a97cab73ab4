"""Unit tests of the WordNet database readers on the hand-written fixture files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gramops.corpus.wordnet import (
    CorpusError,
    parse_data_line,
    read_exceptions,
    read_index_lemmas,
    read_synsets,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wordnet"


def test_read_synsets_skips_license_header_and_keeps_file_order() -> None:
    synsets = read_synsets(FIXTURES / "data.verb")
    assert synsets[0].key == "00000001-v"
    assert synsets[0].lemmas == ("stop",)
    assert [s.offset for s in synsets] == sorted(s.offset for s in synsets)


def test_hex_word_count_and_multiword_lemmas() -> None:
    line = "00000003 35 v 0a " + " ".join(f"w{i} 0" for i in range(10)) + " 000 | gloss"
    synset = parse_data_line(line, Path("data.verb"), 7)
    assert len(synset.lemmas) == 10
    pull = read_synsets(FIXTURES / "data.verb")[2]
    assert pull.lemmas == ("pull_down", "raze")


def test_examples_are_the_quoted_parts_of_the_gloss() -> None:
    stop = read_synsets(FIXTURES / "data.verb")[0]
    assert stop.examples == (
        "He stopped the car",
        "The car had already stopped",
        "Stop the car!",
        "They stop at every corner",
    )
    assert "come to a halt" in stop.gloss


def test_adjective_markers_are_stripped() -> None:
    adjectives = read_synsets(FIXTURES / "data.adj")
    assert adjectives[0].lemmas == ("able",)
    assert adjectives[1].lemmas == ("running",)
    assert adjectives[1].key == "00000201-s"


def test_index_lemmas_are_first_fields_lowercased() -> None:
    assert read_index_lemmas(FIXTURES / "index.noun") >= {"car", "water", "swim"}


def test_exceptions_map_lemma_to_forms_and_skip_multiword_entries() -> None:
    exceptions = read_exceptions(FIXTURES / "verb.exc")
    assert exceptions["airdrop"] == ("airdropped",)
    assert exceptions["go"] == ("went",)
    assert "allow_for" not in exceptions


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("00000001 38 v 01 stop 0 000 no gloss", "no '|'"),
        ("0001 38 v 01 stop 0 000 | g", "offset"),
        ("00000001 38 x 01 stop 0 000 | g", "synset type"),
        ("00000001 38 v zz stop 0 000 | g", "hexadecimal"),
        ("00000001 38 v 03 stop 0 000 | g", "word count"),
        ("00000001 38 v 01 stop 0 002 @ 00000002 v 0000 | g", "pointers"),
    ],
)
def test_malformed_lines_name_file_line_and_reason(line: str, reason: str) -> None:
    with pytest.raises(CorpusError, match=rf"data\.verb:12: .*{reason}"):
        parse_data_line(line, Path("data.verb"), 12)


def test_malformed_fixture_file_reports_its_line_number() -> None:
    with pytest.raises(CorpusError, match=r"malformed[/\\]data\.verb:3: "):
        read_synsets(FIXTURES / "malformed" / "data.verb")


def test_missing_file_is_a_corpus_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="data.verb: WordNet file not found"):
        read_synsets(tmp_path / "data.verb")


def test_corpus_error_is_a_value_error(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "verb.exc", tmp_path / "verb.exc")
    (tmp_path / "verb.exc").write_text("lonely\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"verb\.exc:1: malformed exception line"):
        read_exceptions(tmp_path / "verb.exc")
