"""The edge's overload detector: on above a high delay, off below a low one and only after a
minimum hold, at once on a failed produce. Driven by a fake clock."""

from __future__ import annotations

from ws_edge.pressure import Pressure, PressureConfig

CONFIG = PressureConfig(high_ms=200, low_ms=50, smoothing=0.5, request_interval_ms=400,
                        hold_ms=1000)


class TestPressure:
    """Hysteresis and the hold keep the hint from flapping; the interval is asked only while on."""

    def test_turns_on_when_queues_grow_and_off_when_they_drain(self) -> None:
        p = Pressure(CONFIG)
        assert not p.observe(20, now_ms=0) and p.request_interval_ms == 0
        changes = [p.observe(600, now_ms=t) for t in (10, 20, 30)]
        assert changes.count(True) == 1 and p.overloaded
        assert p.request_interval_ms == 400
        assert not p.observe(100, now_ms=40), "between the thresholds nothing changes"
        drained = [p.observe(0, now_ms=t) for t in range(50, 1000, 100)]
        assert not any(drained) and p.overloaded, "held for hold_ms after the last overload"
        assert p.observe(0, now_ms=1100) and not p.overloaded

    def test_a_failed_produce_is_overload_at_once(self) -> None:
        p = Pressure(CONFIG)
        assert p.produce_failed(now_ms=5) and p.overloaded
        assert not p.produce_failed(now_ms=6)
