"""The rendered page: inputs checked first, what it was built from, staleness, MLflow
links, the weekly drift trend and traffic inline, and the template shipped as package data."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from browser import Dom
from gramops.core.errors import GramopsError
from gramops.core.params import ParamsError, validate_section
from gramops.report import status_sections
from gramops.report.status import BuiltFrom, StatusView, status_view
from gramops.report.status_page import (
    INPUTS,
    check_inputs,
    input_hashes,
    render_html,
    staleness,
    stated_state,
)
from gramops.report.status_sections import MlflowLinks, traffic_summary, weekly_trend
from gramops.tracking import models as tracking_models
from gramops.tracking import runs as tracking_runs
from helpers.paths import ROOT

SHA = "a" * 64
HEAD = "f" * 64
ENTRY = {
    "sha": SHA,
    "family": "int8",
    "parent_sha": None,
    "size_bytes": 4_200_000,
    "registered_at": "2026-11-23T12:00:00Z",
    "metrics": {"verb": {"strict_accuracy": 0.85, "pass_rate": 0.95}},
}


def _feature(stat, value):
    return {"decided_by": stat, stat: value, "threshold": 0.1, "null": {stat: 0.02}}


DRIFT = {
    "status": "major",
    "features": {"length": _feature("psi", 0.78), "tag": _feature("kl", 0.05)},
    "weeks": {
        "week_01": {"length_psi": 0.09, "tag_kl": 0.01},
        "week_02": {"length_psi": 0.23, "tag_kl": 0.02},
        "week_03": {"length_psi": 0.78, "tag_kl": 0.05},
    },
}
STEP = {"n_challenger": 20, "challenger_pass_rate": 0.9, "champion_pass_rate": 0.95}
TRAFFIC = {
    "production": "b" * 64,
    "candidate": SHA,
    "champion": {"family": "fp32", "semvers": ["v0.1.0"], "sha": "b" * 12},
    "challenger": {"family": "int8", "semvers": [], "sha": SHA[:12]},
    "week": 3,
    "requests": 2000,
    "replay": {
        "champion": {"n": 2000, "pass_rate": 0.95},
        "challenger": {"n": 2000, "pass_rate": 0.94},
    },
    "shadow": {
        "n_shadowed": 200,
        "fraction": 0.1,
        "champion_pass_rate": 0.95,
        "challenger_pass_rate": 0.93,
        "disagreements": 30,
        "disagreement_rate": 0.15,
    },
    "ab": {
        "champion": {"n": 1000, "pass_rate": 0.95},
        "challenger": {"n": 1000, "pass_rate": 0.94},
        "test": {"diff": -0.01, "alpha": 0.05, "ci_low": -0.03, "ci_high": 0.01, "p_value": 0.3},
        "significant": False,
        "adequately_powered": True,
        "required_per_arm": 900,
    },
    "canary": {
        "completed": False,
        "stopped_at": 0.05,
        "steps": [
            {**STEP, "fraction": 0.01, "p_worse": 0.2},
            {**STEP, "fraction": 0.05, "p_worse": 0.01, "challenger_pass_rate": 0.8},
        ],
    },
}
MLFLOW = MlflowLinks("http://mlflow.example.org:5000", "7", "gramops")


def _view(**overrides) -> StatusView:
    args = {
        "entries": {SHA: ENTRY},
        "semvers_of": lambda sha: ["v0.2.0"],
        "aliases": {"production": SHA},
        "history": [{"op": "register", "sha": SHA, "seq": 1}],
        "costs": {},
        "drift": DRIFT,
        "gate": {"decision": "hold", "registry": {"seq": 12}},
        "traffic": TRAFFIC,
        "built": BuiltFrom(12, HEAD, (("metrics/gate.json", "0" * 32),)),
        "mlflow": MLFLOW,
    }
    return status_view(**{**args, **overrides})


def test_every_missing_input_is_named_with_the_stage_that_writes_it(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gate.json").write_text("{}")
    with pytest.raises(GramopsError) as raised:
        check_inputs(tmp_path)
    message = str(raised.value)
    assert message.startswith("status page: missing input metrics/drift.json (stage drift), ")
    assert "plots/lineage.png (stage lineage)" in message and "gate.json" not in message
    (tmp_path / "plots").mkdir()
    for path in INPUTS:
        (tmp_path / path).write_text("{}")
    check_inputs(tmp_path)  # all there: no error


def test_input_hashes_are_the_md5_dvc_lock_records(tmp_path):
    (tmp_path / "a.json").write_bytes(b"{}\n")
    assert input_hashes(tmp_path, [Path("a.json")]) == (
        ("a.json", "8a80554c91d9fca8acb82f023de02f11"),
    )


def test_page_states_the_registry_state_it_shows():
    page = render_html(_view())
    dom = Dom(page)
    assert "This page shows the registry at audit log record 12" in dom.all_text()
    assert "production int8 v0.2.0 (aaaaaaaaaaaa)" in dom.all_text()
    assert stated_state(page) == (12, HEAD)
    assert dom.rows("inputs") == [{"input": "metrics/gate.json", "md5": "0" * 32}]
    # no time and no commit: the same inputs give the same bytes on every clone
    assert render_html(_view()) == page
    # the gate judged the same registry state: no stale-decision banner
    assert "stale" not in dom.ids


def test_a_gate_decision_on_another_registry_state_shows_a_stale_banner():
    dom = Dom(render_html(_view(gate={"decision": "promote", "registry": {"seq": 10}})))
    assert "stale" in dom.ids
    assert "the gate judged audit log record 10, but this page shows" in dom.all_text()


def test_staleness_compares_the_page_with_the_registry():
    page = Path("status/index.html")
    current = {"seq": 12, "head": HEAD}
    assert staleness(page, (12, HEAD), current) is None
    history = [
        {"seq": 12, "op": "register"},
        {"seq": 13, "op": "promote"},
        {"seq": 14, "op": "alias"},
    ]
    assert staleness(page, (12, HEAD), {"seq": 14, "head": "e" * 64}, history) == (
        "status/index.html is stale: it shows audit log record 12, the registry is at record 14 "
        "(2 registry operations since: promote, alias); rebuild it with `dvc repro status`"
    )
    other = staleness(page, (12, HEAD), {"seq": 12, "head": "e" * 64})
    assert "another history" in other
    assert "does not state the registry state" in staleness(page, None, current)
    assert stated_state("<html><head></head></html>") is None


def test_mlflow_links_find_runs_by_tag_and_the_model_by_name():
    dom = Dom(render_html(_view()))
    base = "http://mlflow.example.org:5000/#/"
    assert f"{base}models/gramops" in dom.urls
    run = f"{base}experiments/7?searchFilter=tags.%60gramops.canonical_sha%60%20%3D%20%27{SHA}%27"
    assert dom.rows("entries")[0]["MLflow"] == "run" and run in dom.urls
    assert f"{base}experiments/7?searchFilter=tags.%60gramops.kind%60%20%3D%20%27pipeline%27" in (
        dom.urls
    )
    # without a base URL the page has no MLflow link and no MLflow column
    plain = Dom(render_html(_view(mlflow=None)))
    assert not [u for u in plain.urls if u.startswith("http")]
    assert "MLflow" not in plain.rows("entries")[0]


def test_mlflow_tags_are_the_ones_the_mirror_writes():
    assert status_sections.TAG_SHA == tracking_models.TAG_SHA
    assert status_sections.TAG_KIND == tracking_runs.TAG_KIND
    assert status_sections.TAG_STAGE == tracking_runs.TAG_STAGE


def test_mlflow_url_is_validated_with_what_is_allowed():
    assert validate_section({"status": {"mlflow_url": None}}, "status").mlflow_url is None
    for bad in ("http://host:5000/", "ftp://host", "http://host/?x=1", "host:5000"):
        with pytest.raises(ParamsError, match=r"status\.mlflow_url: .*http\(s\)://host"):
            validate_section({"status": {"mlflow_url": bad}}, "status")


def test_weekly_drift_trend_is_inline_with_thresholds():
    trend = weekly_trend(DRIFT)
    assert trend.weeks == (1, 2, 3)
    length, tag = trend.rows
    assert (length.feature, length.statistic, length.values) == (
        "length",
        "PSI",
        (0.09, 0.23, 0.78),
    )
    assert length.over == (False, True, True) and tag.over == (False, False, False)
    # the chart's scale always holds the threshold line; the last point is the highest
    assert 0 < length.spark.threshold_y < 30 and length.spark.dots[-1][1] == 4.0
    dom = Dom(render_html(_view()))
    rows = dom.rows("drift-weekly")
    assert [r["feature"] for r in rows] == ["length", "tag"]
    assert (rows[0]["week 1"], rows[0]["week 3"]) == ("0.0900", "0.7800")
    assert "svg" in dom.tags and "polyline" in dom.tags


def test_traffic_summary_is_inline():
    summary = traffic_summary(TRAFFIC)
    assert summary.verdict == "fail"
    dom = Dom(render_html(_view()))
    rows = {r["strategy"].split(":")[0]: r for r in dom.rows("traffic")}
    assert rows["replay"]["production pass"] == "95.0%"
    assert rows["A/B"]["candidate pass"] == "94.0%"
    assert "p = 0.300: not significant" in rows["A/B"]["result"]
    assert "aborted at 5.0%" in rows["canary ramp"]["result"]
    assert [r["candidate pass"] for r in dom.rows("canary-steps")] == ["90.0%", "80.0%"]
    note = Dom(render_html(_view(traffic={"note": "nothing to compare"})))
    assert "No comparison: nothing to compare." in note.all_text()


def test_the_template_ships_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gramops.report"]
    templates = ROOT / "src" / "gramops" / "report" / "templates"
    files = [p.relative_to(templates.parent).as_posix() for p in templates.iterdir()]
    assert files and all(any(fnmatch(f, pattern) for pattern in patterns) for f in files)
    dependencies = " ".join(config["project"]["dependencies"])
    assert "jinja2" in dependencies
    assert "Jinja2==" in (ROOT / "requirements.lock").read_text()
