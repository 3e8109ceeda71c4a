"""Finished generations in Redis, shared by all workers, keyed by the generation's hash.

Keys hold only the hash; values hold the generated chunks (code) with a short TTL, in a Redis
that keeps nothing on disk (the embedded one runs with ``--save ""``).
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas.socket import EndReason
from streams.redis_client import AsyncRedis

CACHEABLE: frozenset[EndReason] = frozenset({"stop", "length"})


class CompletionCache:
    def __init__(self, client: AsyncRedis, ttl_s: int) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(key: str) -> str:
        return f"gen:v1:{key}"

    async def get(self, key: str) -> tuple[list[str], EndReason] | None:
        raw = await self._client.get(self._key(key))
        if raw is None:
            self.misses += 1
            return None
        value: Any = orjson.loads(raw)
        chunks, reason = value.get("chunks"), value.get("reason")
        if not isinstance(chunks, list) or reason not in CACHEABLE:
            self.misses += 1
            return None
        self.hits += 1
        return [str(c) for c in chunks], reason

    async def put(self, key: str, chunks: list[str], reason: EndReason) -> None:
        if reason in CACHEABLE:
            value = orjson.dumps({"chunks": chunks, "reason": reason})
            await self._client.set(self._key(key), value, ex=self._ttl_s)
