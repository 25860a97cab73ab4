"""Traffic strategies: deterministic nested routing, the behaviour of shadow, A/B and
canary, slices, the report with and without a candidate, registered models compared by
their answers, and which model traffic.challenger names."""

import itertools
import json
import math
import subprocess
import sys
from inspect import signature

import numpy as np
import pytest

from gramops.core.errors import GramopsError
from gramops.core.fileio import write_csv
from gramops.core.vocab import short
from gramops.inference.evaluate import passes
from gramops.inference.predictor import load_predictor
from gramops.monitoring import (
    traffic,
    traffic_replay,
    traffic_report,
    traffic_slices,
    traffic_stats,
    traffic_strategies,
)
from gramops.monitoring.challenger import confidence_model, resolve_challenger
from gramops.monitoring.traffic_replay import Replay, TrafficError
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle

IDS = [f"req-{i}" for i in range(10_000)]


def make_replay(
    champion_rate: float, challenger_rate: float, n: int = 10_000, seed: int = 0
) -> Replay:
    """Synthetic replay: each model passes independently at its rate; strict = pass."""
    rng = np.random.default_rng(seed)
    champ = rng.random(n) < champion_rate
    chall = rng.random(n) < challenger_rate
    records = [{"tokens": ["They", "walk", "home", "."], "verb_index": 1, "form": "walk"}] * n
    return Replay.build(
        request_ids=IDS[:n],
        champion_pass=champ,
        challenger_pass=chall,
        champion_strict=champ,
        challenger_strict=chall,
        champion_forms=["walk" if p else "walked" for p in champ],
        challenger_forms=["walk" if p else "walked" for p in chall],
        records=records,
    )


# --------------------------------------------------------------------------- routing


def test_route_is_deterministic_across_calls_and_processes():
    ids = IDS[:50]
    here = [traffic_replay.route(i, "ab") for i in ids]
    assert here == [traffic_replay.route(i, "ab") for i in ids]
    code = (
        "import json, sys; from gramops.monitoring.traffic_replay import route; "
        "print(json.dumps([route(i, 'ab') for i in json.loads(sys.argv[1])]))"
    )
    # A fresh interpreter has a different str-hash seed, so this fails if routing used hash().
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ids)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == here


def test_route_depends_on_salt_and_stays_in_unit_interval():
    values = traffic_replay.routes(IDS, "shadow")
    assert values.min() >= 0.0 and values.max() < 1.0
    assert not np.array_equal(values, traffic_replay.routes(IDS, "ab"))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.9])
def test_assign_fraction_matches_request_within_noise(fraction):
    share = traffic_replay.assign(IDS, fraction, "ab").mean()
    sigma = math.sqrt(fraction * (1 - fraction) / len(IDS))
    assert abs(share - fraction) < 4 * sigma


def test_assign_edges_and_bad_fraction():
    assert not traffic_replay.assign(IDS[:100], 0.0, "ab").any()
    assert traffic_replay.assign(IDS[:100], 1.0, "ab").all()
    with pytest.raises(TrafficError, match="fraction"):
        traffic_replay.assign(IDS, 1.5, "ab")


def test_canary_steps_are_nested():
    masks = [
        traffic_replay.assign(IDS, s, "canary") for s in traffic_strategies.DEFAULT_CANARY_STEPS
    ]
    for small, large in itertools.pairwise(masks):
        assert not (small & ~large).any()
        assert large.sum() > small.sum()


# --------------------------------------------------------------------------- shadow


def small_replay() -> Replay:
    tokens = ["She", "walk", "to", "work", "."]
    champion = ["walks", "walks", "walked", "walks", "walks", "walks"]
    challenger = ["walks", "walked", "walked", "walk", "walks", "walking"]
    return Replay.build(
        request_ids=[f"r{i}" for i in range(6)],
        champion_pass=[True, True, False, True, True, True],
        challenger_pass=[True, False, False, False, True, False],
        champion_strict=[True, True, False, True, True, True],
        challenger_strict=[True, False, False, False, True, False],
        champion_forms=champion,
        challenger_forms=challenger,
        records=[{"tokens": tokens, "verb_index": 1, "form": "walks"}] * 6,
    )


def test_shadow_counts_disagreements_and_lists_examples():
    result = traffic_strategies.shadow(small_replay(), fraction=1.0, examples=2)
    assert result["n_shadowed"] == 6
    assert result["disagreements"] == 3
    assert result["disagreement_rate"] == 0.5
    assert result["champion_pass_rate"] == pytest.approx(5 / 6, abs=1e-6)
    assert result["challenger_pass_rate"] == pytest.approx(2 / 6, abs=1e-6)
    assert result["challenger_strict_accuracy"] == pytest.approx(2 / 6, abs=1e-6)
    assert result["champion_only_pass"] == 3
    assert result["challenger_only_pass"] == 0
    assert result["examples"] == [
        {
            "request_id": "r1",
            "sentence": "She [___] to work .",
            "gold": "walks",
            "champion": "walks",
            "challenger": "walked",
            "champion_pass": True,
            "challenger_pass": False,
        },
        {
            "request_id": "r3",
            "sentence": "She [___] to work .",
            "gold": "walks",
            "champion": "walks",
            "challenger": "walk",
            "champion_pass": True,
            "challenger_pass": False,
        },
    ]
    assert "without any user seeing its answers" in result["question"]


