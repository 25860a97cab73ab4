"""The verb lexicon: valency from WordNet's sentence frames, the semantic class of the
first sense, the shipped verbs.tsv, and the spellings that show a tense."""

from __future__ import annotations

from pathlib import Path

import pytest

from gramops.corpus.verb_lexicon import (
    read_lexnames,
    semantic_classes,
    valency_classes,
    write_lexicon,
)
from gramops.corpus.verbs import lexicon, semantic_class, tense_spellings, valency
from gramops.corpus.wordnet import CorpusError, Synset, parse_data_line, read_first_senses


def verb(offset: str, lemmas: tuple[str, ...], frames, lexfile: int = 29) -> Synset:
    return Synset(offset, "v", lemmas, "gloss", tuple(frames), lexfile)


def test_a_verb_line_keeps_its_frames_and_lexicographer_file() -> None:
    line = "00031820 29 v 02 laugh 0 express_joy 0 000 02 + 02 00 + 08 02 | produce laughter"
    synset = parse_data_line(line, Path("data.verb"), 3)
    assert synset.frames == ((2, 0), (8, 2))
    assert synset.lex_filenum == 29


def test_a_broken_frame_list_names_the_line() -> None:
    line = "00031820 29 v 01 laugh 0 000 02 + 02 00 | produce laughter"
    with pytest.raises(CorpusError, match=r"data.verb:3: .*frame count"):
        parse_data_line(line, Path("data.verb"), 3)


def test_valency_from_the_frames_of_every_sense() -> None:
    classes = valency_classes(
        [
            verb("00000001", ("laugh",), [(2, 0), (22, 0)]),  # Somebody ----s (PP)
            verb("00000002", ("deny",), [(8, 0), (9, 0)]),  # ---- something / somebody
            verb("00000003", ("run",), [(2, 0)]),
            verb("00000004", ("run",), [(8, 0)]),
            verb("00000005", ("run",), [(8, 0)]),
            verb("00000006", ("sleep", "kip"), [(2, 0), (8, 1)]),  # frame 8 for sleep only
        ]
    )
    assert classes == {
        "deny": "trans",
        "kip": "intr",
        "laugh": "intr",
        "run": "mostly-trans",
        "sleep": "trans",
    }


def test_semantic_class_is_the_first_senses_file(tmp_path: Path) -> None:
    (tmp_path / "lexnames").write_text("29\tverb.body\t2\n42\tverb.stative\t2\n")
    (tmp_path / "index.verb").write_text(
        "  1 license header\ncontain v 2 1 @ 2 1 00000002 00000001  \n"
    )
    synsets = [verb("00000001", ("contain",), [], 29), verb("00000002", ("contain",), [], 42)]
    first = read_first_senses(tmp_path / "index.verb")
    assert first == {"contain": "00000002"}
    names = read_lexnames(tmp_path / "lexnames")
    assert semantic_classes(synsets, first, names) == {"contain": "verb.stative"}


def test_the_lexicon_file_reads_back_and_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "verbs.tsv"
    write_lexicon(path, {"laugh": "intr", "deny": "trans"}, {"laugh": "verb.body"})
    assert lexicon(path) == {"deny": ("trans", "unknown"), "laugh": ("intr", "verb.body")}
    bad = tmp_path / "bad.tsv"
    bad.write_text("laugh\tsometimes\tverb.body\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: .*valency among"):
        lexicon(bad)


def test_the_shipped_lexicon_knows_the_verbs_a_tutor_meets() -> None:
    assert valency("laugh") == "intr" and valency("Laugh") == "intr"
    assert valency("deny") == "trans"
    assert semantic_class("contain") == "verb.stative"
    assert valency("blorf") == semantic_class("blorf") == "unknown"
    assert len(lexicon()) > 11_000


def test_tense_spellings_hold_only_one_tense() -> None:
    past, present = tense_spellings()
    assert {"walked", "sat", "went"} <= past
    assert {"walks", "sits", "goes"} <= present
    assert not past & present
    assert "walk" not in past | present
