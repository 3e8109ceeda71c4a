"""When to restart a component that exited, and when to give up (pure; time is an argument).

A crashed component is started again after a backoff that doubles with each exit in a row
(``first_backoff_ms`` up to ``max_backoff_ms``); one that ran ``healthy_after_ms`` before it
exited starts the count afresh. More than ``max_exits`` exits within ``window_ms`` is a crash
loop: restarting again would only hide it, so the stack stops and says which component and why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    first_backoff_ms: int = 500
    max_backoff_ms: int = 10_000
    healthy_after_ms: int = 60_000
    max_exits: int = 5
    window_ms: int = 120_000


@dataclass(frozen=True)
class Restart:
    """Start the component again at ``at_ms``."""

    at_ms: int
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """A crash loop: stop the stack."""

    reason: str


@dataclass
class _History:
    started_ms: int
    streak: int = 0
    exits: deque[int] = field(default_factory=deque)


class Restarts:
    """Exit history per component, and the decision for each exit."""

    def __init__(self, policy: RestartPolicy | None = None) -> None:
        self.policy = policy or RestartPolicy()
        self._history: dict[str, _History] = {}

    def started(self, name: str, now_ms: int) -> None:
        history = self._history.setdefault(name, _History(now_ms))
        history.started_ms = now_ms

    def exited(self, name: str, now_ms: int) -> Restart | GiveUp:
        policy = self.policy
        history = self._history.setdefault(name, _History(now_ms))
        if now_ms - history.started_ms >= policy.healthy_after_ms:
            history.streak = 0
        history.streak += 1
        history.exits.append(now_ms)
        while history.exits and history.exits[0] <= now_ms - policy.window_ms:
            history.exits.popleft()
        if len(history.exits) > policy.max_exits:
            return GiveUp(f"{name} exited {len(history.exits)} times in the last "
                          f"{policy.window_ms // 1000} s: a crash loop")
        backoff = min(policy.max_backoff_ms, policy.first_backoff_ms * 2 ** (history.streak - 1))
        return Restart(now_ms + backoff, history.streak)
