"""The services' Redis client: one Redis through a bounded pool that makes callers wait for a
connection, or a Redis Cluster (``REDIS_CLUSTER``: ``REDIS_URL`` names any one of its nodes);
and which Redis that is, for the operator's commands.

redis-py's default async pool raises ``MaxConnectionsError`` when more commands are in flight
than it has connections; a worker with many generations at once must queue instead. Every
command the services send names one key (the quota scripts, the cache, the session keys), or
goes through a non-transactional pipeline, so each reaches its key's node in a cluster.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

from config.settings import Settings
from schemas.errors import AssistantError

MAX_CONNECTIONS = 32
#: Connections per node of a Redis Cluster. redis-py's cluster client does not queue for a
#: connection: past this many commands in flight to one node it fails (``MaxConnectionsError``,
#: which callers treat as Redis being away), so the bound is far above what a process sends.
CLUSTER_MAX_CONNECTIONS = 4096
#: What a Redis call may raise when Redis, or a cluster's slot map, is out of reach: a
#: cluster client's ``RedisClusterException`` is not a ``RedisError``.
REDIS_FAILURES: tuple[type[Exception], ...] = (redis.RedisError,
                                               redis.exceptions.RedisClusterException, OSError)
WAIT_FOR_CONNECTION_S = 5.0


#: The services' async client, either kind.
AsyncRedis = aioredis.Redis | aioredis.RedisCluster
#: The operator commands' client, either kind.
SyncRedis = redis.Redis | redis.RedisCluster


def make_redis(url: str, cluster: bool = False) -> AsyncRedis:
    if cluster:
        # The node named is where the client learns the slot map; it then keeps a pool per
        # node (a cluster has one database: the URL's number is dropped).
        return aioredis.RedisCluster.from_url(_without_database(url),
                                              max_connections=CLUSTER_MAX_CONNECTIONS)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_FOR_CONNECTION_S)
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both


def sync_redis(url: str, cluster: bool = False) -> SyncRedis:
    """A blocking client for the operator's commands (erasure, reconciliation)."""
    if cluster:
        return redis.RedisCluster.from_url(_without_database(url), socket_connect_timeout=2,
                                           socket_timeout=5)
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _without_database(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", parts.query, ""))


class RedisUnavailable(AssistantError):
    """Neither the configured Redis nor the embedded one answers."""


def services_redis(settings: Settings) -> SyncRedis:
    """A client of the Redis the services use: ``REDIS_URL`` if it answers, else (one Redis,
    not a cluster) the embedded one that `make up` starts on ``REDIS_PORT`` when the configured
    one does not (operator commands such as the erasure and the reconciliation must reach the
    same one). The caller closes it."""
    urls = [settings.redis_url]
    if not settings.redis_cluster:
        urls.append(f"redis://127.0.0.1:{settings.redis_port}/0")
    for url in urls:
        try:
            client = sync_redis(url, bool(settings.redis_cluster))
        except REDIS_FAILURES:
            continue  # a cluster client asks for the slot map as it is made
        try:
            client.ping()
            return client
        except REDIS_FAILURES:
            client.close()
    raise RedisUnavailable(f"no Redis answers at {settings.redis_url}" + (
        "" if settings.redis_cluster else
        f" nor at the embedded 127.0.0.1:{settings.redis_port}; start it (`make up`)")
        + " or set REDIS_URL")
