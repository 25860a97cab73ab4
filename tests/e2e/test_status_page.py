"""The status page a fresh clone's `dvc repro` builds, as headless Chromium renders it."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from browser import Dom, dump_dom, screenshot
from gramops.registry.auditlog import alias_moves
from helpers.processes import tool_env

pytestmark = pytest.mark.e2e

PAGE = Path("status/index.html")


def _json(repo: Path, path: str):
    return json.loads((repo / path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rendered(pipeline_repo, tmp_path_factory) -> dict:
    repo = pipeline_repo["path"]
    profile = tmp_path_factory.mktemp("chromium-profile")
    return {"repo": repo, "dom": Dom(dump_dom(repo / PAGE, profile)), "profile": profile}


def test_page_shows_production_with_its_semver_sha_and_promotion(rendered):
    repo, dom = rendered["repo"], rendered["dom"]
    production = _json(repo, "models/registry/aliases.json")["production"]
    semvers = [
        v for v, sha in _json(repo, "models/registry/tags.json").items() if sha == production
    ]
    # production was promoted, and a promotion binds a semver
    assert semvers
    family = _json(repo, f"models/registry/entries/{production}.json")["family"]
    assert f"{family} {', '.join(semvers)} ({production[:12]})" in dom.all_text()
    row = {r["alias"]: r for r in dom.rows("aliases")}["production"]
    assert row["SHA"] == production[:12] and row["semver"] == ", ".join(semvers)
    # the audit log's last move of production (a signed `gramops promote` with a reason)
    records = [
        json.loads(line) for line in (repo / "models/registry/index.jsonl").read_text().splitlines()
    ]
    last = alias_moves(records, "production")[-1]
    assert last["new"] == production and last["op"] == "promote" and last["reason"]
    assert (row["since"], row["moved by"], row["how"]) == (
        last["time"],
        last["actor"],
        "promote",
    )
    # the history table says why, newest first
    newest = dom.rows("production-history")[0]
    assert newest["model"] == f"{family} {', '.join(semvers)} ({production[:12]})"
    assert (newest["until"], newest["why"]) == ("now", last["reason"])


def test_page_has_a_row_per_registry_entry_with_its_cost(rendered):
    repo, dom = rendered["repo"], rendered["dom"]
    entries = {
        p.stem: _json(repo, str(p.relative_to(repo)))
        for p in (repo / "models/registry/entries").glob("*.json")
    }
    rows = {r["SHA"]: r for r in dom.rows("entries")}
    assert set(rows) == {sha[:12] for sha in entries}
    # cpqu.json is keyed by 12-hex SHA; entries it did not cost show no cost, not a wrong one
    costs = _json(repo, "metrics/cpqu.json")["entries"]
    costed = set()
    for sha, entry in entries.items():
        row, cost = rows[sha[:12]], costs[sha[:12]]
        assert row["family"] == entry["family"]
        assert row["verb pass"] == f"{100 * entry['metrics']['verb']['pass_rate']:.1f}%"
        cells = (row["CPU µs / 1k tokens"], row["USD / 1B tokens"], row["CpQU"])
        if cost["costed"]:
            costed.add(sha)
            assert cells == (
                f"{cost['cpu_us_per_1k_tokens']:,.0f}",
                f"{cost['usd_per_1b_tokens']:.3g}",
                f"{cost['cpqu']:.3g}",
            )
        else:
            assert cells == ("–", "–", "–")
    # costed are the models this run built and production
    built = set(_json(repo, "metrics/registry.json")["shas"].values())
    assert costed == built | {_json(repo, "models/registry/aliases.json")["production"]}


def test_page_shows_drift_and_gate_as_the_metrics_say(rendered):
    repo, dom = rendered["repo"], rendered["dom"]
    drift = _json(repo, "metrics/drift.json")
    features = {r["feature"]: r for r in dom.rows("drift-features")}
    assert set(features) == set(drift["features"])
    for name, feature in drift["features"].items():
        assert features[name]["status"] == feature["status"]
        assert features[name]["value"] == f"{feature[feature['decided_by']]:.4f}"
    text = dom.all_text()
    assert f"drift: {drift['status']}" in text
    gate = _json(repo, "metrics/gate.json")
    assert f"gate: {gate['decision']}" in text
    # the candidate's rules, then the rules production itself is held to
    assert [r["rule"] for r in dom.rows("gate-rules")] == [r["name"] for r in gate["rules"]] + [
        f"production: {r['name']}" for r in gate["production_rules"]
    ]
    assert gate["production_rules"], "production is always held to the quality floor"
    if gate["candidate"] is None:
        # a fresh clone of a promoted production: the challenger is production itself
        assert gate["decision"] == "hold"
        assert "no candidate; production is" in text


def test_status_directory_stands_alone(rendered):
    repo, dom = rendered["repo"], rendered["dom"]
    assert "script" not in dom.tags
    mlflow = yaml.safe_load((repo / "params.yaml").read_text())["status"]["mlflow_url"]
    local = [u for u in dom.urls if not u.startswith("#") and not u.startswith(f"{mlflow}/#/")]
    assert local, "the page shows its images"
    for url in local:
        # a file beside the page: status/ can be published on its own
        assert "/" not in url and ":" not in url, f"{url} leaves status/"
        assert (repo / PAGE).parent.joinpath(url).is_file(), f"{url} is not in status/"
    assert {"lineage.png", "drift.png"} <= set(local)
    assert (repo / "status/lineage.png").read_bytes() == (repo / "plots/lineage.png").read_bytes()
    # runs and model versions in the MLflow UI params.yaml names
    assert f"{mlflow}/#/models/gramops" in dom.urls


def test_page_states_the_registry_it_shows_and_the_check_agrees(rendered):
    repo, dom = rendered["repo"], rendered["dom"]
    state = _json(repo, "metrics/gate.json")["registry"]
    assert f"This page shows the registry at audit log record {state['seq']}" in dom.all_text()
    check = subprocess.run(
        [sys.executable, "-m", "gramops.cli", "status", "--check"],
        cwd=repo,
        env=tool_env(),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is current" in check.stdout


def test_page_is_rebuilt_byte_for_byte(rendered):
    repo = rendered["repo"]
    before = (repo / PAGE).read_bytes()
    subprocess.run(
        [sys.executable, "stages/status.py"],
        cwd=repo,
        env=tool_env(),
        check=True,
        capture_output=True,
    )
    assert (repo / PAGE).read_bytes() == before


def test_chromium_draws_the_page(rendered, tmp_path):
    png = screenshot(rendered["repo"] / PAGE, rendered["profile"], tmp_path / "status.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2200)
    # a blank page compresses to a few kB; tables, badges, charts and two images do not
    assert len(data) > 100_000
