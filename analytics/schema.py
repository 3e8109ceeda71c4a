"""ClickHouse tables of the analytics store. Metadata only: ids, kinds, lengths, timings, never code.

``feedback_events`` is a ReplacingMergeTree keyed by ``event_id`` (inside tenant and day), so a
batch replayed after a crash collapses onto the rows already there; inserts also carry an
``insert_deduplication_token`` so an identical retried batch is dropped at once.
"""

from __future__ import annotations

from typing import Protocol

FEEDBACK_TABLE = "feedback_events"

FEEDBACK_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "request_id", "kind",
    "language_id", "accepted_chars", "latency_ms", "received_at",
)

DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {FEEDBACK_TABLE} (
        event_id String,
        session_id String,
        tenant_id LowCardinality(String),
        user_id String,
        plan LowCardinality(String),
        request_id String,
        kind LowCardinality(String),
        language_id LowCardinality(String),
        accepted_chars Nullable(UInt32),
        latency_ms Nullable(UInt32),
        received_at DateTime64(3, 'UTC'),
        inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
    )
    ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(received_at)
    ORDER BY (tenant_id, toDate(received_at), user_id, event_id)
    TTL toDateTime(received_at) + INTERVAL 400 DAY
    SETTINGS non_replicated_deduplication_window = 10000
    """,
)


class CommandClient(Protocol):
    def command(self, cmd: str) -> object: ...


def create_tables(client: CommandClient) -> None:
    for statement in DDL:
        client.command(statement)
