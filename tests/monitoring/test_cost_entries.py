"""Which registry entries the cpqu stage costs and in what order: a tiny registry of tiny
bundles, and a fake one for the order alone."""

from types import SimpleNamespace

import pytest

from gramops.core.params import CostCalibration, CostParams
from gramops.core.vocab import short
from gramops.inference.predictor import load_predictor
from gramops.monitoring import cost_entries
from gramops.registry.store import Registry
from helpers.bundles import tiny_bundle

CALIBRATION = CostCalibration(
    macs_per_us=1000.0,
    weight_bytes_per_us=2000.0,
    features_per_us=100.0,
    sort_compares_per_us=500.0,
    us_per_call=10.0,
    machine="test",
)
PARAMS = CostParams(usd_per_cpu_hour=0.05, repeats=1, calibration=CALIBRATION)
RECORDS = [
    {
        "tokens": ["They", "walk", "home", "."],
        "verb_index": 1,
        "lemma": "walk",
        "tag": "VBP",
        "form": "walk",
        "acceptable": ["walk"],
        "domain": "verb",
    },
    {
        "tokens": ["She", "ran", "."],
        "verb_index": 1,
        "lemma": "run",
        "tag": "VBD",
        "form": "ran",
        "acceptable": ["ran", "runs"],
        "domain": "verb",
    },
]


def test_built_candidate_production_and_staging_are_costed_nothing_else():
    aliases = {"production": "p", "staging": "s", "canary": "c"}
    assert cost_entries.costed_shas({"fp32": "a", "int8": "b"}, "x", aliases) == {
        "a",
        "b",
        "x",
        "p",
        "s",
    }
    assert cost_entries.costed_shas({}, "x", {}) == {"x"}


class FakeRegistry:
    """The log says: c registered first, then a, then b (never alphabetical)."""

    def __init__(self) -> None:
        self.records = [
            {"op": "register", "sha": "c"},
            {"op": "register", "sha": "a"},
            {"op": "tag", "sha": "a", "semver": "v0.1.0"},
            {"op": "promote", "sha": "a", "alias": "production", "new": "a"},
            {"op": "register", "sha": "b"},
        ]
        self.semvers = {"a": ["v0.1.0", "v0.2.0"]}

    def history(self):
        return self.records

    def entry(self, sha):
        return {"family": "fp32", "metrics": {"verb": {"pass_rate": 0.5}}, "id": sha}

    def semvers_of(self, sha):
        return self.semvers.get(sha, [])


def test_entries_are_listed_in_registration_order_with_their_newest_semver():
    listed = cost_entries.listed_entries(FakeRegistry(), {"a"})
    assert [(x.sha, x.semver, x.costed) for x in listed] == [
        ("c", None, False),
        ("a", "v0.2.0", True),
        ("b", None, False),
    ]
    assert listed[0].reference_pass_rate == 0.5 and listed[0].entry["id"] == "c"


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry", actor="tester")
    fp32 = reg.register(tiny_bundle(tmp_path / "fp32", "fp32", seed=1), family="fp32").sha
    lora = reg.register(
        tiny_bundle(tmp_path / "lora", "lora", parent=fp32, seed=2), family="lora"
    ).sha
    other = reg.register(tiny_bundle(tmp_path / "old", "fp32", seed=3), family="fp32").sha
    return SimpleNamespace(reg=reg, fp32=fp32, lora=lora, other=other)


def test_costed_entries_are_counted_and_the_lora_pays_its_adapter(registry, tmp_path):
    costed = {registry.fp32, registry.lora}
    results = cost_entries.entry_costs(registry.reg, costed, RECORDS, PARAMS, tmp_path / "w")
    by_sha = {counted.sha: (counted, measured) for counted, measured in results}
    assert set(by_sha) == costed
    fp32, lora = by_sha[registry.fp32][0], by_sha[registry.lora][0]
    assert (fp32.family, lora.family) == ("fp32", "lora") and fp32.tokens == 7
    # the adapter costs its base's work and its own low-rank products on top
    assert lora.work.macs > fp32.work.macs and lora.work.weight_bytes > fp32.work.weight_bytes
    assert all(measured > 0 for _, measured in by_sha.values())


def test_every_entry_gets_a_row_and_only_the_costed_a_cost(registry, tmp_path):
    (counted, _), *_ = cost_entries.entry_costs(
        registry.reg, {registry.fp32}, RECORDS, PARAMS, tmp_path / "w"
    )
    rows = cost_entries.cost_rows(registry.reg, {registry.fp32: counted}, RECORDS, tmp_path / "r")
    assert [row.sha for row in rows] == [registry.fp32, registry.lora, registry.other]
    assert [row.costed for row in rows] == [True, False, False]
    assert rows[0].usd_per_1b_tokens == counted.usd_per_1b_tokens
    assert rows[1].cpu_us_per_1k_tokens is None and rows[2].pass_rate == 0.9
    # this week's traffic: the costed model is loaded and scored on it
    predictor = load_predictor(registry.reg.materialize(registry.fp32, tmp_path / "b"))
    forms = predictor.predict(RECORDS).forms
    expected = sum(f in r["acceptable"] for f, r in zip(forms, RECORDS, strict=True)) / 2
    assert rows[0].traffic_pass_rate == expected
    assert rows[0].pass_rate == 0.9  # the reference pass rate recorded at registration
    assert rows[0].label == f"fp32 {short(registry.fp32)}"


def test_logged_traffic_has_no_pass_rate_and_loads_no_model(registry, tmp_path, monkeypatch):
    (counted, _), *_ = cost_entries.entry_costs(
        registry.reg, {registry.fp32}, RECORDS, PARAMS, tmp_path / "w"
    )
    logged = [{k: v for k, v in r.items() if k != "acceptable"} for r in RECORDS]

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for traffic without gold answers")

    monkeypatch.setattr(cost_entries, "load_registered", refuse)
    rows = cost_entries.cost_rows(registry.reg, {registry.fp32: counted}, logged, tmp_path / "r")
    assert rows[0].costed and rows[0].traffic_pass_rate is None and rows[0].cpqu_traffic is None


def test_bundle_shapes_reads_config_only(registry, tmp_path):
    bundle = registry.reg.materialize(registry.fp32, tmp_path / "b")
    assert set(cost_entries.bundle_shapes(bundle, None)) == {"W1", "b1", "W2", "b2"}
