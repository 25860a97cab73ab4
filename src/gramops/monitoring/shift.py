"""Synthetic distribution shift: held-out corpus records resampled into weekly "live traffic".

The drift stage compares this traffic with the training distribution, so the shift must be
controlled: ``intensity`` 0 reproduces the reference distribution up to sampling noise and
the shift grows smoothly and monotonically with ``intensity``. Two mechanisms do that:

* **Exponential tilting** within a domain: record ``i`` is drawn with probability
  ``∝ exp(intensity · score_i)``, where ``score_i`` is a fixed linear function of the
  record's features (below). Under such a tilt the expected score of a draw is strictly
  increasing in ``intensity`` (its derivative is the score's variance under the tilt), so
  every kind moves its feature monotonically.
* **A domain mixture**: a share ``intensity · DOMAIN_MAX_SHARE`` of requests comes from the
  tutor domain (gloss examples of nouns, adjectives and adverbs), the rest from the verb
  domain. At intensity 0 only verb-domain records are drawn, uniformly: the held-out verb
  domain and the training split are identically distributed (split by synset hash).

Scores per kind (``z`` = standardized by the *reference's* mean and standard deviation,
clipped to ±``Z_CLIP`` so that no single outlier takes over the sample):

* ``tense``: towards **present tense**. ``TENSE_BETA`` for VBZ/VBP, ``-TENSE_BETA`` for VBD,
  0 for the non-finite VB/VBG/VBN: the present share rises and the past share falls.
* ``lemma``: towards **rarer and irregular** verbs. ``LEMMA_RANK_BETA · z(log rank)`` with the
  lemma's frequency rank in the reference (unseen lemmas are rarest), plus
  ``IRREGULAR_BETA`` when :func:`gramops.corpus.inflection.is_irregular`.
* ``length``: towards **longer sentences**. ``LENGTH_BETA · z(log token count)``.
* ``domain``: no tilt; the tutor share grows as above.
* ``mix``: the sum of the three scores, and the tutor share grows.

The strengths were chosen so that intensity 1 is a major shift (drift PSI or KL well above
the 0.25 / 0.1 thresholds) and intensity 0.2 a mild one (around or below the moderate
threshold).
Measured on this project's corpus (test split as pool, verb-domain train as reference,
2,000 requests, mean of 5 seeds; intensity 0 → 0.2 → 1):

* tense: VBD share 0.38 → 0.28 → 0.07, VBZ+VBP 0.15 → 0.20 → 0.54; tag KL 0.03 → 0.55.
* lemma: mean lemma rank 1463 → 1696 → 2347, irregular share 0.20 → 0.20 → 0.31.
* length: mean tokens 6.6 → 7.1 → 9.3; length PSI 0.06 → 0.89.
* domain: tutor share 0 → 0.2 → 1; length PSI 0.03 → 0.68, tag KL 0.01 → 0.13.
* mix: tutor share 0 → 0.2 → 1, mean tokens 6.6 → 7.5 → 12.6; length PSI 0.11 → 2.3.

Strong tilts concentrate the draws: at intensity 1 the effective number of distinct pool
records (``1 / Σp²``) falls from 1,259 to ~550 (tense, lemma, length) and ~140 (mix).

Week ``w`` of ``weeks`` uses ``intensity · w / weeks`` (:func:`week_intensity`): a
week-over-week ramp whose last week is the "current" traffic at full intensity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gramops.core.errors import GramopsError
from gramops.core.params import ShiftParams
from gramops.core.vocab import TAGS
from gramops.corpus.inflection import is_irregular

VERB_DOMAIN = "verb"
TUTOR_DOMAIN = "tutor"
DOMAINS = (VERB_DOMAIN, TUTOR_DOMAIN)
PRESENT_TAGS = frozenset({"VBZ", "VBP"})
PAST_TAGS = frozenset({"VBD"})

TENSE_BETA = 1.5
"""Log-odds change per unit intensity of a present (+) or past (-) record."""
LEMMA_RANK_BETA = 1.0
"""Tilt per reference standard deviation of log lemma rank (towards rare lemmas)."""
IRREGULAR_BETA = 2.0
"""Extra log-odds per unit intensity of a record whose lemma is irregular."""
LENGTH_BETA = 1.0
"""Tilt per reference standard deviation of log sentence length (towards long sentences)."""
DOMAIN_MAX_SHARE = 1.0
"""Share of tutor-domain requests at intensity 1 (``domain`` and ``mix``)."""
Z_CLIP = 3.0
"""Standardized features are clipped to ±this before tilting."""

_REQUIRED_FIELDS = ("domain", "tokens", "verb_index", "lemma", "tag")
_TILTED_KINDS = {
    "tense": ("tense",),
    "lemma": ("lemma",),
    "length": ("length",),
    "domain": (),
    "mix": ("tense", "lemma", "length"),
}
KINDS = tuple(_TILTED_KINDS)


class ShiftError(GramopsError, ValueError):
    """The shift's input records or params cannot produce the requested traffic."""


