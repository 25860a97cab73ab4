import pytest

from gramops.inference.evaluate import confusion_rows, pass_rate, passes, score, summary_metrics

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


def test_a_pass_is_any_acceptable_form_and_the_rate_is_unrounded():
    # walks is acceptable for a VBD slot, went is not; ate/eats both pass
    forms = ["walks", "went", "go", "ate"]
    assert passes(RECORDS, forms) == [True, False, True, True]
    assert pass_rate(RECORDS, forms) == 0.75
    assert pass_rate(RECORDS[:3], ["walked", "x", "x"]) == 1 / 3  # not rounded to 0.333333


def test_score_reports_the_same_pass_rate_rounded():
    forms = ["walked", "x", "x", "x", "x", "x"]
    records = RECORDS[:3] * 2
    rate = score(records, ["VB"] * 6, forms, TAGS)["pass_rate"]
    assert rate == round(pass_rate(records, forms), 6) == 0.166667


def test_pass_rate_refuses_no_records_and_misaligned_forms():
    with pytest.raises(ValueError, match="no records"):
        pass_rate([], [])
    with pytest.raises(ValueError, match="1 predicted forms for 4 records"):
        passes(RECORDS, ["go"])
