"""The verb lexicon: WordNet's verbs and irregular forms, the base forms of inflections, each
verb's valency (its senses' sentence frames) and semantic class (its first sense's
lexicographer file), and the spellings that show a tense."""

from pathlib import Path

import pytest

from gramops.core.errors import GramopsError
from gramops.corpus.lexicon import lexicon_text, packaged_lexicon, parse_lexicon
from gramops.corpus.wordnet import (
    CorpusError,
    Synset,
    parse_data_line,
    read_first_senses,
    read_lexnames,
    read_verb_lexicon,
    semantic_classes,
    valency_classes,
)
from helpers.paths import FIXTURES


def verb(offset: str, lemmas: tuple[str, ...], frames, lexfile: int = 29) -> Synset:
    return Synset(offset, "v", lemmas, "gloss", tuple(frames), lexfile)


def test_read_from_wordnet_files_and_round_trips_through_its_text():
    lexicon = read_verb_lexicon(FIXTURES / "wordnet")
    assert lexicon.irregular["went"] == ("go",)
    assert "allowed_for" not in lexicon.irregular  # multiword forms: the head has its own
    assert lexicon.valency("laugh") == "intr" and lexicon.valency("cut") == "trans"
    assert lexicon.semantic_class("go") == "verb.motion"
    assert lexicon.semantic_class("be") == "verb.stative"
    again = parse_lexicon(lexicon_text(lexicon), "test")
    assert (again.verbs, dict(again.irregular)) == (lexicon.verbs, dict(lexicon.irregular))
    assert (dict(again.valencies), dict(again.classes)) == (
        dict(lexicon.valencies),
        dict(lexicon.classes),
    )


def test_the_packaged_lexicon_holds_wordnet_30_verbs():
    lexicon = packaged_lexicon()
    assert len(lexicon.verbs) == 11529  # the lemmas of WordNet 3.0's index.verb
    assert {"go", "get_up", "fine-tune", "saw"} <= lexicon.verbs
    assert "went" not in lexicon.verbs and lexicon.irregular["went"] == ("go",)


@pytest.mark.parametrize(
    ("word", "bases"),
    [
        ("went", ("go",)),
        ("walked", ("walk",)),
        ("stopped", ("stop",)),
        ("studies", ("study",)),
        ("making", ("make",)),
        ("xyzzyq", ()),
    ],
)
def test_base_forms_of_irregular_and_regular_inflections(word, bases):
    assert packaged_lexicon().base_forms(word) == bases


def test_a_damaged_lexicon_file_names_its_line():
    with pytest.raises(GramopsError, match="lexicon.txt:2: expected 'verb valency class'"):
        parse_lexicon("[verbs]\ngo away now\n", "lexicon.txt")
    with pytest.raises(GramopsError, match="lexicon.txt:2: .*valency one of intr"):
        parse_lexicon("[verbs]\ngo\n", "lexicon.txt")


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


def test_a_bad_lexnames_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "lexnames").write_text("29\tverb.body\t2\nverb.stative\n")
    with pytest.raises(CorpusError, match=r"lexnames:2: .*number name category"):
        read_lexnames(tmp_path / "lexnames")


def test_the_shipped_lexicon_knows_the_verbs_a_tutor_meets() -> None:
    lexicon = packaged_lexicon()
    assert lexicon.valency("laugh") == "intr" and lexicon.valency("Laugh") == "intr"
    assert lexicon.valency("deny") == "trans"
    assert lexicon.semantic_class("contain") == "verb.stative"
    assert lexicon.valency("blorf") == lexicon.semantic_class("blorf") == "unknown"
    assert len(lexicon.valencies) == len(lexicon.classes) == len(lexicon.verbs)


def test_tense_spellings_hold_only_one_tense() -> None:
    past, present = packaged_lexicon().tense_spellings()
    assert {"walked", "sat", "went"} <= past
    assert {"walks", "sits", "goes"} <= present
    assert not past & present
    assert "walk" not in past | present
