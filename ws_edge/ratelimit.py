"""Token buckets for client frames: per connection and per tenant (pure; time is an argument).

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; each frame takes one. Typing
bursts (a paste, a fast typist's run of keystrokes) fit in the burst; a flood does not.
"""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float, now_ms: int) -> None:
        self.rate_per_ms = rate_per_s / 1000
        self.burst = burst
        self._tokens = burst
        self._at_ms = now_ms

    def take(self, now_ms: int) -> bool:
        """Take one token at ``now_ms``; ``False`` (and nothing taken) if the bucket is empty."""
        elapsed = max(0, now_ms - self._at_ms)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_ms)
        self._at_ms = max(self._at_ms, now_ms)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def set_rate(self, rate_per_s: float, burst: float) -> None:
        """New terms (a tenant file reload); tokens already held are kept up to the new burst."""
        self.rate_per_ms = rate_per_s / 1000
        self.burst = burst
        self._tokens = min(self._tokens, burst)
