"""Prometheus exposition of counters, gauges and histograms, and the first-token stage split."""

from __future__ import annotations

import pytest

from runtime.metrics import Registry
from schemas.topics import StageTimes
from ws_edge.server import stage_split


class TestRegistry:
    """Rendered text is what Prometheus expects: HELP, TYPE, cumulative buckets, +Inf."""

    def test_counter_and_gauge(self) -> None:
        r = Registry()
        r.inc("requests_total", "requests", source="cache")
        r.inc("requests_total", "requests", source="cache")
        r.gauge("sessions", "open sessions", lambda: 3)
        text = r.render()
        assert "# TYPE requests_total counter" in text
        assert 'requests_total{source="cache"} 2' in text
        assert "sessions 3" in text

    def test_histogram_buckets_are_cumulative(self) -> None:
        r = Registry()
        for value in (0.0004, 0.003, 0.003, 7.0):
            r.observe("lat_seconds", "latency", value, stage="total")
        text = r.render()
        assert 'lat_seconds_bucket{stage="total",le="0.0005"} 1' in text
        assert 'lat_seconds_bucket{stage="total",le="0.005"} 3' in text
        assert 'lat_seconds_bucket{stage="total",le="5"} 3' in text
        assert 'lat_seconds_bucket{stage="total",le="+Inf"} 4' in text
        assert 'lat_seconds_count{stage="total"} 4' in text

    def test_a_name_has_one_kind(self) -> None:
        r = Registry()
        r.inc("x", "x")
        with pytest.raises(ValueError, match="already a counter"):
            r.observe("x", "x", 1.0)


def test_stage_split_adds_up() -> None:
    timing = StageTimes(received_ms=1000, consumed_ms=1003, fired_ms=1040, first_chunk_ms=1046,
                        produced_ms=1046)
    split = stage_split(timing, queued_ms=1049)
    assert split == {"edge_to_worker": 3, "debounce": 37, "first_chunk": 6, "worker_to_edge": 3,
                     "total": 49, "overhead": 43}
    parts = ("edge_to_worker", "debounce", "first_chunk", "worker_to_edge")
    assert sum(split[k] for k in parts) == split["total"]
