"""Every `dvc plots show` chart is titled and labelled for a person, its template exists and
fills with the rows gramops.report.plot_data writes, and the rendered page stays out of git."""

import json

import pytest
import yaml
from dvc_render.vega import VegaRenderer

from helpers.paths import ROOT

TEMPLATES = ROOT / ".dvc" / "plots"
BUILT_IN = {"confusion", "linear", "scatter", "simple", "smooth", "bar_horizontal"}


def _plots() -> dict[str, dict]:
    """Every plot definition in dvc.yaml: stage plots (CSV ones) and the top-level ones."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    found = {}
    for name, stage in dvc["stages"].items():
        for entry in stage.get("do", stage).get("plots", []):
            (path, props), *_ = (entry if isinstance(entry, dict) else {entry: {}}).items()
            if not path.endswith(".png"):
                found[f"{name}: {path}"] = props
    for entry in dvc["plots"]:
        (title, props), *_ = entry.items()
        found[title] = {"title": title, **props}
    return found


@pytest.mark.parametrize("name", sorted(_plots()))
def test_every_chart_has_a_title_axis_titles_and_a_template_that_exists(name):
    props = _plots()[name]
    for key in ("title", "x_label", "y_label"):
        assert props.get(key), f"{name}: no {key}"
    assert props["y_label"] != "y" and props["x_label"] != "x"
    template = props.get("template", "linear")
    assert template in BUILT_IN or (TEMPLATES / f"{template}.json").is_file(), name


TREND_ROW = {
    "week": "2",
    "feature": "length",
    "statistic": "PSI: numeric features",
    "value": "0.4",
    "moderate": "0.1",
    "major": "0.25",
    "intensity": "0.5",
}
BAR_ROW = {"bin": "go", "series": "current", "share": "0.2", "caption": "KL 0.081 | OTHER"}
COST_ROW = {"label": "int8 v0.2.0", "usd_per_1b_tokens": "0.0274", "pass_rate": "0.95"}
CANARY_ROW = {"step": "0.05", "arm": "champion", "pass_rate": "0.95"}


@pytest.mark.parametrize(
    ("template", "row", "x", "y"),
    [
        ("drift_trend", TREND_ROW, "week", "value"),
        ("grouped_bars", BAR_ROW, "bin", "share"),
        ("cost_quality", COST_ROW, "usd_per_1b_tokens", "pass_rate"),
        ("canary", CANARY_ROW, "step", "pass_rate"),
    ],
)
def test_custom_templates_fill_every_anchor_with_the_rows_written(template, row, x, y):
    renderer = VegaRenderer(
        [{**row, "rev": "workspace"}],
        "plot",
        template=template,
        template_dir=str(TEMPLATES),
        x=x,
        y=y,
        title="a title",
        x_label="an x title",
        y_label="a y title",
    )
    spec = json.dumps(renderer.get_filled_template())
    assert "<DVC_METRIC" not in spec
    assert '"a title"' in spec and '"an x title"' in spec and '"a y title"' in spec


def test_the_trend_draws_threshold_rules_from_the_rows_not_from_numbers():
    text = (TEMPLATES / "drift_trend.json").read_text()
    spec = json.loads(text)
    rules = spec["spec"]["layer"][0]
    assert {"fold": ["moderate", "major"], "as": ["band", "threshold"]} in rules["transform"]
    assert rules["layer"][0]["mark"]["type"] == "rule"
    assert "0.25" not in text and "0.1" not in text


def test_the_rendered_plots_page_is_not_committed():
    assert "/dvc_plots/" in (ROOT / ".gitignore").read_text().splitlines()
