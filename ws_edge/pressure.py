"""When the pipeline behind an edge is overloaded, and what to tell clients (pure).

The signal is the time requests spend queued between the edge and the worker and back (both
Kafka hops, as measured on each request's first chunk), smoothed; crossing ``high_ms`` turns
the hint on, falling below ``low_ms`` turns it off, and not before ``hold_ms`` (hysteresis and a
minimum hold keep it from flapping). A failed produce, or a request a worker shed
(``overloaded``), counts as overload at once. The hint asks
plugins for a minimum interval between ``complete`` requests: a longer client-side debounce
instead of ever-growing queues.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PressureConfig:
    high_ms: float = 250.0
    low_ms: float = 60.0
    smoothing: float = 0.1
    request_interval_ms: int = 400
    hold_ms: int = 3000


class Pressure:
    """Overload state of one edge, from the queueing delays it observes."""

    def __init__(self, config: PressureConfig) -> None:
        self._config = config
        self.queue_ms = 0.0
        self.overloaded = False
        self._since_ms = 0

    def observe(self, queue_ms: float, now_ms: int) -> bool:
        """Feed one request's queueing delay; ``True`` if the state changed."""
        alpha = self._config.smoothing
        self.queue_ms = (1 - alpha) * self.queue_ms + alpha * max(0.0, queue_ms)
        return self._settle(now_ms)

    def produce_failed(self, now_ms: int) -> bool:
        """The broker refused or timed out a record, or a worker shed a request for want of
        model capacity: overloaded now."""
        self.queue_ms = max(self.queue_ms, self._config.high_ms)
        return self._settle(now_ms)

    def _settle(self, now_ms: int) -> bool:
        config = self._config
        if not self.overloaded and self.queue_ms >= config.high_ms:
            self.overloaded, self._since_ms = True, now_ms
            return True
        if (self.overloaded and self.queue_ms <= config.low_ms
                and now_ms - self._since_ms >= config.hold_ms):
            self.overloaded = False
            return True
        if self.overloaded and self.queue_ms >= config.high_ms:
            self._since_ms = now_ms  # still overloaded: the hold starts again
        return False

    @property
    def request_interval_ms(self) -> int:
        """The interval to ask of clients now (0: no limit)."""
        return self._config.request_interval_ms if self.overloaded else 0
