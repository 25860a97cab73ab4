"""The standard normal the traffic strategies and the gate test against, and the rounding
of the figures they report, in one place.

From the stdlib rather than ``scipy.stats``: scipy.stats costs about a second of import in
every stage that loads the traffic or gate modules, for a quantile and a tail probability,
and ``NormalDist`` with ``math.erfc`` give the same rounded values.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()

ROUND = 6
"""Decimals of every rate, statistic and bound the traffic report and the gate write."""


def rounded(value: float | None) -> float | None:
    """``value`` at :data:`ROUND` decimals, as a plain float (None stays None)."""
    return None if value is None else round(float(value), ROUND)


def normal_quantile(p: float) -> float:
    """The standard normal's ``p`` quantile (``z_p``), for confidence bounds and sample sizes."""
    return _NORMAL.inv_cdf(p)


def upper_tail(x: float) -> float:
    """P(Z > x) for a standard normal, via erfc so small tails keep their precision."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))
