"""Cost: counting the work of inference, its calibration, CpQU, and the reports.

The counting functions run on tiny real weights (a hash space of 2**8, 4 hidden units), so
every expected count below is worked out by hand from the shapes.
"""

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from gramops.core import vocab
from gramops.core.params import CostCalibration, FeatureParams, validate_section
from gramops.models.lora import init_lora, predict_proba_lora
from gramops.models.mlp import init_weights, predict_proba
from gramops.models.quantize import predict_proba_int8, quantize_int8
from gramops.monitoring import cost
from gramops.monitoring.cost import CostError, CostRow, Work, Workload

FEATURES = FeatureParams(hash_bits=8, window=2)
D, HIDDEN, TAGS, RANK = 2**8, 4, len(vocab.TAGS), 2
CAL = CostCalibration(
    macs_per_us=1000.0,
    weight_bytes_per_us=2000.0,
    features_per_us=10.0,
    sort_compares_per_us=100.0,
    us_per_call=500.0,
    machine="test",
)
ENTRY = {"family": "int8", "size_bytes": 2_500_000}
SHA_A = "a" * 64
SHA_B = "b" * 64


def _fp32(seed: int) -> dict[str, np.ndarray]:
    return init_weights(D, HIDDEN, 3.0, np.random.default_rng(seed))


