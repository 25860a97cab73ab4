"""The static drift PNG: one panel per feature, titled with what it shows and its verdict."""

from gramops.core.params import DriftParams
from gramops.report.plots import drift_histograms_png, panel_title

PARAMS = DriftParams(
    bins=4,
    top_lemmas=2,
    epsilon=1e-4,
    psi_moderate=0.1,
    psi_major=0.25,
    kl_threshold=0.1,
    null_quantile=0.99,
    null_samples=50,
)
REPORT = {
    "features": {
        "lemma": {"decided_by": "kl", "kl": 0.5, "status": "major", "significant": True},
        "length": {"decided_by": "psi", "psi": 0.01, "status": "none", "significant": False},
    },
    "histograms": {
        "lemma": [
            {"bin": "go", "reference": 0.1, "current": 0.4},
            {"bin": "OTHER", "reference": 0.9, "current": 0.6},
        ],
        "length": [
            {"bin": "< 3", "reference": 0.5, "current": 0.5},
            {"bin": "≥ 3", "reference": 0.5, "current": 0.5},
        ],
    },
}


def test_panel_titles_say_what_the_panel_shows_and_the_statistic():
    assert panel_title("lemma", REPORT, PARAMS).splitlines() == [
        "Verb lemma (the most frequent in training)",
        "KL 0.500 (drift ≥ 0.1): major drift",
        "OTHER, not drawn: 90.0% reference, 60.0% current",
    ]
    assert (
        panel_title("length", REPORT, PARAMS)
        .splitlines()[1]
        .startswith("PSI 0.010 (moderate ≥ 0.1")
    )


def test_the_png_is_written_the_same_every_time(tmp_path):
    first, second = tmp_path / "a" / "drift.png", tmp_path / "b" / "drift.png"
    drift_histograms_png(REPORT, PARAMS, 3, first)
    drift_histograms_png(REPORT, PARAMS, 3, second)
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.read_bytes() == second.read_bytes()
