"""``python -m analytics.usage``: the usage stream for billing jobs (windowing in
``analytics.usage_windows``; this module is its Kafka adapter).

Reads ``completion-events`` and ``feedback-events`` in one consumer group (both keyed by
tenant/user with the same partition count, so a user's events of both kinds meet in one
process), and writes a :class:`UsageRecord` per tenant, user and closed window to
``usage-records`` (keyed by ``record_id`` for compaction, placed by tenant/user: see
:func:`usage_subject`). Order per step: produce the closed windows' records and wait for the broker
to have them, then commit input offsets that never pass an open window's first event. On a
rebalance the state is dropped and rebuilt from the committed offsets, so no two processes ever
count the same window from different halves.

Why not faust-streaming: its exactly-once mode needs Kafka transactions end to end, and its
tables keep state in changelog topics; the rule above gets exactly-once records from plain
commits and deterministic record ids, on any Kafka-protocol broker, with a core that is tested
without one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from analytics.usage_windows import Kind, UsageWindows
from config.settings import Settings
from runtime.service import run_marking_ready, run_service
from schemas.errors import ProtocolError
from schemas.socket import FeedbackKind
from schemas.topics import CompletionEvent, FeedbackEvent, UsageRecord, read_record, write_record
from streams.kafka import IDLE_WAIT_MS, make_consumer, make_producer, partition_for

log = logging.getLogger("analytics.usage")

CONSUMER_GROUP = "usage-windows"
#: Feedback kinds as usage counts them.
USAGE_KIND: dict[FeedbackKind, Kind] = {"shown": "shown", "accepted": "accepted",
                                        "partial": "accepted", "rejected": "rejected",
                                        "dismissed": "rejected"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class UsageStream:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.windows = UsageWindows(settings.usage_window_ms, settings.usage_grace_ms)
        self.ready = asyncio.Event()
        self.records_out = 0
        self.bad_records = 0

    def apply(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        position = (topic, partition)
        try:
            if topic == self.settings.topic_completions:
                done = read_record(CompletionEvent, value)
                for kind in ("completion", "admitted") if done.admitted else ("completion",):
                    self.windows.add(position, offset, done.event_id, done.tenant_id,
                                     done.user_id, done.plan, kind, done.received_ms)
                return
            feedback = read_record(FeedbackEvent, value)
        except ProtocolError as error:
            self.bad_records += 1
            log.warning("skipping bad %s record at partition %d offset %d: %s (field %s)",
                        topic, partition, offset, error.code, error.field)
            self.windows.skipped(position, offset)
            return
        kind = USAGE_KIND[feedback.kind]
        self.windows.add(position, offset, feedback.event_id, feedback.tenant_id,
                         feedback.user_id, feedback.plan, kind,
                         feedback.received_ms)

    async def run(self) -> None:
        settings = self.settings
        consumer = make_consumer(settings, group_id=CONSUMER_GROUP,
                                 auto_offset_reset="earliest", batch=True)
        consumer.subscribe([settings.topic_completions, settings.topic_feedback],
                           listener=_Rebuild(self, consumer))
        producer = make_producer(settings)
        await producer.start()
        await consumer.start()
        committed: dict[TopicPartition, OffsetAndMetadata] = {}
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=IDLE_WAIT_MS, max_records=5000)
                if consumer.assignment() and not self.ready.is_set():
                    self.ready.set()
                for tp, records in batches.items():
                    for record in records:
                        self.apply(tp.topic, tp.partition, record.offset, record.value)
                caught_up = all([(consumer.highwater(tp) or 0) <= await consumer.position(tp)
                                 for tp in consumer.assignment()])
                closed = self.windows.close(self.windows.watermark(now_ms(), caught_up))
                for usage in closed:
                    await producer.send(settings.topic_usage, write_record(usage),
                                        key=usage.record_id.encode(),
                                        partition=await usage_partition(
                                            producer, settings.topic_usage, usage))
                if closed:
                    await producer.flush()
                    self.records_out += len(closed)
                offsets = {TopicPartition(topic, partition): OffsetAndMetadata(offset, "")
                           for (topic, partition), offset in self.windows.committable().items()
                           if TopicPartition(topic, partition) in consumer.assignment()}
                if offsets and offsets != committed:  # an idle loop commits nothing
                    await consumer.commit(offsets)
                    committed = offsets
        finally:
            await consumer.stop()
            await producer.stop()


def usage_subject(tenant_id: str, user_id: str) -> bytes:
    """What places a user's usage records: all of them in the partition Kafka's partitioner
    gives this, so an erasure reads one partition (the key is the ``record_id``, which
    compaction needs)."""
    return f"{tenant_id}/{user_id}".encode()


async def usage_partition(producer: AIOKafkaProducer, topic: str, usage: UsageRecord) -> int:
    count = len(await producer.partitions_for(topic))
    return partition_for(usage_subject(usage.tenant_id, usage.user_id), count)


class _Rebuild(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions moved: forget everything and re-read from the committed offsets."""

    def __init__(self, stream: UsageStream, consumer: AIOKafkaConsumer) -> None:
        self.stream = stream
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        settings = self.stream.settings
        self.stream.windows = UsageWindows(settings.usage_window_ms, settings.usage_grace_ms)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for tp in assigned:
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)


async def serve_usage(settings: Settings, ready_file: str | None) -> None:
    stream = UsageStream(settings)
    await run_marking_ready(stream.run(), stream.ready, ready_file)


if __name__ == "__main__":
    raise SystemExit(run_service("usage", serve_usage))