def _lora(base: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    adapter = init_lora(base, RANK, 3.0, np.random.default_rng(seed))
    return {k: v + np.float32(0.01) for k, v in adapter.items()}  # B non-zero: a real delta


# Three requests over 5 columns, 7 active features in all.
X = sp.csr_matrix(
    (np.ones(7, dtype=np.float32), ([0, 0, 0, 1, 1, 2, 2], [3, 7, 200, 3, 9, 7, 250])),
    shape=(3, D),
)
LOAD = cost.workload(X, tokens=20)


# --------------------------------------------------------------------------- counting


def test_workload_counts_requests_active_features_and_distinct_columns():
    assert Workload(requests=3, tokens=20, active_features=7, active_columns=5) == LOAD
    with pytest.raises(CostError, match="empty"):
        cost.workload(sp.csr_matrix((0, D), dtype=np.float32), 0)


def test_fp32_work_counted_by_hand():
    work = cost.count_work("fp32", cost.tensor_shapes(_fp32(1)), LOAD)
    # 7 active features x 4 hidden + 3 requests x 4 hidden x 6 tags
    assert work.macs == 7 * 4 + 3 * 4 * 6
    # the whole of W1 (scipy copies W1.T), b1, W2, b2; float32
    assert work.weight_bytes == 4 * (4 * 256 + 4 + 6 * 4 + 6)
    assert (work.active_features, work.sort_compares, work.calls) == (7, 0, 1)


def test_int8_reads_only_the_active_columns_and_pays_for_a_sort():
    work = cost.count_work("int8", cost.tensor_shapes(quantize_int8(_fp32(1))), LOAD)
    assert work.macs == 7 * 4 + 3 * 4 * 6
    # codes of 5 active columns x 4 rows (1 byte); scales, biases, W2 codes
    assert work.weight_bytes == 5 * 4 + 4 * 4 + 4 * 4 + 6 * 4 + 6 * 4 + 4 * 6
    assert work.sort_compares == 7 * (7).bit_length()


def test_lora_adds_the_low_rank_products_and_the_adapter_bytes():
    base = _fp32(1)
    shapes = cost.tensor_shapes({**base, **_lora(base, 2)})
    work = cost.count_work("lora", shapes, LOAD)
    fp32 = cost.count_work("fp32", cost.tensor_shapes(base), LOAD)
    # X·A1ᵀ (7 x 2), ·B1ᵀ (3 x 2 x 4), hidden·A2ᵀ (3 x 4 x 2), ·B2ᵀ (3 x 2 x 6)
    assert work.macs == fp32.macs + 7 * 2 + 3 * 2 * 4 + 3 * 4 * 2 + 3 * 2 * 6
    assert work.weight_bytes == fp32.weight_bytes + 4 * (2 * 256 + 4 * 2 + 2 * 4 + 6 * 2)


def test_counted_work_matches_what_the_model_computes():
    """The counts describe the tensors inference really multiplies: the same shapes run."""
    base = _fp32(1)
    assert predict_proba(base, X).shape == (3, TAGS)
    assert predict_proba_int8(quantize_int8(base), X).shape == (3, TAGS)
    assert predict_proba_lora(base, _lora(base, 2), X, 4.0, RANK).shape == (3, TAGS)


def test_counting_reads_shapes_never_values():
    a, b = _fp32(1), _fp32(2)
    assert not np.array_equal(a["W1"], b["W1"])
    for family, prepare in (("fp32", lambda w: w), ("int8", quantize_int8)):
        assert cost.count_work(family, cost.tensor_shapes(prepare(a)), LOAD) == cost.count_work(
            family, cost.tensor_shapes(prepare(b)), LOAD
        )


def test_a_wider_model_counts_more_work():
    narrow = cost.count_work("fp32", cost.tensor_shapes(_fp32(1)), LOAD)
    wide = cost.count_work(
        "fp32", cost.tensor_shapes(init_weights(D, 8, 3.0, np.random.default_rng(1))), LOAD
    )
    assert wide.macs == 2 * narrow.macs
    assert wide.weight_bytes > narrow.weight_bytes


def test_count_work_names_the_missing_tensor_and_unknown_family():
    with pytest.raises(CostError, match="'W2'"):
        cost.count_work("fp32", cost.tensor_shapes({"W1": np.zeros((4, D))}), LOAD)
    with pytest.raises(CostError, match="family 'bf16'"):
        cost.count_work("bf16", {}, LOAD)


def test_calibration_converts_work_to_cpu_time():
    work = Work(macs=2000, weight_bytes=4000, active_features=30, sort_compares=100, calls=1)
    assert cost.counted_cpu_us(work, CAL) == 2.0 + 2.0 + 3.0 + 1.0 + 500.0
    assert cost.per_1k_tokens(508.0, 2000) == 254.0


def test_calibration_params_are_validated_with_the_key_named():
    section = {"usd_per_cpu_hour": 0.04, "repeats": 3, "calibration": CAL.model_dump()}
    assert validate_section({"cost": section}, "cost").calibration == CAL
    bad = {**section, "calibration": {**CAL.model_dump(), "macs_per_us": 0}}
    with pytest.raises(ValueError, match=r"cost\.calibration\.macs_per_us"):
        validate_section({"cost": bad}, "cost")


# --------------------------------------------------------------------------- measurement


class FakeWork:
    """A callable whose 'CPU time' is a scripted amount per call, read by a fake clock."""

    def __init__(self, costs: list[float]) -> None:
        self.costs = list(costs)
        self.calls = 0
        self.elapsed = 0.0

    def __call__(self) -> None:
        self.elapsed += self.costs[self.calls]
        self.calls += 1

    def clock(self) -> float:
        return self.elapsed


def test_measure_times_each_repeat_and_not_the_warm_up():
    work = FakeWork([100.0, 1.0, 2.0, 3.0])
    assert cost.measure_cpu_seconds(work, 3, clock=work.clock) == [1.0, 2.0, 3.0]
    assert work.calls == 4


def test_measure_rejects_zero_repeats_and_median_needs_timings():
    with pytest.raises(CostError, match="cost.repeats"):
        cost.measure_cpu_seconds(lambda: None, 0)
    with pytest.raises(CostError):
        cost.median([])
    assert cost.median([3.0, 1.0, 100.0]) == 3.0


# --------------------------------------------------------------------------- case 9


def _counted(sha, weights, family):
    work = cost.count_work(family, cost.tensor_shapes(weights), LOAD)
    return cost.EntryCost.counted(sha, family, work, LOAD, calibration=CAL, usd_per_cpu_hour=0.04)


def _row(sha, weights, family, pass_rate=0.95):
    entry = {"family": family, "size_bytes": 1}
    counted = _counted(sha, weights, family)
    return CostRow.priced(None, entry, counted, pass_rate=pass_rate, traffic_pass_rate=pass_rate)


@pytest.mark.parametrize("family", ["fp32", "int8"])
def test_case_9_same_architecture_gives_a_cpqu_ratio_of_exactly_one(family):
    """Issue 11, case 9: the CpQU ratio of same-architecture models flapped 0.95x..1.59x with
    timing noise and blocked the gate. Counted cost cannot: two models of one architecture
    give the ratio the gate reads exactly 1.0, and the same row bit for bit."""
    prepare = quantize_int8 if family == "int8" else (lambda w: w)
    production, challenger = prepare(_fp32(1)), prepare(_fp32(2))
    champ, chall = _row(SHA_A, production, family), _row(SHA_B, challenger, family)
    assert chall.to_dict()["cpqu"] / champ.to_dict()["cpqu"] == 1.0
    assert {**chall.to_dict(), "sha": SHA_A} == champ.to_dict()


def test_cost_json_round_trips_and_cpqu_reads_what_cost_wrote():
    """Stage cost writes metrics/cost.json; stage cpqu combines what it reads back, so the
    row's cost equals the counted one exactly (rounded once, when counted)."""
    counted = _counted(SHA_A, quantize_int8(_fp32(1)), "int8")
    data = json.loads(json.dumps(cost.entry_costs_json([counted], CAL, 0.04)))
    assert list(data["entries"]) == [SHA_A[:12]] and data["calibration"]["us_per_call"] == 500.0
    read = cost.read_entry_costs(data)
    assert read == {SHA_A: counted}
    row = CostRow.priced("v0.2.0", ENTRY, read[SHA_A], pass_rate=0.8, traffic_pass_rate=None)
    assert row.usd_per_1b_tokens == counted.usd_per_1b_tokens and row.work == counted.work
    assert row.cpqu == pytest.approx(counted.usd_per_1b_tokens / 0.8)
    assert row.cpqu_traffic is None and row.costed


def test_a_cost_json_entry_without_a_cost_names_the_entry():
    with pytest.raises(CostError, match=r"'abc'.*dvc repro cost"):
        cost.read_entry_costs({"entries": {"abc": {"sha": "abc", "family": "fp32"}}})


def test_measured_time_enters_no_written_field():
    """The measured CPU time is logged by the cost stage; no cost record carries it."""
    counted = _counted(SHA_A, _fp32(1), "fp32")
    assert not any("measured" in key for key in counted.to_dict())
    assert not any("measured" in key for key in _row(SHA_A, _fp32(1), "fp32").to_dict())


# --------------------------------------------------------------------------- pricing


def test_usd_per_1b_tokens_and_cpqu():
    # 3,600 µs per 1k tokens = 3,600 s per 1B tokens = 1 CPU hour
    assert cost.usd_per_1b_tokens(3600.0, 2.0) == pytest.approx(2.0)
    assert cost.cpqu(0.002, 0.8) == pytest.approx(0.0025)
    assert cost.cpqu(0.002, 0.0) == math.inf
    with pytest.raises(CostError, match="pass rate"):
        cost.cpqu(0.002, 1.5)


def test_row_fields_units_and_infinity_as_null():
    row = _row(SHA_A, _fp32(1), "fp32", pass_rate=0.0)
    data = json.loads(json.dumps(row.to_dict(), allow_nan=False))
    counted = cost.counted_cpu_us(row.work, CAL) * 1000 / 20
    assert data["cpu_us_per_1k_tokens"] == pytest.approx(counted, rel=1e-5)
    assert data["usd_per_1b_tokens"] == pytest.approx(counted * 0.04 / 3600, rel=1e-5)
    assert data["cpqu"] is None and data["cpqu_traffic"] is None
    assert data["sha"] == SHA_A and data["semver"] == "untagged" and data["costed"] is True
    assert data["work"]["macs"] == row.work.macs


def test_entry_not_costed_has_quality_but_no_cost():
    data = CostRow.not_costed(SHA_B, "v0.1.0", {"family": "fp32", "size_bytes": 10}, 0.95)
    data = data.to_dict()
    assert data["costed"] is False and data["pass_rate"] == 0.95
    for key in ("cpu_us_per_1k_tokens", "usd_per_1b_tokens", "cpqu"):
        assert data[key] is None


# --------------------------------------------------------------------------- reports


def _rows() -> list[CostRow]:
    return [
        CostRow.not_costed(SHA_B, "v0.1.0", {"family": "fp32", "size_bytes": 9_000_000}, 0.95),
        _row(SHA_A, quantize_int8(_fp32(1)), "int8"),
        _row("c" * 64, _fp32(3), "fp32", pass_rate=0.0),
    ]


def test_costs_json_is_keyed_by_short_sha_with_the_calibration():
    data = cost.costs_json(_rows(), CAL, 0.04)
    assert list(data["entries"]) == [SHA_B[:12], SHA_A[:12], "c" * 12]
    assert data["entries"][SHA_A[:12]]["sha"] == SHA_A
    assert data["calibration"]["macs_per_us"] == 1000.0 and data["usd_per_cpu_hour"] == 0.04


def test_costs_markdown_one_row_per_entry_labels_and_units():
    text = cost.costs_markdown(_rows(), CAL, 0.04)
    lines = text.splitlines()
    assert cost.COSTS_HEADER in lines and "CPU µs / 1k tokens (counted)" in text
    table = [line for line in lines if line.startswith("| fp32") or line.startswith("| int8")]
    assert [line.split("|")[1].strip() for line in table] == [
        "fp32 v0.1.0",
        f"int8 {SHA_A[:12]}",
        f"fp32 {'c' * 12}",
    ]
    assert cost.NOT_COSTED in table[0] and cost.NOT_COSTED not in table[1]
    assert "∞" in table[2]
    assert SHA_B[:13] not in text  # short SHA only
    assert all(line.count("|") == cost.COSTS_HEADER.count("|") for line in table)


def test_scatter_x_is_usd_per_1b_tokens_and_skips_entries_without_cost():
    points = cost.scatter_rows(_rows())
    assert [p["label"] for p in points] == [f"int8 {SHA_A[:12]}", f"fp32 {'c' * 12}"]
    assert set(points[0]) == set(cost.SCATTER_FIELDS)
    assert points[0]["usd_per_1b_tokens"] == _rows()[1].to_dict()["usd_per_1b_tokens"]