def test_shadow_measures_only_the_mirrored_fraction():
    replay = make_replay(0.9, 0.5)
    result = traffic_strategies.shadow(replay)
    mirrored = traffic_replay.assign(IDS, 0.1, "shadow")
    assert result["n_shadowed"] == mirrored.sum()
    assert result["challenger_pass_rate"] == pytest.approx(
        replay.challenger_pass[mirrored].mean(), abs=1e-6
    )
    assert result["champion_pass_rate_all"] == pytest.approx(replay.champion_pass.mean(), abs=1e-6)
    assert len(result["examples"]) == 5


# --------------------------------------------------------------------------- A/B


def test_ab_detects_a_large_difference():
    result = traffic_strategies.ab_test(make_replay(0.9, 0.7))
    assert result["significant"]
    assert result["test"]["diff"] < 0
    assert result["test"]["ci_high"] < 0
    assert result["champion"]["n"] + result["challenger"]["n"] == len(IDS)
    assert result["adequately_powered"]


def test_ab_equal_arms_not_significant():
    result = traffic_strategies.ab_test(make_replay(0.8, 0.8, seed=3))
    assert not result["significant"]
    assert result["test"]["ci_low"] < 0 < result["test"]["ci_high"]
    assert result["required_per_arm"] == traffic_stats.required_sample_size(
        result["champion"]["pass_rate"], 0.05
    )


def test_ab_rejects_split_with_empty_arm():
    with pytest.raises(TrafficError, match="arm empty"):
        traffic_strategies.ab_test(make_replay(0.8, 0.8), fraction=0.0)


# --------------------------------------------------------------------------- canary


def test_canary_aborts_early_on_a_clearly_worse_challenger():
    result = traffic_strategies.canary(make_replay(0.9, 0.5))
    assert not result["completed"]
    assert result["stopped_at"] in (0.01, 0.05)
    assert result["steps"][-1]["fraction"] == result["stopped_at"]
    assert result["steps"][-1]["aborted"]
    assert all(not s["aborted"] for s in result["steps"][:-1])


def test_canary_completes_on_an_equal_challenger():
    result = traffic_strategies.canary(make_replay(0.8, 0.8, seed=3))
    assert result["completed"]
    assert result["stopped_at"] is None
    assert [s["fraction"] for s in result["steps"]] == list(traffic_strategies.DEFAULT_CANARY_STEPS)
    last = result["steps"][-1]
    assert last["n_champion"] == 0 and last["p_worse"] is None
    for s in result["steps"]:
        assert s["n_challenger"] == traffic_replay.assign(IDS, s["fraction"], "canary").sum()


def test_canary_does_not_abort_on_a_better_challenger():
    assert traffic_strategies.canary(make_replay(0.6, 0.9))["completed"]


@pytest.mark.parametrize("steps", [[], [0.5, 0.25], [0.0, 1.0], [0.5, 1.5]])
def test_canary_rejects_bad_steps(steps):
    with pytest.raises(TrafficError, match="steps"):
        traffic_strategies.canary(make_replay(0.8, 0.8, n=100), steps=steps)


# --------------------------------------------------------------------------- replay, report


def test_replay_names_the_misaligned_input():
    with pytest.raises(TrafficError, match="challenger_forms"):
        Replay.build(["a", "b"], [1, 0], [1, 1], [1, 0], [1, 1], ["x", "y"], ["x"], [{}, {}])


def test_outputs_are_json_ready_and_report_states_each_question():
    replay = make_replay(0.9, 0.5)
    shadow, ab, canary = (
        traffic_strategies.shadow(replay),
        traffic_strategies.ab_test(replay),
        traffic_strategies.canary(replay),
    )
    for result in (shadow, ab, canary):
        assert json.loads(json.dumps(result)) == result
    text = traffic_report.report_markdown(
        shadow, ab, canary, champion="v1.0.0", challenger="v1.1.0"
    )
    for question in (
        traffic_strategies.SHADOW_QUESTION,
        traffic_strategies.AB_QUESTION,
        traffic_strategies.CANARY_QUESTION,
    ):
        assert question in text
    assert f"aborted at {100 * canary['stopped_at']:.1f}%" in text
    assert "`v1.1.0` (challenger)" in text


