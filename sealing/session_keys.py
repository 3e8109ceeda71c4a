"""Per-session record keys in Redis: made by the edge, read by workers, gone after a TTL.

The edge makes a key when a session starts and writes it again every ``REFRESH_MS`` with a fresh
TTL (``CODE_RETENTION_MS``) while the socket lives, so a restarted Redis has it back within
seconds; when the session ends the key is given ``RETIRE_GRACE_MS`` for workers to read what is
still queued, then Redis drops it. Keys are never written to Kafka, logs or disk (the
embedded Redis runs without persistence; a production Redis holding them must too).
With ``CODE_ENCRYPTION=0`` every method hands out :data:`sealing.cipher.PLAIN`.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from schemas.errors import AssistantError
from sealing.cipher import PLAIN, Cipher, SessionCipher, new_key

PREFIX = "sk:v1:"
#: How often the edge writes its live sessions' keys again.
REFRESH_MS = 5_000
#: After a session ends, its key lives this long for the workers to read its last records.
RETIRE_GRACE_MS = 60_000


class SessionKeyError(AssistantError, RuntimeError):
    """Redis could not give or keep a session key (the session cannot carry code safely)."""


class SessionKeys:
    """Session keys in Redis, with the ciphers of the sessions this process already knows."""

    def __init__(self, client: aioredis.Redis | aioredis.RedisCluster | None, ttl_ms: int
                 ) -> None:
        self._client = client
        self._ttl_ms = ttl_ms
        self._known: dict[str, Cipher] = {}
        #: Keys this process made (edge): written again on every refresh.
        self._owned: dict[str, bytes] = {}

    async def create(self, session_id: str) -> Cipher:
        """A new key for a new session (edge)."""
        if self._client is None:
            return PLAIN
        key = new_key()
        try:
            made = await self._client.set(PREFIX + session_id, key, px=self._ttl_ms, nx=True)
        except Exception as error:  # noqa: BLE001 - any Redis failure means: no key
            raise SessionKeyError(f"redis: {type(error).__name__}") from None
        if not made:
            raise SessionKeyError("a key for this session id exists already")
        self._owned[session_id] = key
        cipher = self._known[session_id] = SessionCipher(key)
        return cipher

    async def refresh(self) -> None:
        """Write the keys of this process's live sessions again with a fresh TTL (edge)."""
        if self._client is None or not self._owned:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for session_id, key in self._owned.items():
                pipe.set(PREFIX + session_id, key, px=self._ttl_ms)
            await pipe.execute()

    async def retire(self, session_id: str) -> None:
        """The session ended: its key goes after a grace for the records still queued."""
        self._known.pop(session_id, None)
        if self._client is not None and self._owned.pop(session_id, None) is not None:
            await self._client.pexpire(PREFIX + session_id, RETIRE_GRACE_MS)

    def known(self, session_id: str) -> Cipher | None:
        return PLAIN if self._client is None else self._known.get(session_id)

    async def fetch(self, session_ids: set[str]) -> None:
        """Load the keys of ``session_ids`` not known yet (worker; one round trip)."""
        wanted = [s for s in session_ids if s not in self._known]
        if self._client is None or not wanted:
            return
        # GETs in one pipeline rather than an MGET: in a cluster the keys live on several nodes
        # (the pipeline sends each node its own), and alone it is still one round trip.
        async with self._client.pipeline(transaction=False) as pipe:
            for session_id in wanted:
                pipe.get(PREFIX + session_id)
            keys = await pipe.execute()
        for session_id, key in zip(wanted, keys, strict=True):
            if isinstance(key, bytes):
                self._known[session_id] = SessionCipher(key)

    def retain(self, keep: set[str]) -> None:
        """Forget the ciphers of sessions this process no longer holds."""
        self._known = {s: c for s, c in self._known.items() if s in keep}
