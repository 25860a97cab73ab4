"""Unit tests of the synthetic shift: tiny hand-built corpora, no workspace data."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest

from gramops.core.errors import GramopsError
from gramops.core.params import ShiftParams
from gramops.corpus.inflection import is_irregular
from gramops.monitoring import shift
from gramops.monitoring.shift import (
    ShiftError,
    lemma_ranks,
    make_traffic,
    sampling_probabilities,
    scalar_features,
    unseen_rank,
)

TAGS = ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ")
# Frequent and rare in the reference, regular and irregular alike, plus two lemmas the
# reference never saw, so that rarity and irregularity vary independently.
FREQUENT = ("walk", "play", "go", "take")
RARE = ("jump", "paint", "swim", "drive")
UNSEEN = ("shout", "fly")
SEEDS = range(5)


def record(i: int, domain: str, tag: str, lemma: str, length: int) -> dict[str, Any]:
    return {
        "id": f"{domain}:{i}",
        "domain": domain,
        "tokens": [f"t{k}" for k in range(length)],
        "verb_index": (i * 3) % length,
        "lemma": lemma,
        "tag": tag,
        "acceptable": [lemma],
    }


def verb_records(n: int, lemmas: tuple[str, ...], offset: int = 0) -> list[dict[str, Any]]:
    """Every lemma meets every tag; lengths cycle on their own stride: nearly independent."""
    return [
        record(
            offset + i,
            "verb",
            TAGS[i % len(TAGS)],
            lemmas[(i // len(TAGS)) % len(lemmas)],
            3 + (i * 5) % 13,
        )
        for i in range(n)
    ]


REFERENCE = verb_records(600, FREQUENT * 4 + RARE)
POOL = verb_records(300, FREQUENT * 2 + RARE + UNSEEN, offset=1000) + [
    record(
        2000 + i,
        "tutor",
        ("VBD", "VBD", "VBZ", "VB")[i % 4],
        ("see", "call")[i // 4 % 2],
        8 + i % 7,
    )
    for i in range(60)
]
VERB_POOL = [r for r in POOL if r["domain"] == "verb"]


def params(kind: str = "mix", intensity: float = 0.0, **overrides: Any) -> ShiftParams:
    values = {"kind": kind, "intensity": intensity, "size": 2000, "weeks": 1, "seed": 3}
    return ShiftParams(**{**values, **overrides})


def present_share(records: list[dict[str, Any]]) -> float:
    return float(np.mean([r["tag"] in ("VBZ", "VBP") for r in records]))


def past_share(records: list[dict[str, Any]]) -> float:
    return float(np.mean([r["tag"] == "VBD" for r in records]))


def mean_log_rank(records: list[dict[str, Any]]) -> float:
    ranks = lemma_ranks(REFERENCE)
    return float(np.log(scalar_features(records, ranks)["lemma_rank"]).mean())


def irregular_share(records: list[dict[str, Any]]) -> float:
    return float(np.mean([is_irregular(r["lemma"]) for r in records]))


def mean_length(records: list[dict[str, Any]]) -> float:
    return float(np.mean([len(r["tokens"]) for r in records]))


def tutor_share(records: list[dict[str, Any]]) -> float:
    return float(np.mean([r["domain"] == "tutor" for r in records]))


# (kind, feature that must rise with intensity) — the documented directions.
DIRECTIONS = [
    ("tense", present_share),
    ("tense", lambda rs: -past_share(rs)),
    ("lemma", mean_log_rank),
    ("lemma", irregular_share),
    ("length", mean_length),
    ("domain", tutor_share),
    ("mix", tutor_share),
    ("mix", present_share),
    ("mix", mean_length),
]


def test_lemma_ranks_share_ranks_on_ties_and_rank_unseen_last() -> None:
    refs = [{"lemma": lemma} for lemma in ["go"] * 3 + ["walk"] * 2 + ["take"] * 2 + ["eat"]]
    ranks = lemma_ranks(refs)
    assert ranks == {"go": 1, "take": 2, "walk": 2, "eat": 4}
    assert unseen_rank(ranks) == 5
    features = scalar_features([record(0, "verb", "VB", "fly", 4)], ranks)
    assert features["lemma_rank"].tolist() == [5]


def test_scalar_features_values() -> None:
    records = [record(0, "verb", "VB", "go", 4), record(1, "verb", "VBD", "walk", 6)]
    features = scalar_features(records, {"go": 1, "walk": 2})
    assert features["length"].tolist() == [4, 6]
    assert features["verb_position"].tolist() == pytest.approx([0 / 4, 3 / 6])
    assert features["lemma_rank"].tolist() == [1, 2]


def test_scalar_features_reject_verb_index_outside_the_sentence() -> None:
    bad = {**record(0, "verb", "VB", "go", 3), "verb_index": 3}
    with pytest.raises(ShiftError, match=r"records\[1\]: verb_index 3"):
        scalar_features([record(1, "verb", "VB", "go", 4), bad], {})


def test_same_params_give_identical_traffic_and_another_seed_does_not() -> None:
    p = params("mix", 0.6, weeks=3, size=300)
    first = make_traffic(POOL, REFERENCE, p)
    assert make_traffic(POOL, REFERENCE, p) == first
    other = make_traffic(POOL, REFERENCE, params("mix", 0.6, weeks=3, size=300, seed=4))
    assert [r["id"] for r in other] != [r["id"] for r in first]


def test_requests_carry_stable_unique_ids_in_week_order_and_copy_the_pool() -> None:
    before = [dict(r) for r in POOL]
    traffic = make_traffic(POOL, REFERENCE, params("tense", 0.5, weeks=3, size=120))
    assert before == POOL  # the pool is not mutated
    assert len(traffic) == 3 * 120
    ids = [r["request_id"] for r in traffic]
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["w01-0000000", "w01-0000001"] and ids[-1] == "w03-0000119"
    assert all(re.fullmatch(r"w\d{2}-\d{7}", i) for i in ids)
    assert [r["week"] for r in traffic] == [1] * 120 + [2] * 120 + [3] * 120
    by_id = {r["id"]: r for r in POOL}
    for request in traffic[:50]:
        source = by_id[request["id"]]
        assert {k: v for k, v in request.items() if k not in ("request_id", "week")} == source
    # Ids name positions, not draws: another seed gives the same id sequence.
    reseeded = make_traffic(POOL, REFERENCE, params("tense", 0.5, weeks=3, size=120, seed=9))
    assert [r["request_id"] for r in reseeded] == ids


@pytest.mark.parametrize("kind", ["tense", "lemma", "length", "domain", "mix"])
def test_intensity_zero_draws_verb_records_uniformly(kind: str) -> None:
    probs = sampling_probabilities(POOL, REFERENCE, kind, 0.0)
    verb = np.array([r["domain"] == "verb" for r in POOL])
    assert np.all(probs[~verb] == 0)
    assert probs[verb] == pytest.approx(np.full(verb.sum(), 1 / verb.sum()))

    traffic = make_traffic(POOL, REFERENCE, params(kind, 0.0, size=6000))
    assert {r["domain"] for r in traffic} == {"verb"}
    n = len(traffic)
    expected = Counter(r["tag"] for r in VERB_POOL)
    observed = Counter(r["tag"] for r in traffic)
    for tag in TAGS:
        p = expected[tag] / len(VERB_POOL)
        assert abs(observed[tag] / n - p) < 4 * np.sqrt(p * (1 - p) / n), tag
    lengths = np.array([len(r["tokens"]) for r in VERB_POOL])
    assert abs(mean_length(traffic) - lengths.mean()) < 4 * lengths.std() / np.sqrt(n)


@pytest.mark.parametrize(("kind", "feature"), DIRECTIONS)
def test_each_kind_moves_its_feature_monotonically(kind: str, feature: Any) -> None:
    levels = [0.0, 0.2, 0.6, 1.0]
    means = [
        np.mean(
            [
                feature(make_traffic(POOL, REFERENCE, params(kind, t, size=1000, seed=s)))
                for s in SEEDS
            ]
        )
        for t in levels
    ]
    assert all(a < b for a, b in itertools.pairwise(means)), means
    # The mild level moves the feature less than half as far as the strongest.
    assert means[1] - means[0] < 0.5 * (means[-1] - means[0]), means


@pytest.mark.parametrize("kind", ["tense", "lemma", "length"])
def test_single_kinds_never_draw_tutor_records(kind: str) -> None:
    probs = sampling_probabilities(POOL, REFERENCE, kind, 1.0)
    tutor = np.array([r["domain"] == "tutor" for r in POOL])
    assert np.all(probs[tutor] == 0)
    assert probs.sum() == pytest.approx(1.0)


def test_tense_leaves_non_finite_tags_untouched_relative_to_each_other() -> None:
    probs = sampling_probabilities(POOL, REFERENCE, "tense", 1.0)
    weight = {
        tag: probs[[r["tag"] == tag for r in POOL]].sum() / sum(r["tag"] == tag for r in VERB_POOL)
        for tag in TAGS
    }
    assert weight["VB"] == pytest.approx(weight["VBG"]) == pytest.approx(weight["VBN"])
    ratio = np.exp(shift.TENSE_BETA)
    assert weight["VBZ"] / weight["VB"] == pytest.approx(ratio)
    assert weight["VB"] / weight["VBD"] == pytest.approx(ratio)


@pytest.mark.parametrize("intensity", [0.0, 0.25, 0.5, 1.0])
def test_tutor_share_is_intensity_times_max_share(intensity: float) -> None:
    probs = sampling_probabilities(POOL, REFERENCE, "domain", intensity)
    tutor = np.array([r["domain"] == "tutor" for r in POOL])
    assert probs[tutor].sum() == pytest.approx(intensity * shift.DOMAIN_MAX_SHARE)
    traffic = make_traffic(POOL, REFERENCE, params("domain", intensity, size=4000))
    share = intensity * shift.DOMAIN_MAX_SHARE
    assert abs(tutor_share(traffic) - share) <= 4 * np.sqrt(share * (1 - share) / 4000) + 1e-12


def test_weeks_ramp_up_to_full_intensity_in_the_last_week() -> None:
    weeks = 4
    traffic = make_traffic(POOL, REFERENCE, params("tense", 1.0, weeks=weeks, size=3000))
    shares = [present_share([r for r in traffic if r["week"] == w]) for w in range(1, weeks + 1)]
    assert all(a < b for a, b in itertools.pairwise(shares)), shares
    # The last week is drawn at full intensity, week 1 at a quarter of it.
    last = sampling_probabilities(POOL, REFERENCE, "tense", 1.0)
    first = sampling_probabilities(POOL, REFERENCE, "tense", 0.25)
    present = np.array([r["tag"] in ("VBZ", "VBP") for r in POOL])
    for share, probs in ((shares[-1], last), (shares[0], first)):
        p = probs[present].sum()
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / 3000)


def test_error_is_a_gramops_error() -> None:
    assert issubclass(ShiftError, GramopsError)


@pytest.mark.parametrize(
    ("pool", "reference", "kind", "message"),
    [
        ([], REFERENCE, "tense", r"pool: no records"),
        (POOL, [], "tense", r"reference: no records"),
        (VERB_POOL, REFERENCE, "domain", r"shift.kind='domain'.*pool has none"),
        (VERB_POOL, REFERENCE, "mix", r"shift.kind='mix'.*pool has none"),
        (POOL[-5:], REFERENCE, "domain", r"pool: no verb-domain records"),
        ([{**POOL[0], "domain": "news"}], REFERENCE, "tense", r"pool\[0\]: domain 'news'"),
        ([{**POOL[0], "tag": "NN"}], REFERENCE, "tense", r"pool\[0\]: tag 'NN'"),
        ([{"domain": "verb", "tag": "VB"}], REFERENCE, "tense", r"pool\[0\]: missing field"),
        ([{**POOL[0], "lemma": "pull_down"}], REFERENCE, "lemma", r"lemma 'pull_down'"),
        (POOL, [{"id": "x"}], "lemma", r"reference\[0\]: missing field 'tokens'"),
        (POOL, REFERENCE, "weather", r"shift.kind: unknown kind 'weather'"),
    ],
)
def test_bad_input_names_the_culprit(
    pool: list[dict[str, Any]], reference: list[dict[str, Any]], kind: str, message: str
) -> None:
    with pytest.raises(ShiftError, match=message):
        sampling_probabilities(pool, reference, kind, 0.5)
    if kind in shift.KINDS:
        with pytest.raises(ShiftError, match=message):
            make_traffic(pool, reference, params(kind, 0.5))


@pytest.mark.parametrize("intensity", [-0.1, 1.5])
def test_intensity_out_of_range_is_refused(intensity: float) -> None:
    with pytest.raises(ShiftError, match=r"shift.intensity: must be in \[0, 1\]"):
        sampling_probabilities(POOL, REFERENCE, "tense", intensity)


def test_outliers_are_clipped_so_no_record_takes_over_the_sample() -> None:
    giants = [record(5000 + i, "verb", "VB", "walk", n) for i, n in enumerate((400, 4000))]
    pool = VERB_POOL + giants
    probs = sampling_probabilities(pool, REFERENCE, "length", 1.0)
    assert probs[-1] == pytest.approx(probs[-2])  # both beyond Z_CLIP reference SDs
    assert probs[-1] < 0.05


# --------------------------------------------------------------------------- the weeks


def test_the_ramp_is_linear_and_reaches_the_intensity_in_the_last_week():
    ramp = [shift.week_intensity(0.6, week, 4) for week in range(1, 5)]
    assert ramp == pytest.approx([0.15, 0.3, 0.45, 0.6])
    assert ramp[-1] == 0.6


def test_each_week_is_drawn_at_its_ramp_intensity():
    pool = verb_records(60, FREQUENT + RARE) + [
        record(i, "tutor", "VB", "walk", 9) for i in range(30)
    ]
    reference = verb_records(120, FREQUENT + RARE, offset=500)
    params = ShiftParams(kind="domain", intensity=0.8, size=400, weeks=4, seed=3)
    traffic = make_traffic(pool, reference, params)
    shares = shift.week_summaries(traffic, params.weeks)
    # the tutor share of a domain shift is the week's intensity (DOMAIN_MAX_SHARE = 1)
    for week, summary in enumerate(shares.values(), start=1):
        expected = shift.week_intensity(params.intensity, week, params.weeks)
        assert summary["tutor_share"] == pytest.approx(expected, abs=0.08)


def test_week_summaries_count_by_hand():
    batch = [
        {**record(0, "verb", "VBD", "walk", 4), "week": 1},
        {**record(1, "tutor", "VB", "walk", 6), "week": 1},
        {**record(2, "verb", "VBZ", "go", 5), "week": 2},
    ]
    assert shift.week_summaries(batch, 2) == {
        "week_01": {"requests": 2, "tutor_share": 0.5, "mean_tokens": 5.0, "past_share": 0.5},
        "week_02": {"requests": 1, "tutor_share": 0.0, "mean_tokens": 5.0, "past_share": 0.0},
    }


def test_latest_week_and_verb_domain_select_records():
    requests = [{"week": w, "domain": d} for w, d in [(1, "verb"), (3, "tutor"), (3, "verb")]]
    assert shift.latest_week(iter(requests)) == requests[1:]
    assert shift.verb_domain(requests) == [requests[0], requests[2]]
