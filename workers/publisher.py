"""Everything the worker writes to Kafka, behind one :class:`EventPublisher`.

Two kinds of record leave a worker: reply frames for a session (sealed with that session's key,
on the partition its edge reads) and metadata events for analytics (completion, persistence and
authorship events, keyed by tenant/user, never holding code). The request lifecycle and the
quality follower only see the Protocol; :class:`KafkaPublisher` owns sealing, keys, topics and
the background deliveries, so tests put a recording double in its place.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from schemas.topics import Reply, ReplyFrame, StageTimes, write_record
from sealing.session_keys import SessionKeys
from workers.core import Route

log = logging.getLogger("workers")

#: How long the worker waits for session keys from Redis before it gives up on those records.
KEY_FETCH_TIMEOUT_S = 1.0


class EventPublisher(Protocol):
    """Where a worker's frames and events go."""

    async def send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                   ) -> None:
        """Deliver a reply frame to the session (returns once the producer took it)."""

    def emit(self, topic: str, record: object, route: Route) -> asyncio.Task[None] | None:
        """Produce a metadata record in the background; the task ends when the broker has it
        (``None``: nothing is produced). Never raises."""

    async def drain(self) -> None:
        """Wait for every background delivery (at shutdown)."""


async def fetch_keys(keys: SessionKeys, sessions: set[str]) -> None:
    """Load the sessions' keys not known yet; a Redis that fails or hangs leaves them unknown
    (their records are skipped, their replies dropped: the edge ends those requests in time)
    instead of stalling the consume loop."""
    try:
        async with asyncio.timeout(KEY_FETCH_TIMEOUT_S):
            await keys.fetch(sessions)
    except Exception as error:  # noqa: BLE001 - any Redis failure: the keys stay unknown
        log.warning("session keys unavailable (redis: %s)", type(error).__name__)


class KafkaPublisher:
    """Replies sealed per session on the reply topic; events produced in the background. The
    producer is attached by the worker's ``run`` (it must be made inside the event loop)."""

    def __init__(self, keys: SessionKeys, replies_topic: str) -> None:
        self.producer: AIOKafkaProducer | None = None
        self._keys = keys
        self._replies_topic = replies_topic
        self._pending: set[asyncio.Task[None]] = set()
        #: Events the broker never acknowledged (counted and logged, never raised).
        self.lost_events = 0

    async def send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                   ) -> None:
        session_id = route.session_id
        cipher = self._keys.known(session_id)
        if cipher is None:
            await fetch_keys(self._keys, {session_id})
            cipher = self._keys.known(session_id)
        if cipher is None:
            log.warning("reply dropped: the session's key is gone")
            return
        assert self.producer is not None, "replies are sent only while the worker runs"
        value = cipher.seal(write_record(Reply(session_id, frame, timing)), "reply", session_id)
        await self.producer.send(self._replies_topic, value, key=session_id.encode(),
                                  partition=route.reply_partition)

    def emit(self, topic: str, record: object, route: Route) -> asyncio.Task[None] | None:
        producer = self.producer
        if producer is None:
            return None

        async def deliver() -> None:
            delivery = await producer.send(topic, write_record(record),
                                           key=f"{route.tenant_id}/{route.user_id}".encode())
            await delivery

        task = asyncio.create_task(deliver())
        self._pending.add(task)
        task.add_done_callback(self._delivered)
        return task

    def _delivered(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.lost_events += 1
            log.warning("event not produced: %s", type(task.exception()).__name__)

    async def drain(self) -> None:
        await asyncio.gather(*self._pending, return_exceptions=True)
