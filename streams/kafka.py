"""Kafka plumbing over aiokafka: topic specs, topic creation, producer and consumer factories.

Only the Kafka protocol is used, so the embedded Tansu broker and a production cluster are
interchangeable. Delivery is at-least-once (the embedded broker has no idempotent producer);
consumers deduplicate by event id where it matters.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from infra.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we create it: explicit partition count, retention and record size."""

    name: str
    partitions: int
    retention_ms: int
    max_message_bytes: int = 1_048_588


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Editor events and replies carry code, so they keep it for minutes only."""
    return [
        TopicSpec(settings.topic_editor_events, settings.editor_events_partitions,
                  settings.code_retention_ms, settings.max_record_bytes),
        TopicSpec(settings.topic_replies, settings.editor_events_partitions,
                  settings.code_retention_ms, settings.max_record_bytes),
        TopicSpec(settings.topic_feedback, settings.feedback_partitions,
                  settings.feedback_retention_ms),
        TopicSpec(settings.topic_completions, settings.feedback_partitions,
                  settings.feedback_retention_ms),
        TopicSpec(settings.topic_usage, settings.feedback_partitions, settings.usage_retention_ms),
        TopicSpec(settings.topic_quality, settings.feedback_partitions,
                  settings.feedback_retention_ms),
    ]


class TopicConfigError(RuntimeError):
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
                    NewTopic(s.name, s.partitions, 1,
                             topic_configs={"retention.ms": str(s.retention_ms),
                                            "max.message.bytes": str(s.max_message_bytes)})
                    for s in missing
                ])
        too_long = await _retention_violations(admin, [s for s in specs if s not in missing])
        if too_long:
            raise TopicConfigError("; ".join(
                f"topic {name} keeps records for {kept} ms, more than the {wanted} ms allowed: "
                f"set its retention.ms to at most {wanted} (kafka-configs --alter) or delete it"
                for name, kept, wanted in too_long))
        return [s.name for s in missing]
    finally:
        await admin.close()


async def _retention_violations(admin: AIOKafkaAdminClient, specs: list[TopicSpec]
                                ) -> list[tuple[str, int, int]]:
    if not specs:
        return []
    wanted = {s.name: s.retention_ms for s in specs}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted])
    found = []
    for response in responses:
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            for entry in entries:
                if entry[0] == "retention.ms" and entry[1] is not None:
                    kept = int(entry[1])
                    if kept < 0 or kept > wanted[name]:
                        found.append((name, kept, wanted[name]))
    return found


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """Low-latency producer: no linger, leader ack (the embedded broker has one replica)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        linger_ms=0,
        acks=1,
        enable_idempotence=False,
        max_request_size=settings.max_record_bytes,
        request_timeout_ms=10_000,
    )


def make_consumer(settings: Settings, *topics: str, group_id: str | None,
                  auto_offset_reset: str = "latest") -> AIOKafkaConsumer:
    """Consumer tuned for latency: short fetch wait, manual commits when in a group."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        fetch_max_wait_ms=5,
        max_partition_fetch_bytes=settings.max_record_bytes,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )


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
