"""The arithmetic of daily completion quotas (pure): UTC days, counter keys, decisions.

Imported by the worker that enforces quotas (``workers.quota``, around an atomic Redis counter)
and by analytics that reconciles them (``analytics.reconcile``), so both count the same day.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Per user and UTC day, what a worker allows a limited user while Redis does not answer.
LOCAL_FALLBACK_COMPLETIONS = 10
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class QuotaDecision:
    allowed: bool
    used: int
    limit: int | None
    resets_at_ms: int
    #: Decided by the local fallback because Redis did not answer.
    degraded: bool = False


class LocalAllowance:
    """Per-process daily counters for when the shared one is unreachable (pure)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used: dict[tuple[str, str, str], int] = {}

    def take(self, tenant_id: str, user_id: str, day: str, limit: int) -> int:
        """Count one attempt against ``limit``; returns the count after it (refused attempts are
        given back)."""
        if any(key[2] != day for key in self._used):
            self._used = {k: v for k, v in self._used.items() if k[2] == day}
        key = (tenant_id, user_id, day)
        used = self._used.get(key, 0) + 1
        if used <= limit:
            self._used[key] = used
        return used


def day_window(now_ms: int) -> tuple[str, int]:
    """The UTC day's number (as a key part) and the epoch ms at which it ends."""
    day = now_ms // DAY_MS
    return str(day), (day + 1) * DAY_MS


def quota_key(tenant_id: str, user_id: str, day: str) -> str:
    return f"quota:v1:{tenant_id}:{user_id}:{day}"


def decide(used_after_increment: int, limit: int | None, resets_at_ms: int) -> QuotaDecision:
    allowed = limit is None or used_after_increment <= limit
    return QuotaDecision(allowed, used_after_increment, limit, resets_at_ms)
