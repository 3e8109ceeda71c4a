"""Kafka plumbing over aiokafka: topic specs, topic creation, producer and consumer factories.

Only the Kafka protocol is used, so the embedded Apache Kafka and a production cluster are
interchangeable. Producers are idempotent (``acks=all``: a retried send is never written twice);
consumers long-poll (the broker answers a fetch as soon as data arrives, so the wait costs no
latency, only idle work). Across process crashes delivery stays at-least-once, and consumers
deduplicate by event id where it matters.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from config.settings import Settings
from schemas.errors import AssistantError


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we create it: explicit partition count, retention and record size."""

    name: str
    partitions: int
    retention_ms: int
    max_message_bytes: int = 1_048_588
    #: Retention deletes whole closed segments: a code topic rolls a segment this often, so its
    #: records leave the disk at most ``retention_ms + segment_ms`` (+ the broker's check
    #: interval) after they were written. ``None``: the broker's default (a week).
    segment_ms: int | None = None
    #: Compacted as well as deleted by age (``cleanup.policy=compact,delete``): a tombstone (a
    #: record with the same key and no value) removes the records before it from the disk within
    #: this many ms of the next record. ``None``: deleted by age only.
    compaction_lag_ms: int | None = None

    def configs(self, min_insync_replicas: int) -> dict[str, str]:
        configs = {"retention.ms": str(self.retention_ms),
                   "max.message.bytes": str(self.max_message_bytes),
                   "min.insync.replicas": str(min_insync_replicas)}
        if self.segment_ms is not None:
            configs["segment.ms"] = str(self.segment_ms)
            configs["segment.bytes"] = str(CODE_SEGMENT_BYTES)
        if self.compaction_lag_ms is not None:
            # The broker rolls the active segment once it is this old, and cleans a segment
            # that old whatever its share of dirty records.
            configs["cleanup.policy"] = COMPACT_AND_DELETE
            configs["max.compaction.lag.ms"] = str(self.compaction_lag_ms)
        return configs


#: The cleanup policy of a compacted topic that also expires records by age.
COMPACT_AND_DELETE = "compact,delete"


#: Segment size of code-bearing topics (a segment also rolls when it is this full).
CODE_SEGMENT_BYTES = 16 * 1024 * 1024


