"""Daily completion quotas: the atomic Redis counter around the arithmetic of :mod:`quota`.

What counts: one completion request that is admitted to inference (a cache hit or a rejected
request does not count). The limit comes with each event, set by the edge from the API key's
tenant (``tenants.directory``): free plans 100 per user per UTC day, pro unlimited, enterprise per
contract (unlimited unless the contract sets a number).

When Redis is unreachable: unlimited plans are served as always (they never touch the counter);
limited users are held by a local counter in each worker, at most ``LOCAL_FALLBACK_COMPLETIONS``
per user per UTC day (or their own limit if lower), so an outage neither blocks them outright
nor makes their quota unlimited.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quota.arithmetic import (
    LOCAL_FALLBACK_COMPLETIONS,
    LocalAllowance,
    QuotaDecision,
    day_window,
    decide,
    quota_key,
)

log = logging.getLogger("workers.quota")

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
