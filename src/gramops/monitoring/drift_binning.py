"""Drift's binning: any feature's values as integer bin codes and count vectors.

Everything drift computes works on bin codes and counts, so a feature of any type costs
one vectorised binning pass and one ``np.bincount``; the statistics
(:mod:`gramops.monitoring.drift_stats`) then touch only ``bins`` numbers. The same counts
can be accumulated chunk by chunk (:class:`HistogramAccumulator`), so traffic logs larger
than memory need O(bins) memory.

Binning (written down because bin choice alone moves PSI by ~30% on the same data):

- Numeric features use ``bins`` reference-quantile bins: interior edges are the
  ``1/bins .. (bins-1)/bins`` quantiles of the reference (``inverted_cdf``, so every edge
  is an observed value and integer features get integer edges), duplicates dropped so
  ties and discrete features never produce empty zero-width bins, and the outer bins are
  open-ended (``< e0`` and ``≥ e_last``) so current values outside the reference range
  are counted, not dropped. A value ``x`` falls in ``[e_i, e_i+1)``: left-closed.
- Categorical features use a fixed category list (the reference's top-K by frequency,
  ties by name) plus an ``OTHER`` bin for everything else, including categories never
  seen in the reference: unseen categories are drift, not noise to discard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from gramops.core.params import DriftParams

OTHER = "OTHER"
"""Label of the categorical bin that holds every category outside the fixed list."""

Kind = Literal["numeric", "categorical"]


# --------------------------------------------------------------------------- binning


def quantile_edges(reference: ArrayLike, bins: int) -> NDArray[np.float64]:
    """Interior bin edges at the reference's quantiles, strictly increasing.

    Equal-mass bins put resolution where the reference has data; deduplicating the
    quantiles means a feature with heavy ties (say 60% of sentences 10 tokens long)
    gets fewer, non-degenerate bins instead of zero-width ones. The result has between
    1 and ``bins - 1`` edges; with the open outer bins that makes 2 to ``bins`` bins.
    """
    values = np.asarray(reference, dtype=np.float64).ravel()
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if values.size == 0:
        raise ValueError("cannot bin an empty reference: it has no values")
    if not np.isfinite(values).all():
        raise ValueError("reference has NaN or infinite values: drop or impute them first")
    levels = np.arange(1, bins) / bins
    edges = np.unique(np.quantile(values, levels, method="inverted_cdf"))
    return edges.astype(np.float64)


def bin_codes(values: ArrayLike, edges: ArrayLike) -> NDArray[np.intp]:
    """Bin index of each value for interior ``edges``: 0 is ``< edges[0]``, the last ``≥``.

    Left-closed bins ``[e_i, e_i+1)`` match :func:`quantile_edges`, whose edges are
    observed values: a value equal to an edge starts the bin above it.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(x).any():
        raise ValueError("values contain NaN: drop or impute them before binning")
    return np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="right")


def _format_edge(value: float, digits: int) -> str:
    # whole numbers (lengths, ranks) as themselves: 1767, never 1.77e+03
    return str(int(value)) if value.is_integer() else f"{value:.{digits}g}"


def numeric_labels(edges: ArrayLike) -> list[str]:
    """Readable bin labels: ``< 12``, ``[12, 15)``, …, ``≥ 30``; unique even for close edges."""
    e = np.asarray(edges, dtype=np.float64)
    for digits in range(3, 18):
        text = [_format_edge(v, digits) for v in e]
        if len(set(text)) == len(text):
            break
    labels = [f"< {text[0]}"]
    labels += [f"[{a}, {b})" for a, b in pairwise(text)]
    labels.append(f"≥ {text[-1]}")
    return labels


