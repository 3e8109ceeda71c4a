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

import asyncio
import functools
import logging

from quota.arithmetic import (
    LOCAL_FALLBACK_COMPLETIONS,
    LocalAllowance,
    QuotaDecision,
    day_window,
    decide,
    quota_key,
)
from streams.redis_client import REDIS_FAILURES, AsyncRedis

log = logging.getLogger("workers.quota")

# INCR and EXPIRE in one atomic step; a refused attempt is given back so `used` stays exact.
_TAKE = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if used > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) end
return used
"""


# A unit given back by a take whose caller was gone (never below zero, never a new key).
_GIVE_BACK = """
if redis.call('GET', KEYS[1]) and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


class QuotaGate:
    """Takes one unit of a user's daily quota atomically in Redis.

    The counter counts exactly the takes whose caller heard "allowed": a take cancelled while
    Redis runs it (its request superseded or cancelled meanwhile) finishes anyway, and gives its
    unit back. Without that, each such take left the counter one above the admitted requests
    ClickHouse counts (the drift ``analytics.reconcile`` reported). What can still drift: a worker
    killed between a take and its request's event (at most its requests in flight), and a give
    back that Redis refused (logged)."""

    def __init__(self, client: AsyncRedis) -> None:
        self._client = client
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)
        self._local = LocalAllowance(LOCAL_FALLBACK_COMPLETIONS)
        self._giving_back: set[asyncio.Task[None]] = set()

    async def settled(self) -> None:
        """Wait for the units being given back (tests; the lifecycle's close, at shutdown)."""
        while self._giving_back:
            await asyncio.gather(*self._giving_back, return_exceptions=True)

    async def take(self, tenant_id: str, user_id: str, limit: int | None,
                   now_ms: int) -> QuotaDecision:
        day, resets_at_ms = day_window(now_ms)
        if limit is None:
            return QuotaDecision(True, 0, None, resets_at_ms)
        ttl_ms = resets_at_ms - now_ms + 3_600_000  # keep an hour past the day for reconciliation
        key = quota_key(tenant_id, user_id, day)
        attempt = asyncio.ensure_future(self._take(keys=[key], args=[limit, ttl_ms]))
        try:
            used = int(await asyncio.shield(attempt))
        except asyncio.CancelledError:
            attempt.add_done_callback(functools.partial(self._unit_unheard, key, limit))
            raise
        except REDIS_FAILURES as error:
            log.warning("quota counter unreachable (%s): local fallback", type(error).__name__)
            local_limit = min(limit, self._local.limit)
            used = self._local.take(tenant_id, user_id, day, local_limit)
            local = decide(used, local_limit, resets_at_ms)
            return QuotaDecision(local.allowed, used, local_limit, resets_at_ms, True)
        return decide(used, limit, resets_at_ms)

    def _unit_unheard(self, key: str, limit: int, attempt: asyncio.Future[object]) -> None:
        """A take finished after its caller was cancelled: give back the unit it took."""
        if attempt.cancelled() or attempt.exception() is not None:
            return
        if int(str(attempt.result())) <= limit:  # over the limit, the script gave it back
            task = asyncio.ensure_future(self._return_unit(key))
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)

    async def _return_unit(self, key: str) -> None:
        try:
            await self._give_back(keys=[key])
        except REDIS_FAILURES as error:
            log.warning("could not give back a quota unit (%s): the counter is one above the "
                        "admitted requests until reconciled", type(error).__name__)
