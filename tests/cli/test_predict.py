"""`gramops predict`: every request answered in its place, good ones even beside bad ones;
--strict for all or nothing; doubtful lemmas answered with warnings, on stderr too."""

import json

import pytest

from gramops.cli import main
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle

LINES = [
    {"id": 1, "sentence": "Yesterday she ___ to school.", "lemma": "Go"},
    {"id": 2, "sentence": "She ___ home.", "lemma": "went"},
    {"id": 3, "sentence": "no slot here", "lemma": "go"},
    {"id": 4, "sentence": "She ___ early.", "lemma": "get up"},
]


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAMOPS_REGISTRY_OBJECTS", raising=False)
    reg = Registry(tmp_path / "registry", actor="tester")
    reg.register(tiny_bundle(tmp_path / "fp32"), family="fp32")
    return reg


def _input(tmp_path, lines):
    path = tmp_path / "requests.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    )
    return str(path)


def test_bad_lines_are_answered_in_place_and_good_ones_answered(tmp_path, registry, capsys):
    argv = ["--registry", str(registry.root), "predict", "--ref", "fp32"]
    code = main([*argv, _input(tmp_path, [*LINES, "{broken"])])
    captured = capsys.readouterr()
    answers = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1  # some were refused
    assert [a.get("id") for a in answers] == ["1", "2", "3", "4", None]
    assert answers[2] == {
        "line": 3,
        "id": "3",
        "error": "sentence: must mark exactly one verb slot with ___ or [___], found 0",
    }
    assert answers[4]["line"] == 5 and answers[4]["error"].startswith("invalid JSON")
    assert answers[0]["warnings"] == []  # "Go" is go
    assert "did you mean 'go'?" in answers[1]["warnings"][0]
    assert answers[3]["form"].endswith(" up") and " up early." in answers[3]["sentence"]
    assert "gramops: line 2: warning: lemma 'went'" in captured.err
    assert "gramops: line 3: refused: sentence" in captured.err


def test_strict_refuses_the_whole_batch_naming_the_line(tmp_path, registry, capsys):
    argv = ["--registry", str(registry.root), "predict", "--strict"]
    assert main([*argv, _input(tmp_path, LINES)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "request on line 3: sentence: must mark exactly one verb slot" in captured.err


def test_all_good_exits_0(tmp_path, registry, capsys):
    argv = ["--registry", str(registry.root), "predict", "--ref", "fp32", "--strict"]
    assert main([*argv, _input(tmp_path, [LINES[0], LINES[3]])]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_help_names_family_refs_and_strict(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "fp32, int8, lora: its newest entry" in text and "--strict" in text
