"""The services' Redis client: a bounded pool that makes callers wait for a connection.

redis-py's default async pool raises ``MaxConnectionsError`` when more commands are in flight
than it has connections; a worker with many generations at once must queue instead.
"""

from __future__ import annotations

import redis.asyncio as aioredis

MAX_CONNECTIONS = 32
WAIT_FOR_CONNECTION_S = 5.0


def make_redis(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_FOR_CONNECTION_S)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
