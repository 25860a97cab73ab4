"""The verb lexicon: WordNet's verbs and irregular forms, the base forms of inflections."""

import pytest

from gramops.core.errors import GramopsError
from gramops.corpus.lexicon import lexicon_text, packaged_lexicon, parse_lexicon
from gramops.corpus.wordnet import read_verb_lexicon
from helpers.paths import FIXTURES


def test_read_from_wordnet_files_and_round_trips_through_its_text():
    lexicon = read_verb_lexicon(FIXTURES / "wordnet")
    assert lexicon.irregular["went"] == ("go",)
    assert "allowed_for" not in lexicon.irregular  # multiword forms: the head has its own
    again = parse_lexicon(lexicon_text(lexicon), "test")
    assert (again.verbs, dict(again.irregular)) == (lexicon.verbs, dict(lexicon.irregular))


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
    with pytest.raises(GramopsError, match="lexicon.txt:2: expected a verb"):
        parse_lexicon("[verbs]\ngo away now\n", "lexicon.txt")