def code_segment_ms(retention_ms: int) -> int:
    """A fifth of the retention, at least 10 s: records outlive their retention by a fifth."""
    return max(10_000, retention_ms // 5)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Editor events and replies carry code, so they keep it for minutes only."""
    segment_ms = code_segment_ms(settings.code_retention_ms)
    return [
        TopicSpec(settings.topic_editor_events, settings.editor_events_partitions,
                  settings.code_retention_ms, settings.max_record_bytes, segment_ms),
        TopicSpec(settings.topic_replies, settings.editor_events_partitions,
                  settings.code_retention_ms, settings.max_record_bytes, segment_ms),
        TopicSpec(settings.topic_feedback, settings.feedback_partitions,
                  settings.feedback_retention_ms),
        TopicSpec(settings.topic_completions, settings.feedback_partitions,
                  settings.feedback_retention_ms),
        TopicSpec(settings.topic_usage, settings.feedback_partitions, settings.usage_retention_ms,
                  compaction_lag_ms=settings.usage_compaction_lag_ms),
        TopicSpec(settings.topic_quality, settings.feedback_partitions,
                  settings.feedback_retention_ms),
    ]


class TopicConfigError(AssistantError, RuntimeError):
    """An existing topic keeps data longer than its spec allows (code must not linger)."""


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; returns the names created.

    Existing topics are not changed, but one that keeps records longer than its spec's retention
    (for example a code topic auto-created with the broker's default of days) is refused with
    :class:`TopicConfigError`: a privacy guarantee must not depend on who created the topic.
    """
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap,
                                request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # Another process may create them between our list and create: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([
                    NewTopic(s.name, s.partitions, settings.replication,
                             topic_configs=s.configs(settings.min_insync_replicas))
                    for s in missing
                ])
        wrong = await _config_violations(admin, [s for s in specs if s not in missing])
        if wrong:
            raise TopicConfigError("; ".join(wrong))
        return [s.name for s in missing]
    finally:
        await admin.close()


async def _config_violations(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    """What is wrong with existing topics: a ``retention.ms`` (for code topics ``segment.ms``,
    for compacted ones ``max.compaction.lag.ms``) longer than the spec's keeps records on disk
    longer than promised; a topic the spec compacts that is not compacted never erases."""
    limits = {s.name: {"retention.ms": s.retention_ms, "segment.ms": s.segment_ms,
                       "max.compaction.lag.ms": s.compaction_lag_ms} for s in specs}
    compacted = {s.name for s in specs if s.compaction_lag_ms is not None}
    if not limits:
        return []
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in limits])
    found = []
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            for entry in entries:
                key, value = str(entry[0]), entry[1]
                if key == "cleanup.policy" and name in compacted and "compact" not in str(value):
                    found.append(
                        f"topic {name} has cleanup.policy={value}, and erasure needs "
                        f"{COMPACT_AND_DELETE} with records keyed by record id (records written "
                        "before are keyed by tenant/user, and compacting them would keep one "
                        "per user): export the billing you need, then delete the topic, or use "
                        "another TOPIC_USAGE")
                wanted = limits[name].get(key)
                if wanted is not None and value is not None:
                    kept = int(value)
                    if kept < 0 or kept > wanted:
                        found.append(f"topic {name} has {key}={kept}, more than the {wanted} "
                                     f"allowed: set it to at most {wanted} (kafka-configs "
                                     "--alter) or delete the topic")
    return found


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """Idempotent producer (every in-sync replica acknowledges), lingering
    ``kafka_linger_ms`` for more records to send together."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        linger_ms=settings.kafka_linger_ms,
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_record_bytes,
        request_timeout_ms=10_000,
    )


#: How long a consumer loop with nothing else to do waits in ``getmany`` (wake-ups are idle work;
#: data wakes it at once).
IDLE_WAIT_MS = 1000


def make_consumer(settings: Settings, *topics: str, group_id: str | None,
                  auto_offset_reset: str = "latest", batch: bool = False) -> AIOKafkaConsumer:
    """Long-polling consumer with manual commits when in a group; a ``batch`` one (whose
    records are not waited on by a user) lets the broker gather ``kafka_batch_fetch_bytes``
    before it answers."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        fetch_max_wait_ms=settings.kafka_fetch_wait_ms,
        fetch_min_bytes=settings.kafka_batch_fetch_bytes if batch else 1,
        max_partition_fetch_bytes=settings.max_record_bytes,
        # A dead member's partitions move after 6 s (the broker's minimum); a heartbeat every
        # 2 s (a third of that, as Kafka advises) is idle work for the broker, so no more often.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
    )


async def topic_partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` (that exist), from the cluster's metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described if not t["error_code"]
            for p in t["partitions"]]


async def read_all(settings: Settings, topics: list[str]) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` from the beginning to their ends at the time of the call (a
    reader outside any consumer group: billing exports, audits, tests)."""
    return await read_partitions(settings, await topic_partitions(settings, topics))


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as the Java client):
    for records keyed by something else that must still land with the others of ``key``."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


async def read_partitions(settings: Settings, partitions: list[TopicPartition]
                          ) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``partitions``, in order within each, from the beginning to their ends
    at the time of the call; tombstones (records without a value) included."""
    consumer = make_consumer(settings, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        if partitions:
            await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions) if partitions else {}
        records: list[ConsumerRecord[bytes, bytes]] = []
        while behind := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=10_000)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def wait_for_broker(settings: Settings, timeout_s: float) -> None:
    """Until the broker answers metadata requests, or raise ``TimeoutError``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as error:  # noqa: BLE001 - any failure means "not ready yet"
            last = error
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise TimeoutError(f"broker at {settings.bootstrap} did not answer: {last}")