# --------------------------------------------------------------------------- slices


def _record(tag: str, lemma: str, form: str, acceptable: list[str], domain: str) -> dict:
    return {"tag": tag, "lemma": lemma, "form": form, "acceptable": acceptable, "domain": domain}


REFERENCE = [
    _record("VBD", "go", "went", ["went"], "verb"),
    _record("VBD", "walk", "walked", ["walked"], "verb"),
    _record("VBZ", "walk", "walks", ["walks"], "tutor"),
    _record("VBN", "dream", "dreamed", ["dreamed", "dreamt"], "tutor"),
]


def test_slice_counts_by_gold_tag_regularity_and_domain():
    # production: all gold; candidate: one pass that is not strict, one outright miss
    production = ["went", "walked", "walks", "dreamed"]
    candidate = ["goed", "walked", "walks", "dreamt"]
    table = traffic_slices.slices(REFERENCE, candidate, production)
    assert table["tag:VBD"] == {
        "candidate": {"n": 2, "passed": 1, "strict": 1},
        "production": {"n": 2, "passed": 2, "strict": 2},
    }
    # go is irregular; walk and dream (dreamed is the preferred past) are regular
    assert table["verb:irregular"]["candidate"] == {"n": 1, "passed": 0, "strict": 0}
    assert table["verb:regular"]["candidate"] == {"n": 3, "passed": 3, "strict": 2}
    assert table["domain:tutor"]["candidate"] == {"n": 2, "passed": 2, "strict": 1}
    assert table["domain:verb"]["production"] == {"n": 2, "passed": 2, "strict": 2}
    assert set(table) == {
        "tag:VBD",
        "tag:VBN",
        "tag:VBZ",
        "verb:irregular",
        "verb:regular",
        "domain:tutor",
        "domain:verb",
    }


def test_slice_counts_need_one_form_per_record():
    with pytest.raises(TrafficError, match="3 predicted forms for 4 records"):
        traffic_slices.slice_counts(REFERENCE, ["went", "walked", "walks"])


# --------------------------------------------------------------------------- the report

PRODUCTION = traffic.Model("a" * 64, "int8", ["v0.2.0"])
CANDIDATE = traffic.Model("b" * 64, "fp32", [])
PARAMS = type(
    "Params",
    (),
    {
        "shadow_fraction": 0.5,
        "ab_split": 0.5,
        "canary_steps": [0.25, 1.0],
        "alpha": 0.05,
        "mde": 0.05,
        "power": 0.8,
        "examples": 2,
    },
)()


def canary_csv(metrics, tmp_path) -> str:
    """plots/canary.csv as the traffic stage writes it, bytes decoded (line ends kept)."""
    path = tmp_path / "canary.csv"
    rows = traffic_report.canary_rows(metrics)
    write_csv(path, traffic_report.CANARY_FIELDS, rows, lineterminator="\n")
    return path.read_bytes().decode("utf-8")


def test_case10_candidate_equal_to_production_reports_nothing_to_compare(tmp_path):
    def compare():
        raise AssertionError("a model must not be compared with itself")

    metrics, text = traffic.report(PRODUCTION, PRODUCTION, compare)
    assert metrics["candidate"] is None
    assert metrics["production"] == PRODUCTION.sha
    assert "int8 v0.2.0 (aaaaaaaaaaaa)" in metrics["note"]
    assert "nothing to compare" in metrics["note"]
    assert not {"ab", "canary", "shadow", "challenger", "slices"} & set(metrics)
    assert "nothing to compare" in text
    assert "A/B" not in text and "Canary" not in text
    assert canary_csv(metrics, tmp_path) == "step,arm,pass_rate\n"


def test_a_real_candidate_gets_the_strategies_slices_and_its_full_sha(tmp_path):
    current = [
        {**r, "request_id": f"r{i}", "week": 3, "tokens": ["x", "y"], "verb_index": 1}
        for i, r in enumerate(REFERENCE * 25)
    ]
    gold = [r["form"] for r in current]
    worse = ["goed" if r["lemma"] == "go" else r["form"] for r in current]

    def compare():
        return traffic.comparison(
            current, gold, worse, REFERENCE, [r["form"] for r in REFERENCE], worse[:4], PARAMS
        )

    metrics, text = traffic.report(PRODUCTION, CANDIDATE, compare)
    assert metrics["candidate"] == CANDIDATE.sha and metrics["production"] == PRODUCTION.sha
    assert metrics["challenger"] == {"sha": "b" * 12, "semvers": [], "family": "fp32"}
    assert metrics["champion"]["sha"] == "a" * 12
    assert metrics["replay"]["champion"] == {"passed": 100, "n": 100, "pass_rate": 1.0}
    assert metrics["replay"]["challenger"]["passed"] == 75
    assert metrics["week"] == 3 and metrics["requests"] == 100
    assert metrics["slices"]["verb:irregular"]["candidate"]["strict"] == 0
    assert "`fp32 untagged (bbbbbbbbbbbb)` (challenger)" in text
    assert "| verb:irregular | 1 | 0.0% | 100.0% | 0.0% | 100.0% |" in text
    csv = canary_csv(metrics, tmp_path).split("\n")
    assert csv[0] == "step,arm,pass_rate" and len(csv) > 2 and csv[-1] == ""
    # the rows the stage wrote by hand before: f"{fraction},{arm},{rate}"
    first = metrics["canary"]["steps"][0]
    assert csv[1:3] == [
        f"{first['fraction']},{arm},{first[f'{arm}_pass_rate']}"
        for arm in ("champion", "challenger")
    ]
    assert json.loads(json.dumps(metrics)) == metrics


