"""When the language server may ask the edge for the next completion, and when it reconnects.

Pure (times are arguments). The edge's ``slow_down`` frame asks a plugin to space ``complete``
requests ``request_interval_ms`` apart until a frame with 0 lifts it (the newest request waiting
for its turn supersedes older ones); a dropped socket is opened
again after a delay that doubles per failure in a row, capped, and resets once a session is up.
"""

from __future__ import annotations

from dataclasses import dataclass

RECONNECT_FIRST_S = 0.25
RECONNECT_MAX_S = 8.0


@dataclass(slots=True)
class Pacing:
    """The edge's current request interval and when the last request went (or will go) out."""

    interval_ms: int = 0
    last_sent_s: float | None = None
    #: The newest request's ticket (see :meth:`claim`).
    ticket: int = 0

    def wait_s(self, now_s: float) -> float:
        """How long a request that wants to go out at ``now_s`` must wait."""
        if self.interval_ms <= 0 or self.last_sent_s is None:
            return 0.0
        return max(0.0, self.last_sent_s + self.interval_ms / 1000 - now_s)

    def sent(self, now_s: float) -> None:
        self.last_sent_s = now_s

    def claim(self, now_s: float) -> tuple[float, int]:
        """When a completion request made at ``now_s`` may go out, and its ticket. Only the
        newest request matters (the cursor is in one place): one made while an older one still
        waits for its turn takes that turn, and the older one is superseded (:meth:`current`)
        instead of every request queueing behind the last, ``interval_ms`` apart."""
        self.ticket += 1
        if self.last_sent_s is None or self.last_sent_s <= now_s:
            self.last_sent_s = now_s + self.wait_s(now_s)
        return self.last_sent_s, self.ticket

    def current(self, ticket: int) -> bool:
        """Whether the request holding ``ticket`` is still the newest."""
        return ticket == self.ticket


@dataclass(slots=True)
class Backoff:
    """Reconnection delays: ``RECONNECT_FIRST_S`` doubling to ``RECONNECT_MAX_S``."""

    failures: int = 0

    def next_delay_s(self) -> float:
        delay: float = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2.0 ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
