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


def test_every_entry_gets_a_row_and_only_the_costed_a_cost(registry, tmp_path):
    costed = {registry.fp32, registry.lora}
    rows = cost_entries.cost_rows(registry.reg, costed, RECORDS, RECORDS, PARAMS, tmp_path / "work")
    assert [row.sha for row in rows] == [registry.fp32, registry.lora, registry.other]
    assert [row.costed for row in rows] == [True, True, False]
    assert rows[2].cpu_us_per_1k_tokens is None and rows[2].pass_rate == 0.9
    # the adapter costs its base's work and its own low-rank products on top
    assert rows[1].work.macs > rows[0].work.macs
    assert rows[1].work.weight_bytes > rows[0].work.weight_bytes


def test_a_counted_row_has_the_pass_rate_on_this_weeks_traffic(registry, tmp_path):
    bundle = registry.reg.materialize(registry.fp32, tmp_path / "b")
    predictor = load_predictor(bundle)
    forms = predictor.predict(RECORDS).forms
    expected = sum(f in r["acceptable"] for f, r in zip(forms, RECORDS, strict=True)) / 2
    (listed,) = [x for x in cost_entries.listed_entries(registry.reg, {registry.fp32}) if x.costed]
    shapes = cost_entries.bundle_shapes(bundle, None)
    row = cost_entries.counted_row(listed, predictor, shapes, RECORDS, RECORDS, PARAMS)
    assert row.traffic_pass_rate == expected
    assert row.pass_rate == 0.9  # the reference pass rate recorded at registration
    assert row.label == f"fp32 {short(registry.fp32)}"
    assert set(shapes) == {"W1", "b1", "W2", "b2"}
