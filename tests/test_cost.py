"""Cost measurement and CpQU: which calls are timed, the arithmetic, and the COSTS.md table."""

import json
import math

import pytest

from gramops import cost
from gramops.cost import CostError, CostRow

ENTRY = {"family": "int8", "size_bytes": 2_500_000}
SHA_A = "a" * 64
SHA_B = "b" * 64


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


# --------------------------------------------------------------------------- measurement


def test_measure_times_each_repeat_and_not_the_warm_up():
    work = FakeWork([100.0, 1.0, 2.0, 3.0])
    timings = cost.measure_cpu_seconds(work, 3, clock=work.clock)
    assert work.calls == 4  # one warm-up + three timed
    assert timings == [1.0, 2.0, 3.0]


def test_measure_with_the_real_cpu_clock_returns_one_timing_per_repeat():
    calls = []
    timings = cost.measure_cpu_seconds(lambda: calls.append(sum(range(10_000))), 4)
    assert len(calls) == 5
    assert len(timings) == 4
    assert all(t >= 0 for t in timings)


def test_measure_rejects_zero_repeats():
    with pytest.raises(CostError, match="repeats"):
        cost.measure_cpu_seconds(lambda: None, 0)


def test_median_and_per_token_scaling():
    assert cost.median([3.0, 1.0, 100.0]) == 3.0
    assert cost.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert cost.cpu_per_1k_tokens(0.5, 2000) == pytest.approx(0.25)
    with pytest.raises(CostError):
        cost.median([])
    with pytest.raises(CostError, match="0 tokens"):
        cost.cpu_per_1k_tokens(1.0, 0)


# --------------------------------------------------------------------------- CpQU


def test_cpqu_is_cost_over_pass_rate():
    assert cost.cpqu(0.002, 0.8) == pytest.approx(0.0025)
    assert cost.cpqu(0.002, 1.0) == pytest.approx(0.002)


def test_cpqu_of_a_model_that_never_passes_is_infinite():
    assert cost.cpqu(0.002, 0.0) == math.inf


def test_cpqu_rejects_a_rate_outside_0_1():
    with pytest.raises(CostError, match="pass rate"):
        cost.cpqu(0.002, 1.5)


def test_measured_row_prices_cpu_time_and_writes_infinity_as_null():
    # 36 CPU s per 1k tokens at $1/h = $0.01 per 1k tokens
    row = CostRow.from_measurement("v0.2.0", SHA_A, ENTRY, 0.8, 0.0, 36.0, 1.0)
    assert row.sha == SHA_A[:12]
    assert row.usd_per_1k_tokens == pytest.approx(0.01)
    assert row.cpqu == pytest.approx(0.0125)
    assert row.cpqu_traffic == math.inf
    data = json.loads(json.dumps(row.to_dict(), allow_nan=False))
    assert data["cpqu_traffic"] is None
    assert data["cpqu"] == pytest.approx(0.0125)
    assert data["measured"] is True


def test_tiny_costs_survive_rounding():
    # a fast model on a cheap CPU costs ~1e-7 $ per 1k tokens; fixed 6 decimals would zero it
    row = CostRow.from_measurement("v0.2.0", SHA_A, ENTRY, 0.9, 0.9, 0.01, 0.04)
    assert row.to_dict()["usd_per_1k_tokens"] == pytest.approx(0.01 / 3600 * 0.04, rel=1e-5)


def test_unmeasured_row_has_quality_but_no_cost():
    row = CostRow.unmeasured("v0.1.0", SHA_B, {"family": "fp32", "size_bytes": 10}, 0.95)
    data = row.to_dict()
    assert data["measured"] is False
    assert data["pass_rate_reference"] == 0.95
    for key in ("pass_rate_traffic", "cpu_s_per_1k_tokens", "usd_per_1k_tokens", "cpqu"):
        assert data[key] is None


# --------------------------------------------------------------------------- reports


def _rows() -> list[CostRow]:
    return [
        CostRow.unmeasured("v0.1.0", SHA_B, {"family": "fp32", "size_bytes": 9_000_000}, 0.95),
        CostRow.from_measurement("v0.2.0", SHA_A, ENTRY, 0.9, 0.85, 0.5, 0.04),
        CostRow.from_measurement(
            "v0.3.0", "c" * 64, {"family": "lora", "size_bytes": 10}, 0, 0, 1, 1
        ),
    ]


def test_costs_markdown_has_one_row_per_entry_and_marks_unmeasured_ones():
    text = cost.costs_markdown(_rows(), 0.04)
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert any("CpQU" in line and "this machine" in line for line in lines)
    table = [line for line in lines if line.startswith("| v")]
    assert [line.split("|")[1].strip() for line in table] == ["v0.1.0", "v0.2.0", "v0.3.0"]
    assert f"`{SHA_B[:12]}`" in table[0]
    assert SHA_B[:13] not in text  # short SHA only
    assert cost.NOT_MEASURED in table[0]
    assert cost.NOT_MEASURED not in table[1]
    assert "∞" in table[2]
    header = next(line for line in lines if line.startswith("| Version"))
    assert all(line.count("|") == header.count("|") for line in table)


def test_scatter_has_a_point_per_measured_entry():
    points = cost.scatter_rows(_rows())
    assert [p["label"] for p in points] == ["int8 v0.2.0", "lora v0.3.0"]
    assert points[0]["pass_rate"] == 0.9
    assert points[0]["usd_per_1k_tokens"] == pytest.approx(0.5 / 3600 * 0.04, rel=1e-5)
