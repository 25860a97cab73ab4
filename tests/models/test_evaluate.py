import pytest

from gramops.models.evaluate import confusion_rows, score, summary_metrics

TAGS = ("VB", "VBD", "VBZ")


def _rec(tag: str, form: str, acceptable: list[str], domain: str = "verb") -> dict:
    return {"tag": tag, "form": form, "acceptable": acceptable, "domain": domain}


RECORDS = [
    _rec("VBD", "walked", ["walked", "walks"]),
    _rec("VBD", "ran", ["ran", "runs"]),
    _rec("VB", "go", ["go"]),
    _rec("VBZ", "eats", ["ate", "eats"]),
]


def test_strict_accuracy_pass_rate_and_per_class():
    # 1: exact; 2: present where past was written (acceptable); 3: wrong; 4: exact
    tags = ["VBD", "VBZ", "VBD", "VBZ"]
    forms = ["walked", "runs", "went", "eats"]
    result = score(RECORDS, tags, forms, TAGS)
    assert result["count"] == 4
    assert result["strict_accuracy"] == 0.5
    assert result["pass_rate"] == 0.75
    assert result["tag_accuracy"] == 0.5
    assert result["per_class"]["VBD"] == {"count": 2, "strict_accuracy": 0.5, "tag_accuracy": 0.5}
    assert result["per_class"]["VB"]["strict_accuracy"] == 0.0
    # rows are gold tags, columns predicted tags, in TAGS order
    assert result["confusion"]["matrix"] == [[0, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_form_not_tag_decides_strict_accuracy():
    # VBN predicted for a regular VBD: the form is identical, so the answer is right
    result = score([_rec("VBD", "walked", ["walked"])], ["VB"], ["walked"], TAGS)
    assert result["strict_accuracy"] == 1.0
    assert result["tag_accuracy"] == 0.0


def test_summary_drops_the_matrix_and_rows_follow_predictions():
    report = {"domains": {"verb": score(RECORDS, ["VBD"] * 4, ["x"] * 4, TAGS)}}
    assert "confusion" not in summary_metrics(report)["verb"]
    assert summary_metrics(report)["verb"]["pass_rate"] == 0.0
    rows = confusion_rows(RECORDS[:2], ["VB", "VBD"])
    assert rows == [
        {"domain": "verb", "actual": "VBD", "predicted": "VB"},
        {"domain": "verb", "actual": "VBD", "predicted": "VBD"},
    ]


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        score(RECORDS, ["VB"], ["go"], TAGS)
