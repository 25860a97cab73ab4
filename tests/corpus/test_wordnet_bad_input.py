"""WordNet files with malformed lines are refused or skipped as ``prepare.malformed_lines`` says,
naming the file, line numbers and the allowed values, and a refusing stage writes nothing.

Part of the reliability tier (bad input of every kind), split by the module it attacks.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from gramops.core.params import PrepareParams
from gramops.corpus.build import build_corpus
from gramops.corpus.wordnet import CorpusError, read_exceptions, read_index_lemmas, read_synsets
from helpers.stages import project_params, run_stage, stage_workspace

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "wordnet"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------
# WordNet files with malformed lines
# ---------------------------------------------------------------------------------------------

GOOD_LINE = '00000009 38 v 01 halt 0 000 | stop; "The bus halted"\n'
BAD_LINES = [
    "00000010 38 v 01 stop 0 000 no gloss\n",
    "0001 38 v 01 stop 0 000 | short offset\n",
    "00000011 38 x 01 stop 0 000 | bad type\n",
    "00000012 38 v zz stop 0 000 | bad count\n",
    "00000013 38 v 03 stop 0 000 | too few words\n",
    "00000014 38 v 01 stop 0 002 @ 00000002 v 0000 | missing pointers\n",
    "00000015 38 v 01 stop 0 0x1 | pointer count\n",
]


def _data_file(tmp_path: Path) -> tuple[Path, list[int]]:
    """A data.verb with a license header, good lines and the seven BAD_LINES interleaved."""
    lines = ["  1 header line\n", "  2 header line\n"]
    bad_numbers = []
    for bad in BAD_LINES:
        lines.append(GOOD_LINE)
        lines.append(bad)
        bad_numbers.append(len(lines))
    lines.append(GOOD_LINE)
    path = tmp_path / "data.verb"
    path.write_text("".join(lines), encoding="utf-8")
    return path, bad_numbers


def test_fail_names_the_file_first_lines_count_key_and_allowed_values(tmp_path):
    path, bad = _data_file(tmp_path)
    with pytest.raises(CorpusError) as info:
        read_synsets(path)
    message = str(info.value)
    shown = ", ".join(str(n) for n in bad[:5])
    assert message.startswith(
        f"{path}:{bad[0]}: malformed WordNet data line: no '|' before the gloss; "
        f"7 malformed line(s) at line(s) {shown} and 2 more."
    )
    assert "prepare.malformed_lines" in message and "fail, skip" in message


def test_skip_drops_exactly_the_malformed_lines_and_warns_with_their_numbers(tmp_path, caplog):
    path, bad = _data_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gramops.corpus.wordnet"):
        synsets = read_synsets(path, "skip")
    assert [s.key for s in synsets] == ["00000009-v"] * (len(BAD_LINES) + 1)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"{path}: skipped 7 malformed line(s) at line(s)" in warning
    assert ", ".join(str(n) for n in bad[:5]) in warning


def test_a_clean_file_logs_nothing_under_skip(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="gramops.corpus.wordnet"):
        synsets = read_synsets(FIXTURES / "data.verb", "skip")
    assert synsets == read_synsets(FIXTURES / "data.verb")
    assert caplog.records == []


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_exception_list_lines_without_a_lemma_follow_the_policy(tmp_path, policy):
    path = tmp_path / "verb.exc"
    path.write_text("went go\nlonely\nran run\n\n  \nbroke\n", encoding="utf-8")
    if policy == "fail":
        with pytest.raises(
            CorpusError,
            match=r"verb\.exc:2: malformed exception line: expected 'form lemma'; "
            r"2 malformed line\(s\) at line\(s\) 2, 6\.",
        ):
            read_exceptions(path, policy)
    else:
        assert read_exceptions(path, policy) == {"go": ("went",), "run": ("ran",)}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("car n 1 1 @ 1 0\n", "the counts announce 8 fields, the line has 7"),
        ("car x 1 0 1 0 00000100\n", "unknown part of speech 'x'"),
        ("car n one 0 1 0 00000100\n", "synset and pointer counts 'one' '0' are not numbers"),
        ("car n 2 0 1 0 00000100\n", "the counts announce 8 fields, the line has 7"),
        ("car n 1 0 1 0 0000010\n", "a synset offset is not 8 digits"),
        ("car\n", "expected at least 7 fields, got 1"),
    ],
)
def test_malformed_index_lines_follow_the_policy(tmp_path, line, reason):
    path = tmp_path / "index.noun"
    path.write_text("  1 header\nwater n 1 1 @ 1 0 00000101\n" + line, encoding="utf-8")
    with pytest.raises(
        CorpusError, match=rf"index\.noun:3: malformed WordNet index line: ({reason})"
    ):
        read_index_lemmas(path)
    assert read_index_lemmas(path, "skip") == frozenset({"water"})


@pytest.mark.parametrize("reader", [read_synsets, read_index_lemmas, read_exceptions])
def test_an_unknown_policy_is_refused_before_the_file_is_opened(tmp_path, reader):
    missing = tmp_path / "never-read"  # opening it would raise 'WordNet file not found'
    with pytest.raises(CorpusError, match=r"prepare\.malformed_lines: 'ignore' .*fail, skip"):
        reader(missing, "ignore")


def test_a_line_that_is_not_utf8_is_a_malformed_line(tmp_path):
    path = tmp_path / "data.verb"
    path.write_bytes(GOOD_LINE.encode() + "00000016 38 v 01 caf\xe9 0 000 | x\n".encode("latin-1"))
    with pytest.raises(
        CorpusError, match=r"data\.verb:2: .*not UTF-8 text \(byte 0xe9 at column 21\)"
    ):
        read_synsets(path)
    assert [s.key for s in read_synsets(path, "skip")] == ["00000009-v"]


def test_build_corpus_skips_only_when_asked(tmp_path):
    wn = tmp_path / "wn"
    shutil.copytree(FIXTURES, wn)
    with (wn / "data.verb").open("a", encoding="utf-8") as fh:
        fh.write(BAD_LINES[0])
    split = {"train": 0.5, "dev": 0.25, "test": 0.25}
    with pytest.raises(
        CorpusError, match=r"data\.verb:\d+: malformed WordNet data line: .*; 1 malformed line"
    ):
        build_corpus(wn, PrepareParams.model_validate({"split": split}))
    skipped = build_corpus(
        wn, PrepareParams.model_validate({"split": split, "malformed_lines": "skip"})
    )
    clean = build_corpus(FIXTURES, PrepareParams.model_validate({"split": split}))
    assert skipped.records == clean.records  # the bad line contributed nothing


def test_prepare_stage_fails_on_a_malformed_line_and_writes_nothing(tmp_path, snap):
    work = stage_workspace(tmp_path, project_params())
    with (work / "data" / "raw" / "wordnet" / "data.noun").open("a", encoding="utf-8") as fh:
        fh.write(BAD_LINES[2])
    before = snap(work)
    result = run_stage("prepare", work)
    assert result.returncode == 2, result.stderr
    assert "data.noun:" in result.stderr and "1 malformed line(s)" in result.stderr
    assert "Traceback" not in result.stderr
    assert snap(work) == before
    params = project_params()
    params["prepare"]["malformed_lines"] = "skip"
    (work / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    result = run_stage("prepare", work)
    assert result.returncode == 0, result.stderr
    assert "skipped 1 malformed line(s)" in result.stderr
    assert (work / "data" / "processed" / "train.jsonl").stat().st_size > 0
