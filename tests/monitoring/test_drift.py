"""Drift statistics: agreement with scipy and hand computations, binning, streaming,
the no-shift baseline, directional behaviour and the decision thresholds."""

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from gramops.core.params import DriftParams
from gramops.monitoring import drift, drift_binning, drift_stats
from gramops.monitoring.drift import FeatureDrift
from gramops.monitoring.drift_binning import OTHER, Binning, HistogramAccumulator

EPS = 1e-4


def make_params(**overrides) -> DriftParams:
    values = dict(
        bins=10,
        top_lemmas=5,
        epsilon=EPS,
        psi_moderate=0.1,
        psi_major=0.25,
        kl_threshold=0.1,
        null_quantile=0.99,
        null_samples=200,
    )
    return DriftParams(**{**values, **overrides})


def random_counts(rng: np.random.Generator, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Two histograms with one-sided empty bins and a bin empty on both sides."""
    ref = rng.integers(0, 50, bins)
    cur = rng.integers(0, 50, bins)
    ref[0], cur[1] = 0, 0
    ref[2] = cur[2] = 0
    return ref, cur


# ------------------------------------------------------------------ against references


@pytest.mark.parametrize("seed", range(5))
def test_kl_and_js_equal_scipy_on_the_adjusted_proportions(seed):
    ref, cur = random_counts(np.random.default_rng(seed), 12)
    p, q = drift_stats.adjusted_proportions(ref, cur, EPS)
    assert drift_stats.kl(ref, cur, EPS) == pytest.approx(entropy(p, q), abs=1e-12)
    assert drift_stats.js_distance(ref, cur, EPS) == pytest.approx(jensenshannon(p, q), abs=1e-12)


def independent_psi(ref: list[int], cur: list[int], eps: float) -> float:
    """The documented rule written out plainly: floor at eps and renormalise, except bins
    empty on both sides, which are skipped."""
    keep = [i for i in range(len(ref)) if ref[i] or cur[i]]

    def adjusted(counts: list[int]) -> list[float]:
        total = sum(counts)
        floored = [max(counts[i] / total, eps) for i in keep]
        return [x / sum(floored) for x in floored]

    r, c = adjusted(ref), adjusted(cur)
    return sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_psi_equals_an_independent_computation(seed):
    ref, cur = random_counts(np.random.default_rng(seed), 12)
    expected = independent_psi(ref.tolist(), cur.tolist(), EPS)
    assert drift_stats.psi(ref, cur, EPS) == pytest.approx(expected, rel=1e-12)


def test_psi_is_the_symmetrised_kl():
    ref, cur = random_counts(np.random.default_rng(9), 8)
    assert drift_stats.psi(ref, cur, EPS) == pytest.approx(
        drift_stats.kl(ref, cur, EPS) + drift_stats.kl(cur, ref, EPS), rel=1e-12
    )


# ------------------------------------------------------------------------ hand cases


def test_hand_computed_two_bins():
    # shares (1/2, 1/2) vs (1/4, 3/4), no epsilon involved
    ref, cur = [1, 1], [1, 3]
    assert drift_stats.psi(ref, cur, EPS) == pytest.approx(math.log(3) / 4, rel=1e-12)
    assert drift_stats.kl(ref, cur, EPS) == pytest.approx(math.log(4 / 3) / 2, rel=1e-12)
    m = (3 / 8, 5 / 8)
    js2 = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1])
    )
    assert drift_stats.js_distance(ref, cur, EPS) == pytest.approx(math.sqrt(js2), rel=1e-12)


def test_empty_bins_use_the_documented_epsilon():
    eps = 0.01
    # each side has one empty bin: (eps, 1) / (1 + eps) against (1, eps) / (1 + eps)
    p, q = drift_stats.adjusted_proportions([0, 10], [10, 0], eps)
    np.testing.assert_allclose(p, [eps / (1 + eps), 1 / (1 + eps)], rtol=1e-15)
    np.testing.assert_allclose(q, [1 / (1 + eps), eps / (1 + eps)], rtol=1e-15)
    gap = (1 - eps) / (1 + eps) * math.log(1 / eps)
    assert drift_stats.kl([0, 10], [10, 0], eps) == pytest.approx(gap, rel=1e-12)
    assert drift_stats.psi([0, 10], [10, 0], eps) == pytest.approx(2 * gap, rel=1e-12)
    assert 0 < drift_stats.js_distance([0, 10], [10, 0], eps) < math.sqrt(math.log(2))


def test_bins_empty_on_both_sides_change_nothing():
    for f in (drift_stats.psi, drift_stats.kl, drift_stats.js_distance):
        assert f([3, 1, 0, 0], [1, 3, 0, 0], EPS) == f([3, 1], [1, 3], EPS)


def test_single_category_histograms_are_finite_and_zero_when_identical():
    for f in (drift_stats.psi, drift_stats.kl, drift_stats.js_distance):
        assert f([5], [7], EPS) == 0.0
        assert f([5, 0, 0], [9, 0, 0], EPS) == 0.0
        moved = f([5, 0], [0, 5], EPS)
        assert math.isfinite(moved) and moved > 0


@pytest.mark.parametrize("seed", range(3))
def test_identical_distributions_give_zero(seed):
    counts = np.random.default_rng(seed).integers(0, 100, 20)
    stats = drift_stats.statistics(counts, counts * 3, EPS)
    assert stats == pytest.approx({"psi": 0.0, "kl": 0.0, "js": 0.0}, abs=1e-15)


def test_mismatched_or_empty_histograms_are_refused():
    with pytest.raises(ValueError, match="bin them alike"):
        drift_stats.psi([1, 2], [1, 2, 3], EPS)
    with pytest.raises(ValueError, match="empty"):
        drift_stats.kl([0, 0], [1, 2], EPS)


# --------------------------------------------------------------------------- binning


def test_quantile_edges_with_heavy_ties_stay_strictly_increasing():
    rng = np.random.default_rng(0)
    tied = np.concatenate([np.zeros(9000), rng.integers(1, 4, 1000)])
    for data in (tied, rng.integers(0, 3, 5000), np.full(100, 7.0)):
        edges = drift_binning.quantile_edges(data, 10)
        assert 1 <= len(edges) <= 9
        assert (np.diff(edges) > 0).all()
        Binning.numeric(edges)  # accepted as a binning
    assert drift_binning.quantile_edges(np.full(100, 7.0), 10).tolist() == [7.0]


def test_quantile_edges_are_observed_values_so_integer_features_get_integer_edges():
    # F(3) = 0.3 ≥ 1/4, F(5) = 0.5 ≥ 2/4, F(8) = 0.8 ≥ 3/4 (interpolation would give 3.25)
    edges = drift_binning.quantile_edges(np.arange(1, 11), 4)
    assert edges.tolist() == [3.0, 5.0, 8.0]
    assert drift_binning.numeric_labels(edges) == ["< 3", "[3, 5)", "[5, 8)", "≥ 8"]


def test_quantile_bins_hold_equal_reference_mass_for_continuous_data():
    data = np.random.default_rng(1).normal(size=100_000)
    counts = np.bincount(
        drift_binning.bin_codes(data, drift_binning.quantile_edges(data, 10)), minlength=10
    )
    assert len(counts) == 10
    np.testing.assert_allclose(counts / len(data), 0.1, atol=1e-4)


def test_bins_are_left_closed_and_open_ended():
    edges = [12.0, 15.0, 30.0]
    codes = drift_binning.bin_codes([-1e9, 11.9, 12, 14.9, 15, 29, 30, 1e9], edges)
    assert codes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert drift_binning.numeric_labels(edges) == ["< 12", "[12, 15)", "[15, 30)", "≥ 30"]


def test_whole_number_edges_read_as_themselves():
    # a lemma rank edge at 1767 once read "1.77e+03", which is neither exact nor readable
    labels = drift_binning.numeric_labels([868.0, 1767.0, 4058.0])
    assert labels == ["< 868", "[868, 1767)", "[1767, 4058)", "≥ 4058"]


def test_close_edges_get_distinct_labels():
    labels = drift_binning.numeric_labels([1.0000001, 1.0000002])
    assert len(set(labels)) == 3


def test_quantile_edges_refuse_nan():
    with pytest.raises(ValueError, match="NaN"):
        drift_binning.quantile_edges([1.0, np.nan, 2.0], 4)


def test_categorical_binning_keeps_top_k_and_sends_the_rest_to_other():
    reference = ["run"] * 5 + ["go"] * 3 + ["be"] * 3 + ["eat"]
    cats = drift_binning.top_categories(reference, 2)
    assert cats == ["run", "be"]  # tie between be and go broken by name
    binning = Binning.categorical(cats)
    assert binning.labels == ("run", "be", OTHER)
    assert binning.counts(["run", "be", "eat", "unseen", None]).tolist() == [1, 1, 3]


def test_fitting_gives_the_same_reference_histogram_as_binning_it_again():
    rng = np.random.default_rng(10)
    words = rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), 5000)
    numbers = rng.poisson(5, 5000)
    for data, kind in ((words, "categorical"), (numbers, "numeric")):
        binning, counts = drift_binning.fit_binning(data, kind, make_params(top_lemmas=2))
        np.testing.assert_array_equal(counts, binning.counts(data))
        assert counts.sum() == len(data)


def test_other_label_cannot_be_a_category():
    with pytest.raises(ValueError, match="OTHER"):
        Binning.categorical(["VB", OTHER])


# ------------------------------------------------------------------------- streaming


def test_streaming_over_chunks_equals_in_memory():
    rng = np.random.default_rng(2)
    values = rng.gamma(2.0, 5.0, 10_001)
    numeric = Binning.numeric(drift_binning.quantile_edges(values[:3000], 10))
    words = rng.choice(["a", "b", "c", "d", "e", "f"], 10_001)
    categorical = Binning.categorical(["a", "b", "c"])
    for binning, data in ((numeric, values), (categorical, words)):
        acc = HistogramAccumulator(binning)
        for chunk in np.array_split(data, 7):
            acc.add(chunk)
        np.testing.assert_array_equal(acc.counts, binning.counts(data))
        assert acc.total == len(data)
        by_codes = HistogramAccumulator(binning)
        for chunk in np.array_split(binning.codes(data), 3):
            by_codes.add_codes(chunk)
        np.testing.assert_array_equal(by_codes.counts, acc.counts)


def test_accumulator_refuses_codes_outside_its_bins():
    acc = HistogramAccumulator(Binning.categorical(["a"]))
    with pytest.raises(ValueError, match="bin codes"):
        acc.add_codes(np.array([0, 2]))


# -------------------------------------------------------------------- no-shift baseline


def test_no_shift_quantile_shrinks_as_the_sample_grows():
    reference = np.full(10, 10_000)
    quantiles = [
        drift_stats.null_quantiles(
            reference,
            n,
            epsilon=EPS,
            quantile=0.99,
            samples=300,
            rng=np.random.default_rng(0),
        )
        for n in (100, 1_000, 10_000)
    ]
    for stat in drift_stats.STATISTICS:
        values = [q[stat] for q in quantiles]
        assert values[0] > values[1] > values[2] > 0, (stat, values)


def test_no_shift_quantile_is_seeded():
    def run(seed: int) -> dict[str, float]:
        return drift_stats.null_quantiles(
            [5, 10, 20], 50, epsilon=EPS, quantile=0.99, samples=50, rng=np.random.default_rng(seed)
        )

    assert run(1) == run(1)
    assert run(1) != run(2)


# ------------------------------------------------------------------------ behaviour


def test_statistics_grow_with_a_mean_shift():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=20_000)
    binning = Binning.numeric(drift_binning.quantile_edges(reference, 10))
    ref_counts = binning.counts(reference)
    series = [
        drift_stats.statistics(ref_counts, binning.counts(rng.normal(shift, 1, 20_000)), EPS)
        for shift in (0.0, 0.25, 0.5, 1.0)
    ]
    for stat in drift_stats.STATISTICS:
        values = [s[stat] for s in series]
        assert values == sorted(values) and len(set(values)) == 4, (stat, values)


# ------------------------------------------------------------------------- decision


@pytest.mark.parametrize(
    ("kind", "psi", "kl", "expected"),
    [
        ("numeric", 0.0999, 9.0, "none"),
        ("numeric", 0.1, 0.0, "moderate"),
        ("numeric", 0.2499, 0.0, "moderate"),
        ("numeric", 0.25, 0.0, "major"),
        ("categorical", 9.0, 0.0999, "none"),
        ("categorical", 0.0, 0.1, "major"),
    ],
)
def test_status_thresholds(kind, psi, kl, expected):
    assert drift.status_of(kind, psi, kl, make_params()) == expected


def feature(name: str, status: str, significant: bool, psi: float = 0.3) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        kind="numeric",
        n_reference=1000,
        n_current=100,
        psi=psi,
        kl=psi / 2,
        js=0.1,
        null={"psi": 0.05, "kl": 0.02, "js": 0.05},
        decided_by="psi",
        threshold=0.1,
        status=status,
        significant=significant,
        histogram=[],
    )


def test_decision_counts_only_significant_features():
    params = make_params()
    status, retrain, reasons = drift.decide([feature("length", "major", False)], params)
    assert (status, retrain) == ("none", False)
    assert "length" in reasons[0] and "not counted" in reasons[0]

    status, retrain, _ = drift.decide(
        [feature("length", "moderate", True, 0.15), feature("rank", "none", False, 0.01)], params
    )
    assert (status, retrain) == ("moderate", False)

    status, retrain, reasons = drift.decide(
        [feature("length", "moderate", True, 0.15), feature("rank", "major", True)], params
    )
    assert (status, retrain) == ("major", True)
    assert any("rank" in r and "major drift" in r for r in reasons)


def test_large_value_on_a_tiny_sample_is_not_significant():
    binning = Binning.numeric(np.arange(1.0, 10.0))
    result = drift.compare(
        "length", binning, [100] * 10, [3, 1, 2, 2, 3, 1, 2, 2, 2, 2], make_params(), seed=0
    )
    assert result.psi >= 0.1 and result.status != "none"
    assert result.null["psi"] > result.psi
    assert not result.significant


def sample(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    lemmas = np.array(["be", "have", "go", "make", "take", "see", "come", "run"])
    weights = np.array([30, 20, 12, 10, 8, 8, 6, 6], dtype=float)
    if shift:
        weights = weights[::-1] ** (1 + shift)
    return {
        "length": rng.poisson(12 + 10 * shift, n),
        "confidence": rng.beta(8 - 5 * shift, 2, n),
        "lemma": rng.choice(lemmas, n, p=weights / weights.sum()),
        "tag": rng.choice(["VB", "VBD", "VBZ"], n, p=[0.5 - 0.3 * shift, 0.3, 0.2 + 0.3 * shift]),
    }


KINDS = {"length": "numeric", "confidence": "numeric", "lemma": "categorical", "tag": "categorical"}


def test_report_without_shift_says_no_drift():
    rng = np.random.default_rng(4)
    report = drift.drift_report(sample(rng, 8000), sample(rng, 2000), KINDS, make_params(), seed=1)
    assert report["status"] == "none" and report["retrain"] is False
    assert not any(f["significant"] for f in report["features"].values())


def test_report_with_a_strong_shift_asks_for_retraining():
    rng = np.random.default_rng(5)
    report = drift.drift_report(
        sample(rng, 8000),
        sample(rng, 2000, shift=0.8),
        KINDS,
        make_params(),
        seed=1,
        categories={"tag": ["VB", "VBD", "VBN", "VBZ"]},
    )
    assert report["status"] == "major" and report["retrain"] is True
    assert report["features"]["lemma"]["significant"]
    assert any(r.startswith("length: PSI") for r in report["reasons"])
    tag_bins = [row["bin"] for row in report["histograms"]["tag"]]
    assert tag_bins == ["VB", "VBD", "VBN", "VBZ", OTHER]


def test_report_is_plain_json_with_rounded_values_and_plot_rows():
    rng = np.random.default_rng(6)
    report = drift.drift_report(sample(rng, 3000), sample(rng, 500, 0.3), KINDS, make_params(), 7)
    text = json.dumps(report, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == report
    for f in report["features"].values():
        for stat in drift_stats.STATISTICS:
            assert f[stat] == round(f[stat], 6)
    for rows in report["histograms"].values():
        assert set(rows[0]) == {"bin", "reference", "current"}
        assert sum(r["reference"] for r in rows) == pytest.approx(1, abs=1e-5)
        assert sum(r["current"] for r in rows) == pytest.approx(1, abs=1e-5)
    lemma_bins = [row["bin"] for row in report["histograms"]["lemma"]]
    assert lemma_bins[-1] == OTHER and len(lemma_bins) == 6


def test_report_is_deterministic_and_baselines_are_per_feature():
    rng = np.random.default_rng(8)
    ref, cur = sample(rng, 2000), sample(rng, 400, 0.2)
    params = make_params()
    full = drift.drift_report(ref, cur, KINDS, params, seed=3)
    assert drift.drift_report(ref, cur, KINDS, params, seed=3) == full
    alone = drift.drift_report(ref, cur, {"length": "numeric"}, params, seed=3)
    assert alone["features"]["length"] == full["features"]["length"]


def test_report_names_missing_features():
    with pytest.raises(ValueError, match=r"tag \(current\)"):
        drift.drift_report({"tag": ["VB"]}, {}, {"tag": "categorical"}, make_params(), 0)
