"""Token buckets for client frames: per user and per tenant (pure; time is an argument).

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; each frame takes one (or, in
a byte budget, its size). Typing bursts (a paste, a fast typist's run of keystrokes) fit in the
burst; a flood does not.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: float, now_ms: int) -> None:
        self.rate_per_ms = rate_per_s / 1000
        self.burst = burst
        self._tokens = burst
        self._at_ms = now_ms

    def take(self, now_ms: int, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens at ``now_ms``; ``False`` (and nothing taken) if there are fewer."""
        elapsed = max(0, now_ms - self._at_ms)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_ms)
        self._at_ms = max(self._at_ms, now_ms)
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def set_rate(self, rate_per_s: float, burst: float) -> None:
        """New terms (a tenant file reload); tokens already held are kept up to the new burst."""
        self.rate_per_ms = rate_per_s / 1000
        self.burst = burst
        self._tokens = min(self._tokens, burst)


@dataclass(slots=True)
class UserBudget:
    """What one user may send across all of its sessions on one edge: frames and bytes per
    second. One user opening its eight sessions gets no more than one session would, so its
    cost to the shared edge is bounded whatever else its terms allow."""

    frames: TokenBucket
    bytes: TokenBucket

    @classmethod
    def new(cls, frames_per_s: float, bytes_per_s: float, max_frame_bytes: int,
            now_ms: int) -> UserBudget:
        """A full budget; the byte burst holds two frames of the largest size at least."""
        return cls(TokenBucket(frames_per_s, frames_per_s, now_ms),
                   TokenBucket(bytes_per_s, max(bytes_per_s, 2 * max_frame_bytes), now_ms))
