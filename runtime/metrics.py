"""Prometheus text-format metrics without a client library: counters, gauges, histograms.

Pure and single-threaded (each process's event loop owns its registry); ``render`` produces the
exposition format (version 0.0.4) that any Prometheus scrapes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

#: Latency buckets in seconds: fine below 100 ms, where the first-token budget lives.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                     0.15, 0.25, 0.5, 1.0, 2.5, 5.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = list(labels) + ([extra] if extra else [])
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + inner + "}"


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Histogram:
    """Cumulative-bucket histogram of one labelled series."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: Labels) -> list[str]:
        out, running = [], 0
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            out.append(f"{name}_bucket{_labels(labels, ('le', _num(bound)))} {running}")
        out.append(f"{name}_sum{_labels(labels)} {_num(self.total)}")
        out.append(f"{name}_count{_labels(labels)} {self.count}")
        return out


class Registry:
    """All metrics of one process, rendered together."""

    def __init__(self) -> None:
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, Histogram]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def _declare(self, name: str, kind: str, help_text: str) -> None:
        known = self._help.setdefault(name, (kind, help_text))
        if known[0] != kind:
            raise ValueError(f"metric {name} is already a {known[0]}")

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        self._declare(name, "counter", help_text)
        series = self._counters.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, help_text: str, value_s: float, **labels: str) -> None:
        self._declare(name, "histogram", help_text)
        series = self._histograms.setdefault(name, {})
        key = tuple(sorted(labels.items()))
        histogram = series.get(key)
        if histogram is None:
            histogram = series[key] = Histogram()
        histogram.observe(value_s)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._declare(name, "gauge", help_text)
        self._gauges[name] = read

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._help):
            kind, help_text = self._help[name]
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "counter":
                for labels, value in sorted(self._counters.get(name, {}).items()):
                    lines.append(f"{name}{_labels(labels)} {_num(value)}")
            elif kind == "gauge":
                lines.append(f"{name} {_num(self._gauges[name]())}")
            else:
                for labels, histogram in sorted(self._histograms.get(name, {}).items()):
                    lines.extend(histogram.lines(name, labels))
        return "\n".join(lines) + "\n"
