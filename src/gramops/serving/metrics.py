"""Counters and a latency histogram in Prometheus' text exposition format (version 0.0.4).

Written by hand rather than through a client library: a few counters and one histogram
are all the server needs, and every sample is rendered here, under one lock, so a scrape
never sees a half-updated histogram. Model state (which SHA each alias serves, reloads,
failed reloads) is not counted here: it is read from the holders at scrape time.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

# seconds; a single sentence is answered in about a millisecond, a batch of 1,024 in ~100 ms
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Labels = tuple[tuple[str, str], ...]
# (name, type, help, labels, value): a sample computed at scrape time
Gauge = tuple[str, str, str, Labels | Mapping[str, str], float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels_text(labels: Labels | Mapping[str, str]) -> str:
    items = sorted(labels.items()) if isinstance(labels, Mapping) else labels
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in items)
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Thread-safe counters (name -> labels -> value) and latency histograms by endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, str] = {}
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def count(self, name: str, help_text: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._help.setdefault(name, help_text)
            self._counters[name][key] += amount

    def observe(self, endpoint: str, seconds: float) -> None:
        """One request's latency (seconds) on ``endpoint``."""
        with self._lock:
            buckets = self._buckets.setdefault(endpoint, [0] * len(LATENCY_BUCKETS))
            index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
            if index < len(buckets):
                buckets[index] += 1
            self._sums[endpoint] += seconds
            self._counts[endpoint] += 1

    def value(self, name: str, **labels: str) -> float:
        """A counter's value (0 if never counted): what tests and `/readyz` read."""
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self, gauges: Iterable[Gauge]) -> str:
        """The exposition text: counters, the histogram, then ``gauges`` (name, type, help,
        labels, value) computed by the caller at scrape time."""
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._counters):
                lines += [f"# HELP {name} {self._help[name]}", f"# TYPE {name} counter"]
                for labels, value in sorted(self._counters[name].items()):
                    lines.append(f"{name}{labels_text(labels)} {_number(value)}")
            name = "gramops_request_duration_seconds"
            lines += [
                f"# HELP {name} time from a request's first byte read to its answer",
                f"# TYPE {name} histogram",
            ]
            for endpoint in sorted(self._buckets):
                cumulative = 0
                for bound, hits in zip(LATENCY_BUCKETS, self._buckets[endpoint], strict=True):
                    cumulative += hits
                    le = labels_text((("endpoint", endpoint), ("le", repr(bound))))
                    lines.append(f"{name}_bucket{le} {cumulative}")
                inf = labels_text((("endpoint", endpoint), ("le", "+Inf")))
                lines.append(f"{name}_bucket{inf} {self._counts[endpoint]}")
                only = labels_text((("endpoint", endpoint),))
                lines.append(f"{name}_sum{only} {_number(self._sums[endpoint])}")
                lines.append(f"{name}_count{only} {self._counts[endpoint]}")
        described: set[str] = set()
        for name, kind, help_text, labels, value in sorted(gauges, key=lambda g: g[0]):
            if name not in described:
                described.add(name)
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines.append(f"{name}{labels_text(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"