def _rank_categories(reference: ArrayLike, top_k: int) -> tuple[list[Any], NDArray[np.intp]]:
    """Top-K categories and every reference row's code under them, from one hashing pass."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    codes, uniques = pd.factorize(np.asarray(reference).ravel(), sort=True)  # missing → -1
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    # uniques are sorted, so a stable sort by descending count breaks ties by value
    order = np.argsort(-counts, kind="stable")[:top_k]
    remap = np.full(len(uniques) + 1, len(order), dtype=np.intp)  # last slot: missing → OTHER
    remap[order] = np.arange(len(order))
    return [_plain(v) for v in np.asarray(uniques)[order]], remap[codes]


def top_categories(reference: ArrayLike, top_k: int) -> list[Any]:
    """The ``top_k`` most frequent reference categories, ties broken by value for determinism."""
    return _rank_categories(reference, top_k)[0]


def _plain(value: Any) -> Any:
    """numpy scalar → Python scalar, so categories serialise to JSON as themselves."""
    return value.item() if isinstance(value, np.generic) else value


def category_codes(values: ArrayLike, categories: Sequence[Any]) -> NDArray[np.intp]:
    """Code ``i`` for ``categories[i]``; ``len(categories)`` (OTHER) for anything else, None too."""
    index = pd.Index(list(categories))
    if not index.is_unique:
        raise ValueError("categories must be unique")
    # hash each row once (factorize), then look up only the distinct values: several
    # times faster than get_indexer on every row of a numpy string array
    row_codes, uniques = pd.factorize(np.asarray(values).ravel(), use_na_sentinel=False)
    lookup = index.get_indexer(uniques)
    lookup[lookup < 0] = len(index)
    return lookup[row_codes]


@dataclass(frozen=True, eq=False)
class Binning:
    """How one feature's values become bin codes: numeric edges or a category list + OTHER."""

    kind: Kind
    labels: tuple[str, ...]
    edges: NDArray[np.float64] | None = None
    categories: tuple[Any, ...] | None = None

    @classmethod
    def numeric(cls, edges: ArrayLike) -> Binning:
        """Bins from interior edges (strictly increasing), open-ended at both ends."""
        e = np.asarray(edges, dtype=np.float64).ravel()
        if e.size == 0 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
            raise ValueError("edges must be finite, non-empty and strictly increasing")
        return cls("numeric", tuple(numeric_labels(e)), edges=e)

    @classmethod
    def categorical(cls, categories: Sequence[Any]) -> Binning:
        """Bins for a fixed category list plus the OTHER bin."""
        cats = tuple(categories)
        if not cats:
            raise ValueError("a categorical binning needs at least one category")
        labels = tuple(str(c) for c in cats)
        if OTHER in labels:
            raise ValueError(f"category {OTHER!r} collides with the OTHER bin's label")
        if len(set(labels)) != len(labels):
            raise ValueError("categories must be unique (as labels)")
        return cls("categorical", (*labels, OTHER), categories=cats)

    @classmethod
    def from_reference(cls, reference: ArrayLike, kind: Kind, params: DriftParams) -> Binning:
        """Quantile bins (numeric, ``params.bins``) or top-K + OTHER (``params.top_lemmas``)."""
        return fit_binning(reference, kind, params)[0]

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    def codes(self, values: ArrayLike) -> NDArray[np.intp]:
        """Bin code of every value."""
        if self.kind == "numeric":
            assert self.edges is not None
            return bin_codes(values, self.edges)
        assert self.categories is not None
        return category_codes(values, self.categories)

    def counts(self, values: ArrayLike) -> NDArray[np.int64]:
        """Histogram of ``values`` over these bins."""
        return np.bincount(self.codes(values), minlength=self.n_bins).astype(np.int64)


def fit_binning(
    reference: ArrayLike, kind: Kind, params: DriftParams
) -> tuple[Binning, NDArray[np.int64]]:
    """Bins from the reference and the reference's histogram over them.

    One pass over the reference serves both (for categories the hashing pass is the
    expensive part on large data).
    """
    if kind == "numeric":
        binning = Binning.numeric(quantile_edges(reference, params.bins))
        return binning, binning.counts(reference)
    if kind == "categorical":
        categories, codes = _rank_categories(reference, params.top_lemmas)
        binning = Binning.categorical(categories)
        return binning, np.bincount(codes, minlength=binning.n_bins).astype(np.int64)
    raise ValueError(f"unknown feature kind {kind!r}: use 'numeric' or 'categorical'")


class HistogramAccumulator:
    """Counts of one feature over any number of chunks, in O(bins) memory.

    ``counts`` after adding every chunk equals the in-memory histogram of the
    concatenated values, so a traffic log can be read chunk by chunk.
    """

    def __init__(self, binning: Binning) -> None:
        self.binning = binning
        self._counts = np.zeros(binning.n_bins, dtype=np.int64)

    def add(self, values: ArrayLike) -> HistogramAccumulator:
        """Bin a chunk of raw values and add it."""
        return self.add_codes(self.binning.codes(values))

    def add_codes(self, codes: ArrayLike) -> HistogramAccumulator:
        """Add a chunk of bin codes (already binned elsewhere)."""
        c = np.asarray(codes).ravel()
        if c.size == 0:
            return self
        if not np.issubdtype(c.dtype, np.integer):
            raise TypeError(f"bin codes must be integers, got {c.dtype}")
        lo, hi = int(c.min()), int(c.max())
        if lo < 0 or hi >= self.binning.n_bins:
            raise ValueError(f"bin codes must lie in [0, {self.binning.n_bins}), got [{lo}, {hi}]")
        self._counts += np.bincount(c, minlength=self.binning.n_bins)
        return self

    @property
    def counts(self) -> NDArray[np.int64]:
        return self._counts.copy()

    @property
    def total(self) -> int:
        return int(self._counts.sum())
