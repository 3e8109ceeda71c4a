"""Daily completion quotas: the pure arithmetic, and the atomic Redis counter around it.

What counts: one completion request that is admitted to inference (a cache hit or a rejected
request does not count). The limit comes with each event, set by the edge from the API key's
tenant (``infra.tenants``): free plans 100 per user per UTC day, pro unlimited, enterprise per
contract (unlimited unless the contract sets a number).

When Redis is unreachable: unlimited plans are served as always (they never touch the counter);
limited users are held by a local counter in each worker, at most ``LOCAL_FALLBACK_COMPLETIONS``
per user per UTC day (or their own limit if lower), so an outage neither blocks them outright
nor makes their quota unlimited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("workers.quota")

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


# INCR and EXPIRE in one atomic step; a refused attempt is given back so `used` stays exact.
_TAKE = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if used > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) end
return used
"""


class QuotaGate:
    """Takes one unit of a user's daily quota atomically in Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._take = client.register_script(_TAKE)
        self._local = LocalAllowance(LOCAL_FALLBACK_COMPLETIONS)

    async def take(self, tenant_id: str, user_id: str, limit: int | None,
                   now_ms: int) -> QuotaDecision:
        day, resets_at_ms = day_window(now_ms)
        if limit is None:
            return QuotaDecision(True, 0, None, resets_at_ms)
        ttl_ms = resets_at_ms - now_ms + 3_600_000  # keep an hour past the day for reconciliation
        try:
            used = int(await self._take(keys=[quota_key(tenant_id, user_id, day)],
                                        args=[limit, ttl_ms]))
        except (RedisError, OSError) as error:
            log.warning("quota counter unreachable (%s): local fallback", type(error).__name__)
            local_limit = min(limit, self._local.limit)
            used = self._local.take(tenant_id, user_id, day, local_limit)
            local = decide(used, local_limit, resets_at_ms)
            return QuotaDecision(local.allowed, used, local_limit, resets_at_ms, True)
        return decide(used, limit, resets_at_ms)