# --------------------------------------------------------------------------- the candidate


def _register(reg, bundle, family):
    # register() loses seed_semver in issue 11 (entries by SHA only); accept both signatures
    extra = {"seed_semver": "v0.9.0"} if "seed_semver" in signature(reg.register).parameters else {}
    return reg.register(bundle, family=family, **extra).sha


def test_a_family_means_the_bundle_this_run_built_not_the_newest(tmp_path):
    reg = Registry(tmp_path / "registry", actor="tester")
    built = _register(reg, tiny_bundle(tmp_path / "old", "fp32", seed=1), "fp32")
    newest = _register(reg, tiny_bundle(tmp_path / "new", "fp32", seed=2), "fp32")
    assert built != newest
    assert resolve_challenger(reg, "fp32", {"fp32": built}) == built
    assert resolve_challenger(reg, newest[:12], {"fp32": built}) == newest


def test_an_unbuilt_or_unregistered_candidate_names_the_key_and_the_file(tmp_path):
    reg = Registry(tmp_path / "registry", actor="tester")
    with pytest.raises(GramopsError, match=r"traffic.challenger 'lora': metrics/registry.json"):
        resolve_challenger(reg, "lora", {"int8": "c" * 64})
    with pytest.raises(GramopsError, match=r"traffic.challenger 'int8'.*not registered"):
        resolve_challenger(reg, "int8", {"int8": "c" * 64})
    with pytest.raises(GramopsError, match=r"traffic.challenger 'v7.0.0'.*not registered"):
        resolve_challenger(reg, "v7.0.0", {})


def test_before_a_first_release_the_candidate_is_not_compared_with_anything(tmp_path):
    def compare():
        raise AssertionError("there is no production to compare with")

    candidate = traffic.Model("b" * 64, "int8", [])
    metrics, text = traffic.report(None, candidate, compare)
    assert metrics["production"] is None and metrics["candidate"] == candidate.sha
    assert "no production model yet" in metrics["note"] and "first release" in text
    assert canary_csv(metrics, tmp_path) == "step,arm,pass_rate\n"


# --------------------------------------------------------------------------- registered models


def test_registered_models_are_named_and_compared_by_their_answers(tmp_path):
    reg = Registry(tmp_path / "registry", actor="tester")
    production = _register(reg, tiny_bundle(tmp_path / "p", "fp32", seed=1), "fp32")
    candidate = _register(reg, tiny_bundle(tmp_path / "c", "fp32", seed=2), "fp32")
    reg.tag(production, "v0.3.0")
    assert traffic.Model.of(reg, production) == traffic.Model(production, "fp32", ["v0.3.0"])
    reference = [{**r, "tokens": ["x", "walk", "y"], "verb_index": 1} for r in REFERENCE]
    current = [{**r, "request_id": f"r{i}", "week": 2} for i, r in enumerate(reference * 10)]
    result = traffic.compare_registered(
        reg, production, candidate, current, reference, PARAMS, tmp_path / "work"
    )
    # each side's counts are its own model's answers, checked against its acceptable forms
    for sha, arm in ((production, "champion"), (candidate, "challenger")):
        forms = load_predictor(reg.materialize(sha, tmp_path / short(sha))).predict(current).forms
        assert result["replay"][arm]["passed"] == sum(passes(current, forms))
    assert result["requests"] == 40 and set(result["slices"]) >= {"tag:VBD", "domain:verb"}


def test_confidence_drift_watches_production_or_before_a_release_the_candidate(tmp_path):
    reg = Registry(tmp_path / "registry", actor="tester")
    built = _register(reg, tiny_bundle(tmp_path / "b", "fp32", seed=1), "fp32")
    reads = []

    def read_built():
        reads.append(1)
        return {"fp32": built}

    assert confidence_model(reg, "fp32", read_built) == built
    reg.set_alias("production", built)
    assert confidence_model(reg, "fp32", read_built) == "production"
    assert len(reads) == 1  # metrics/registry.json is read only when there is no production
