"""Daily quotas: the arithmetic, and exactness under concurrency against the real Redis."""

from __future__ import annotations

import asyncio
import uuid

from infra.processes import free_port
from quota.arithmetic import (
    DAY_MS,
    LOCAL_FALLBACK_COMPLETIONS,
    LocalAllowance,
    day_window,
    quota_key,
)
from streams.redis_client import make_redis
from tenants.directory import FREE_DAILY_COMPLETIONS
from workers.quota import QuotaGate


class TestArithmetic:
    """Days are UTC days; the reset is the next midnight."""

    def test_day_window(self) -> None:
        day, resets = day_window(DAY_MS * 20_000 + 5)
        assert (day, resets) == ("20000", DAY_MS * 20_001)
        assert day_window(DAY_MS * 20_001 - 1)[0] == "20000"


class TestQuotaGate:
    """Exactly the plan's allowance is granted, however many attempts race for it."""

    async def test_exactly_100_of_1000_concurrent_attempts(self, redis_url: str) -> None:
        client = make_redis(redis_url)
        gate = QuotaGate(client)
        user = f"race-{uuid.uuid4().hex[:8]}"
        now = DAY_MS * 20_000 + 1000
        try:
            decisions = await asyncio.gather(*(gate.take("t", user, FREE_DAILY_COMPLETIONS, now)
                                               for _ in range(1000)))
            assert sum(d.allowed for d in decisions) == FREE_DAILY_COMPLETIONS
            assert int(await client.get(quota_key("t", user, "20000")) or 0) == 100
            ttl_s = await client.ttl(quota_key("t", user, "20000"))
            assert 0 < ttl_s <= (DAY_MS - 1000) // 1000 + 3600
            refused = next(d for d in decisions if not d.allowed)
            assert refused.resets_at_ms == DAY_MS * 20_001
        finally:
            await client.delete(quota_key("t", user, "20000"))
            await client.aclose()

    async def test_a_take_cancelled_midway_leaves_no_unit_taken(self, redis_url: str) -> None:
        """A request superseded or cancelled while its unit is being taken: the counter keeps
        counting exactly the takes whose caller was told "allowed" (the drift reconcile saw)."""
        client = make_redis(redis_url)
        gate = QuotaGate(client)
        user = f"cancel-{uuid.uuid4().hex[:8]}"
        now = DAY_MS * 20_000 + 1000
        key = quota_key("t", user, "20000")
        try:
            loop = asyncio.get_running_loop()
            for round_ in range(10):
                takes = [asyncio.ensure_future(gate.take("t", user, 10_000, now))
                         for _ in range(200)]
                for index, take in enumerate(takes[::2]):  # at moments spread over 10 ms
                    loop.call_later((index * 7919 + round_) % 100 / 10_000, take.cancel)
                done = await asyncio.gather(*takes, return_exceptions=True)
                cancelled = sum(isinstance(d, asyncio.CancelledError) for d in done)
                assert 0 < cancelled <= 100
                await gate.settled()
                allowed = sum(1 for d in done if not isinstance(d, BaseException) and d.allowed)
                assert int(await client.get(key) or 0) == allowed
                await client.delete(key)
        finally:
            await client.delete(key)
            await client.aclose()

    async def test_paid_plans_are_not_counted(self, redis_url: str) -> None:
        client = make_redis(redis_url)
        user = f"pro-{uuid.uuid4().hex[:8]}"
        try:
            decision = await QuotaGate(client).take("t", user, None, DAY_MS * 20_000)
            assert decision.allowed and decision.limit is None
            assert await client.exists(quota_key("t", user, "20000")) == 0
        finally:
            await client.aclose()


class TestRedisDown:
    """With the counter unreachable (a real refused connection), paid plans are served and free
    users get a small local allowance, not an unlimited one."""

    async def test_local_fallback(self) -> None:
        client = make_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        gate = QuotaGate(client)
        now = DAY_MS * 20_000
        try:
            decisions = [await gate.take("t", "u", 100, now) for _ in range(12)]
            assert [d.allowed for d in decisions] == [True] * LOCAL_FALLBACK_COMPLETIONS + [False] * 2
            assert all(d.degraded for d in decisions)
            assert (await gate.take("t", "other", 100, now)).allowed
            assert (await gate.take("t", "u", None, now)).allowed
            assert (await gate.take("t", "u", 100, now + DAY_MS)).allowed, "a new day resets"
            contract = [(await gate.take("t", "e", 3, now)).allowed for _ in range(4)]
            assert contract == [True, True, True, False], "a lower contract limit still holds"
        finally:
            await client.aclose()


def test_local_allowance_counts_exactly() -> None:
    allowance = LocalAllowance(3)
    assert [allowance.take("t", "u", "1", 3) for _ in range(5)] == [1, 2, 3, 4, 4]
    assert allowance.take("t", "v", "1", 1) == 1 and allowance.take("t", "v", "1", 1) == 2
    assert allowance.take("t", "u", "2", 3) == 1