def verb_domain(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The verb-domain records: the domain the models are trained on and drift refers to."""
    return [r for r in records if r["domain"] == VERB_DOMAIN]


def week_intensity(intensity: float, week: int, weeks: int) -> float:
    """The shift intensity of ``week`` (1-based) of ``weeks``: the ramp reaches ``intensity``
    in the last week. The traffic is drawn at it and the drift report labels weeks with it."""
    return intensity * week / weeks


def lemma_ranks(reference: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Frequency rank of each lemma in ``reference`` (1 = most frequent).

    Ties share a rank (competition ranking: 1 + the number of strictly more frequent
    lemmas), so a rank never depends on the alphabet. Lemmas absent from the reference
    should get :func:`unseen_rank` — rarer than any seen lemma. Note that a split by
    synset leaves held-out records with lemmas the training split never saw, while the
    training split itself has none: ranks of held-out and training records differ even
    without any shift.
    """
    counts = Counter(_field(r, "lemma", i, "reference") for i, r in enumerate(reference))
    ranks: dict[str, int] = {}
    rank, previous = 0, None
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for position, (lemma, count) in enumerate(ordered, start=1):
        if count != previous:
            rank, previous = position, count
        ranks[lemma] = rank
    return ranks


def unseen_rank(ranks: Mapping[str, int]) -> int:
    """The rank given to a lemma missing from the reference: number of lemmas + 1."""
    return len(ranks) + 1


def scalar_features(
    records: Sequence[Mapping[str, Any]], ranks: Mapping[str, int]
) -> dict[str, np.ndarray]:
    """Per-record scalar features shared by shift and drift.

    - ``length``: number of tokens.
    - ``verb_position``: ``verb_index / length``, in [0, 1): where the verb sits relative
      to the sentence, independent of its length (0 = first token, e.g. imperatives).
    - ``lemma_rank``: the lemma's frequency rank in ``ranks`` (:func:`lemma_ranks`);
      unseen lemmas get :func:`unseen_rank`.
    """
    unseen = unseen_rank(ranks)
    n = len(records)
    length = np.empty(n, dtype=np.int64)
    index = np.empty(n, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    for i, record in enumerate(records):
        tokens = _field(record, "tokens", i)
        length[i] = len(tokens)
        index[i] = _field(record, "verb_index", i)
        rank[i] = ranks.get(_field(record, "lemma", i), unseen)
    if n and (length.min() < 1 or index.min() < 0 or np.any(index >= length)):
        bad = int(np.flatnonzero((length < 1) | (index < 0) | (index >= length))[0])
        raise ShiftError(
            f"records[{bad}]: verb_index {index[bad]} is outside its {length[bad]} tokens"
        )
    return {
        "length": length,
        "verb_position": index / np.maximum(length, 1),
        "lemma_rank": rank,
    }


def sampling_probabilities(
    pool: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    kind: str,
    intensity: float,
) -> np.ndarray:
    """Probability of drawing each ``pool`` record at this ``kind`` and ``intensity``.

    Exposed so that callers and tests can compute the exact expected shift without
    sampling noise. See the module docstring for the scores and strengths.
    """
    _check_inputs(pool, reference, kind, intensity)
    return _Tilt(pool, reference, kind).probabilities(intensity)


def make_traffic(
    pool: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    params: ShiftParams,
) -> list[dict[str, Any]]:
    """``params.weeks`` weeks of ``params.size`` requests resampled from ``pool``.

    ``pool`` is the held-out split (both domains); ``reference`` the drift reference (the
    verb-domain training split), used for lemma ranks and feature standardization. Draws
    are with replacement from ``np.random.default_rng(params.seed)``, week by week, so the
    output depends only on the inputs (including the pool's order) and params. Each
    request is a shallow copy of its pool record plus ``week`` (1-based) and a stable
    ``request_id`` ``w{week:02d}-{position:07d}``; requests are in (week, position) order.
    """
    _check_inputs(pool, reference, params.kind, params.intensity)
    tilt = _Tilt(pool, reference, params.kind)
    rng = np.random.default_rng(params.seed)
    traffic: list[dict[str, Any]] = []
    for week in range(1, params.weeks + 1):
        probs = tilt.probabilities(week_intensity(params.intensity, week, params.weeks))
        drawn = rng.choice(len(pool), size=params.size, replace=True, p=probs)
        traffic.extend(
            {**pool[j], "request_id": f"w{week:02d}-{i:07d}", "week": week}
            for i, j in enumerate(drawn.tolist())
        )
    return traffic


def latest_week(requests: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The requests of the last week of the shifted traffic: the "current" distribution."""
    requests = list(requests)
    latest = max(r["week"] for r in requests)
    return [r for r in requests if r["week"] == latest]


def week_summaries(traffic: Sequence[Mapping[str, Any]], weeks: int) -> dict[str, dict[str, Any]]:
    """``week_NN`` -> what moved that week (requests, tutor share, mean length, past share),
    the figures ``metrics/shift.json`` shows a reader of the ramp."""
    summaries = {}
    for week in range(1, weeks + 1):
        batch = [r for r in traffic if r["week"] == week]
        tags = Counter(r["tag"] for r in batch)
        summaries[f"week_{week:02d}"] = {
            "requests": len(batch),
            "tutor_share": round(sum(r["domain"] == TUTOR_DOMAIN for r in batch) / len(batch), 4),
            "mean_tokens": round(sum(len(r["tokens"]) for r in batch) / len(batch), 3),
            "past_share": round(tags["VBD"] / len(batch), 4),
        }
    return summaries


class _Tilt:
    """The intensity-free part of the shift: each pool record's score and domain."""

    def __init__(
        self,
        pool: Sequence[Mapping[str, Any]],
        reference: Sequence[Mapping[str, Any]],
        kind: str,
    ) -> None:
        domain = np.array([r["domain"] for r in pool])
        self.verb = domain == VERB_DOMAIN
        self.tutor = domain == TUTOR_DOMAIN
        self.score = _scores(pool, reference, _TILTED_KINDS[kind])
        self.max_share = DOMAIN_MAX_SHARE if kind in ("domain", "mix") else 0.0

    def probabilities(self, intensity: float) -> np.ndarray:
        share = intensity * self.max_share
        probs = (1.0 - share) * _tilted(self.score, self.verb, intensity)
        if share > 0:
            probs += share * _tilted(self.score, self.tutor, intensity)
        return probs


def _scores(
    pool: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    parts: tuple[str, ...],
) -> np.ndarray:
    score = np.zeros(len(pool))
    if not parts:
        return score
    ranks = lemma_ranks(reference)
    pool_features = scalar_features(pool, ranks)
    ref_features = scalar_features(reference, ranks)
    if "tense" in parts:
        tags = [r["tag"] for r in pool]
        present = np.array([t in PRESENT_TAGS for t in tags])
        past = np.array([t in PAST_TAGS for t in tags])
        score += TENSE_BETA * (present.astype(float) - past.astype(float))
    if "lemma" in parts:
        log_rank = np.log(pool_features["lemma_rank"])
        score += LEMMA_RANK_BETA * _z(log_rank, np.log(ref_features["lemma_rank"]))
        irregular = _irregular({r["lemma"] for r in pool})
        score += IRREGULAR_BETA * np.array([irregular[r["lemma"]] for r in pool], dtype=float)
    if "length" in parts:
        log_length = np.log(pool_features["length"])
        score += LENGTH_BETA * _z(log_length, np.log(ref_features["length"]))
    return score


def _z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Standardize by the reference; a constant reference feature keeps its raw units."""
    std = float(reference.std())
    scaled = (values - reference.mean()) / (std if std > 0 else 1.0)
    return np.clip(scaled, -Z_CLIP, Z_CLIP)


def _tilted(score: np.ndarray, members: np.ndarray, intensity: float) -> np.ndarray:
    """Tilted probabilities over ``members`` (zero elsewhere), summing to 1."""
    logits = np.where(members, intensity * score, -np.inf)
    weights = np.exp(logits - logits[members].max())
    return weights / weights.sum()


def _irregular(lemmas: set[str]) -> dict[str, bool]:
    out = {}
    for lemma in sorted(lemmas):
        try:
            out[lemma] = is_irregular(lemma)
        except ValueError as exc:
            raise ShiftError(f"pool: lemma {lemma!r} cannot be inflected: {exc}") from exc
    return out


def _field(record: Mapping[str, Any], key: str, i: int, where: str = "records") -> Any:
    try:
        return record[key]
    except (KeyError, TypeError) as exc:
        raise ShiftError(f"{where}[{i}]: missing field {key!r} (a corpus record needs it)") from exc


def _check_inputs(
    pool: Sequence[Mapping[str, Any]],
    reference: Sequence[Mapping[str, Any]],
    kind: str,
    intensity: float,
) -> None:
    if kind not in KINDS:
        raise ShiftError(f"shift.kind: unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
    if not 0.0 <= intensity <= 1.0:
        raise ShiftError(f"shift.intensity: must be in [0, 1], got {intensity!r}")
    if not pool:
        raise ShiftError("pool: no records to resample (the held-out split is empty)")
    if not reference:
        raise ShiftError("reference: no records (the drift reference split is empty)")
    for i, record in enumerate(pool):
        for key in _REQUIRED_FIELDS:
            _field(record, key, i, "pool")
        if record["domain"] not in DOMAINS:
            raise ShiftError(
                f"pool[{i}]: domain {record['domain']!r} is not one of {', '.join(DOMAINS)}"
            )
        if record["tag"] not in TAGS:
            raise ShiftError(f"pool[{i}]: tag {record['tag']!r} is not one of {sorted(TAGS)}")
    for i, record in enumerate(reference):
        for key in ("tokens", "verb_index", "lemma"):
            _field(record, key, i, "reference")
    domains = Counter(r["domain"] for r in pool)
    if not domains[VERB_DOMAIN]:
        raise ShiftError(
            "pool: no verb-domain records; the unshifted traffic is drawn from them "
            "(pass the held-out split with both domains)"
        )
    if kind in ("domain", "mix") and not domains[TUTOR_DOMAIN]:
        raise ShiftError(
            f"pool: shift.kind={kind!r} mixes in tutor-domain records but the pool has none "
            "(pass the held-out split with both domains, or choose another kind)"
        )
