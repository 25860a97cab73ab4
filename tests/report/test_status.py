"""The status page builder: what it shows, escaping, no network, determinism, the stage."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import browser
from browser import Dom, dump_dom
from gramops.report.status import status_view
from gramops.report.status_page import Image, render_html
from helpers.paths import ROOT
from helpers.processes import tool_env

FP32, INT8, LORA = "a" * 64, "b" * 64, "c" * 64
TAGS = {"v0.1.0": FP32, "v0.2.0": INT8, "v0.3.0": LORA}


def _entry(sha, family, registered_at, parent=None, pass_rate=0.95):
    return {
        "sha": sha,
        "family": family,
        "parent_sha": parent,
        "size_bytes": {"fp32": 16_785_964, "int8": 4_201_166, "lora": 2_108_577}[family],
        "registered_at": registered_at,
        "metrics": {
            "verb": {"strict_accuracy": 0.847, "pass_rate": pass_rate},
            "tutor": {"strict_accuracy": 0.805, "pass_rate": 0.951},
        },
    }


ENTRIES = {
    LORA: _entry(LORA, "lora", "2026-11-23T12:00:01Z", FP32, 0.92),
    FP32: _entry(FP32, "fp32", "2026-11-23T12:00:00Z"),
    INT8: _entry(INT8, "int8", "2026-11-23T12:00:01Z", FP32),
}
HISTORY = [
    # registered within one second, LoRA before INT8: the log's order is the order
    *(
        {"op": "register", "sha": sha, "alias": None, "new": sha, "time": "t", "actor": "x"}
        for sha in (FP32, LORA, INT8)
    ),
    {
        "op": "alias",
        "alias": "production",
        "new": FP32,
        "time": "2026-11-23T12:00:02Z",
        "actor": "stage:register",
    },
    {
        "op": "alias",
        "alias": "production",
        "new": INT8,
        "time": "2026-11-23T12:05:00Z",
        "actor": "stage:gate",
    },
    {
        "op": "alias",
        "alias": "challenger",
        "new": LORA,
        "time": "2026-11-23T12:06:00Z",
        "actor": "ana",
    },
    {"op": "annotate", "sha": INT8, "alias": None, "new": {}, "time": "later", "actor": "m"},
]
COSTS = {
    "usd_per_cpu_hour": 0.04,
    "entries": {
        FP32[:12]: {
            "sha": FP32,
            "cpu_us_per_1k_tokens": 3982.5,
            "usd_per_1b_tokens": 4.425e-05,
            "cpqu": 4.63869e-05,
        },
        INT8[:12]: {
            "sha": INT8,
            "cpu_us_per_1k_tokens": 3248.8,
            "usd_per_1b_tokens": 3.60979e-05,
            "cpqu": 3.78411e-05,
        },
    },
}


def _feature(decided_by, value, status="none", significant=False):
    return {
        "decided_by": decided_by,
        decided_by: value,
        "threshold": 0.1,
        "null": {decided_by: 0.02},
        "significant": significant,
        "status": status,
    }


DRIFT = {
    "status": "major",
    "retrain": True,
    "reasons": ["length: PSI 0.7809 ≥ 0.1 and above the no-shift 99th percentile: major drift"],
    "current": {"week": 4, "records": 2000},
    "production": {"sha": INT8[:12], "semvers": ["v0.2.0"]},
    "features": {
        "tag": _feature("kl", 0.05),
        "length": _feature("psi", 0.7809, "major", True),
        "confidence": _feature("psi", 0.01),
    },
}
GATE = {
    "decision": "block",
    "champion": INT8,
    "challenger": LORA,
    "reasons": ["quality floor: <script>alert(1)</script> & co"],
    "rules": [
        {
            "name": "quality_floor",
            "verdict": "fail",
            "value": 0.92,
            "threshold": 0.93,
            "detail": "d",
        },
        {"name": "drift", "verdict": "pass", "value": True, "threshold": False, "detail": "ok"},
    ],
}


TRAFFIC = {"production": INT8, "candidate": None, "note": "nothing to compare"}


def _view(**overrides):
    args = {
        "entries": ENTRIES,
        "semvers_of": lambda sha: sorted(v for v, s in TAGS.items() if s == sha),
        "aliases": {"production": INT8, "challenger": LORA},
        "history": HISTORY,
        "costs": COSTS,
        "drift": DRIFT,
        "gate": GATE,
    }
    return status_view(**{**args, **overrides})


def _page(**overrides) -> str:
    return render_html(_view(**overrides), images=(Image("Lineage", Path("p.png"), "lineage.png"),))


def test_aliases_show_the_holder_and_the_move_that_put_it_there():
    view = _view()
    production = next(a for a in view.aliases if a.alias == "production")
    assert (production.sha, production.family, production.semvers) == (INT8, "int8", ("v0.2.0",))
    assert production.since == "2026-11-23T12:05:00Z"
    assert (production.moved_by, production.how, production.earlier_moves) == (
        "stage:gate",
        "alias",
        1,
    )
    assert [a.alias for a in view.aliases] == ["challenger", "production"]
    assert [p["sha"] for p in view.production_history] == [FP32, INT8]


def test_an_alias_with_no_logged_move_has_no_date_rather_than_a_wrong_one():
    view = _view(aliases={"production": LORA})
    (production,) = view.aliases
    assert production.since is None and production.moved_by is None


def test_entries_in_registration_order_with_costs_matched_by_sha():
    view = _view()
    assert [e.sha for e in view.entries] == [FP32, LORA, INT8]
    by_sha = {e.sha: e for e in view.entries}
    assert by_sha[INT8].cpqu == 3.78411e-05
    assert by_sha[INT8].cpu_us_per_1k_tokens == 3248.8
    assert by_sha[INT8].aliases == ("production",)
    # LoRA was never measured: no cost is shown rather than another entry's
    assert by_sha[LORA].cpqu is None and by_sha[LORA].usd_per_1b_tokens is None


def test_page_shows_production_entries_drift_and_gate():
    dom = Dom(_page())
    assert "int8 v0.2.0 (bbbbbbbbbbbb)" in dom.all_text()
    entries = dom.rows("entries")
    assert [(r["semver"], r["family"], r["SHA"]) for r in entries] == [
        ("v0.1.0", "fp32", FP32[:12]),
        ("v0.3.0", "lora", LORA[:12]),
        ("v0.2.0", "int8", INT8[:12]),
    ]
    fp32, lora, int8 = entries
    assert int8["size"] == "4.2 MB" and int8["aliases"] == "production"
    assert int8["verb pass"] == "95.0%" and lora["verb pass"] == "92.0%"
    assert int8["CpQU"] == "3.78e-05" and lora["CpQU"] == "–"
    assert int8["CPU µs / 1k tokens"] == "3,249" and int8["USD / 1B tokens"] == "3.61e-05"
    assert lora["parent"] == f"fp32 v0.1.0 ({FP32[:12]})" and fp32["parent"] == "–"
    aliases = {r["alias"]: r for r in dom.rows("aliases")}
    assert aliases["production"]["since"] == "2026-11-23T12:05:00Z"
    assert aliases["production"]["moved by"] == "stage:gate"
    # drift features, the one furthest beyond its threshold first
    drift = dom.rows("drift-features")
    assert [r["feature"] for r in drift] == ["length", "tag", "confidence"]
    assert drift[0]["value"] == "0.7809" and drift[0]["status"] == "major"
    assert drift[0]["no-shift quantile"] == "0.0200"
    rules = {r["rule"]: r for r in dom.rows("gate-rules")}
    assert rules["quality_floor"]["verdict"] == "fail"
    # a yes/no rule says what its value and threshold mean
    assert (rules["drift"]["value"], rules["drift"]["threshold"]) == (
        "evaluated on this week's traffic",
        "not required: no retraining demanded",
    )
    assert {"drift-status", "gate-decision", "production-model"} <= dom.ids


def test_text_is_escaped_and_the_page_needs_no_network_or_script():
    page = _page()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    dom = Dom(page)
    assert "script" not in dom.tags
    # in-page anchors and the image beside the page; no MLflow configured, no address
    assert [u for u in dom.urls if not u.startswith("#")] == ["lineage.png"]
    assert "http" not in page


def test_images_must_lie_beside_the_page():
    with pytest.raises(ValueError, match="file name in status/"):
        render_html(_view(), images=(Image("x", Path("x.png"), "../plots/x.png"),))


def test_same_inputs_give_the_same_bytes():
    reordered = dict(reversed(list(ENTRIES.items())))
    assert _page() == _page(entries=reordered)


def test_chromium_renders_the_tables(tmp_path):
    page = tmp_path / "index.html"
    page.write_text(_page(), encoding="utf-8")
    dom = Dom(dump_dom(page, tmp_path / "profile"))
    # Chromium adds <tbody>, nothing else: the tables survive parsing intact
    assert len(dom.rows("entries")) == 3
    assert [r["alias"] for r in dom.rows("aliases")] == ["challenger", "production"]
    assert dom.rows("drift-features")[0]["status"] == "major"
    assert "bbbbbbbbbbbb" in dom.all_text()


# -- the stage ------------------------------------------------------------------------------


def _stage(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "status.py")],
        cwd=cwd,
        env=tool_env(),
        capture_output=True,
        text=True,
    )


def test_stage_names_a_missing_input_and_writes_nothing(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gate.json").write_text(json.dumps(GATE))
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = _stage(tmp_path)
    assert result.returncode == 2
    assert "metrics/drift.json (stage drift)" in result.stderr
    assert "metrics/cpqu.json (stage cpqu)" in result.stderr
    assert not (tmp_path / "status").exists()


def test_stage_builds_the_page_from_a_registry(tmp_path):
    registry = tmp_path / "models" / "registry"
    (registry / "entries").mkdir(parents=True)
    for sha, entry in ENTRIES.items():
        (registry / "entries" / f"{sha}.json").write_text(json.dumps(entry))
    (registry / "tags.json").write_text(json.dumps(TAGS))
    (registry / "aliases.json").write_text(json.dumps({"production": INT8}))
    (registry / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HISTORY))
    for name, data in (("cpqu", COSTS), ("drift", DRIFT), ("gate", GATE), ("traffic", TRAFFIC)):
        (tmp_path / "metrics").mkdir(exist_ok=True)
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps(data))
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "lineage.png").write_bytes(b"lineage-png")
    (tmp_path / "plots" / "drift.png").write_bytes(b"drift-png")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = _stage(tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "status" / "index.html").read_text()
    dom = Dom(page)
    assert [r["SHA"] for r in dom.rows("entries")] == [FP32[:12], LORA[:12], INT8[:12]]
    # status/ stands alone: the images are copies beside the page, nothing links out of it
    assert "lineage.png" in dom.urls and "drift.png" in dom.urls
    mlflow = "http://127.0.0.1:5000/#/"  # params.yaml:status.mlflow_url
    local = [u for u in dom.urls if not u.startswith(mlflow)]
    assert local and not [u for u in local if u.startswith("..") or "/" in u.split("#")[0]]
    assert (tmp_path / "status" / "lineage.png").read_bytes() == b"lineage-png"
    assert not list((tmp_path / "status").glob("*.tmp"))
    assert _stage(tmp_path).returncode == 0
    assert (tmp_path / "status" / "index.html").read_text() == page


# -- the browser requirement ----------------------------------------------------------------


def test_a_missing_browser_skips_locally_but_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI requires headless Chromium"):
        browser.require_chromium()
