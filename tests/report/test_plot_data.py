"""The rows the drift charts draw: each carries its statistic, thresholds and verdict, with
thresholds read from the drift params (never fixed numbers), and no bin is dropped."""

import pytest

from gramops.core.fileio import write_csv
from gramops.core.params import DriftParams
from gramops.report.plot_data import (
    HISTOGRAM_FIELDS,
    TREND_FIELDS,
    drift_plot_files,
    histogram_caption,
    histogram_rows,
    trend_rows,
    weekly_table,
)

# Unusual thresholds, so a number copied from params.yaml into the code would show.
PARAMS = DriftParams(
    bins=4,
    top_lemmas=2,
    epsilon=1e-4,
    psi_moderate=0.13,
    psi_major=0.31,
    kl_threshold=0.07,
    null_quantile=0.99,
    null_samples=50,
)


def _feature(decided_by, value, status="none", significant=False):
    return {
        "decided_by": decided_by,
        decided_by: value,
        "status": status,
        "significant": significant,
    }


LEMMA_BINS = [
    {"bin": "go", "reference": 0.1, "current": 0.2},
    {"bin": "take", "reference": 0.05, "current": 0.05},
    {"bin": "OTHER", "reference": 0.85, "current": 0.75},
]
REPORT = {
    "features": {
        "lemma": _feature("kl", 0.0812, "major", significant=True),
        "length": _feature("psi", 0.2, "moderate", significant=False),
    },
    "histograms": {
        "lemma": LEMMA_BINS,
        "length": [
            {"bin": "< 3", "reference": 0.5, "current": 0.25},
            {"bin": "≥ 3", "reference": 0.5, "current": 0.75},
        ],
    },
}
WEEKS = {
    "week_01": {
        "intensity": 0.0,
        "status": "none",
        "retrain": False,
        "lemma_kl": 0.01,
        "length_psi": 0.02,
    },
    "week_02": {
        "intensity": 0.5,
        "status": "major",
        "retrain": True,
        "lemma_kl": 0.09,
        "length_psi": 0.4,
    },
}


def test_a_categorical_caption_names_kl_its_threshold_and_the_undrawn_other_bin():
    caption = histogram_caption(REPORT["features"]["lemma"], LEMMA_BINS, PARAMS)
    assert caption == (
        "KL 0.081 (drift ≥ 0.07): major drift | OTHER, not drawn: 85.0% reference, 75.0% current"
    )


def test_a_numeric_caption_names_both_psi_bands_and_noise_that_did_not_count():
    caption = histogram_caption(
        REPORT["features"]["length"], REPORT["histograms"]["length"], PARAMS
    )
    assert caption == (
        "PSI 0.200 (moderate ≥ 0.13, major ≥ 0.31): moderate band, within no-shift noise: "
        "not counted"
    )


def test_an_empty_other_bin_is_not_mentioned():
    rows = [
        {"bin": "VB", "reference": 1.0, "current": 1.0},
        {"bin": "OTHER", "reference": 0.0, "current": 0.0},
    ]
    assert "OTHER" not in histogram_caption(_feature("kl", 0.0), rows, PARAMS)


def test_histogram_rows_keep_every_bin_with_its_caption():
    files = histogram_rows(REPORT, PARAMS)
    lemma = files["lemma"]
    assert [(r["bin"], r["series"], r["share"]) for r in lemma] == [
        ("go", "reference", 0.1),
        ("go", "current", 0.2),
        ("take", "reference", 0.05),
        ("take", "current", 0.05),
        ("OTHER", "reference", 0.85),
        ("OTHER", "current", 0.75),
    ]
    assert {r["caption"] for r in lemma} == {
        histogram_caption(REPORT["features"]["lemma"], LEMMA_BINS, PARAMS)
    }
    assert all(set(r) == set(HISTOGRAM_FIELDS) for rows in files.values() for r in rows)


def test_trend_rows_are_one_per_week_and_feature_with_the_params_thresholds():
    rows = trend_rows(WEEKS, PARAMS)
    assert all(set(r) == set(TREND_FIELDS) for r in rows)
    by_key = {(r["feature"], r["week"]): r for r in rows}
    assert set(by_key) == {("lemma", 1), ("lemma", 2), ("length", 1), ("length", 2)}
    assert by_key["length", 2] == {
        "week": 2,
        "feature": "length",
        "statistic": "PSI: numeric features",
        "value": 0.4,
        "moderate": 0.13,
        "major": 0.31,
        "intensity": 0.5,
    }
    # KL has one threshold: at or above it a categorical feature drifts (major)
    assert (by_key["lemma", 1]["moderate"], by_key["lemma", 1]["major"]) == (None, 0.07)
    assert all(isinstance(r["week"], int) for r in rows)


@pytest.mark.parametrize("week", [{"intensity": None, "status": "none", "retrain": False}])
def test_a_week_without_statistics_gives_no_rows(week):
    assert trend_rows({"week_01": week}, PARAMS) == []


def test_the_weekly_table_has_a_row_per_week_and_a_column_per_statistic(tmp_path):
    fields, rows = weekly_table(WEEKS)
    assert fields == ["week", "intensity", "lemma_kl", "length_psi"]
    path = tmp_path / "drift_weekly.csv"
    write_csv(path, fields, rows)  # the csv module's line ends, as committed
    assert path.read_bytes() == (
        b"week,intensity,lemma_kl,length_psi\r\n1,0.0,0.01,0.02\r\n2,0.5,0.09,0.4\r\n"
    )


def test_drift_plot_files_name_every_file_under_plots():
    files = drift_plot_files(REPORT, WEEKS, PARAMS)
    assert set(files) == {
        "drift/lemma.csv",
        "drift/length.csv",
        "drift_trend.csv",
        "drift_weekly.csv",
    }
    fields, rows = files["drift_trend.csv"]
    assert fields == TREND_FIELDS and len(rows) == 4
