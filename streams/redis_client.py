"""The services' Redis client: a bounded pool that makes callers wait for a connection; and
which Redis that is, for the operator's commands.

redis-py's default async pool raises ``MaxConnectionsError`` when more commands are in flight
than it has connections; a worker with many generations at once must queue instead.
"""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from config.settings import Settings
from schemas.errors import AssistantError

MAX_CONNECTIONS = 32
WAIT_FOR_CONNECTION_S = 5.0


def make_redis(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_FOR_CONNECTION_S)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


class RedisUnavailable(AssistantError):
    """Neither the configured Redis nor the embedded one answers."""


def services_redis_url(settings: Settings) -> str:
    """The Redis the services use: ``REDIS_URL`` if it answers, else the embedded one that
    `make up` starts on ``REDIS_PORT`` when the configured one does not (operator commands such
    as the erasure and the reconciliation must reach the same one)."""
    for url in (settings.redis_url, f"redis://127.0.0.1:{settings.redis_port}/0"):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
            try:
                client.ping()
                return url
            finally:
                client.close()
        except (redis.RedisError, OSError):
            continue
    raise RedisUnavailable(f"no Redis answers at {settings.redis_url} nor at the embedded "
                           f"127.0.0.1:{settings.redis_port}; start it (`make up`) or set REDIS_URL")
