"""Pure batching for the ClickHouse sink: rows in with their Kafka position, batches out.

A batch closes when the rows buffered reach ``max_rows`` or the oldest has waited ``max_ms``.
Each batch holds one partition's consecutive offsets, so its deduplication token (topic,
partition, first and last offset, and the Kafka timestamps of those two records) names exactly
the records it carries; offsets are committed only after the batch is durable.

The timestamps are there because offsets alone do not name records forever: a topic deleted
and created again (or an embedded in-memory broker restarted) starts again at offset 0, and a
token made of offsets only would make ClickHouse drop the new records as duplicates of old ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Batch:
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    rows: tuple[tuple[Any, ...], ...]
    first_timestamp_ms: int = 0
    last_timestamp_ms: int = 0

    @property
    def dedup_token(self) -> str:
        return (f"{self.topic}:{self.partition}:{self.first_offset}-{self.last_offset}:"
                f"{self.first_timestamp_ms}-{self.last_timestamp_ms}")


@dataclass
class _Open:
    first_offset: int
    last_offset: int
    since_ms: int
    first_timestamp_ms: int
    last_timestamp_ms: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)


class Batcher:
    """Buffers rows per partition; ``due`` hands out the batches that must be written now."""

    def __init__(self, topic: str, max_rows: int, max_ms: int) -> None:
        self.topic = topic
        self.max_rows = max_rows
        self.max_ms = max_ms
        self._open: dict[int, _Open] = {}

    def add(self, partition: int, offset: int, row: tuple[Any, ...] | None, now_ms: int,
            timestamp_ms: int = 0) -> None:
        """Buffer ``row`` (``None``: a skipped record whose offset still advances);
        ``timestamp_ms`` is the record's Kafka timestamp."""
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = _Open(offset, offset, now_ms, timestamp_ms,
                                                  timestamp_ms)
        batch.last_offset = offset
        batch.last_timestamp_ms = timestamp_ms
        if row is not None:
            batch.rows.append(row)

    @property
    def buffered_rows(self) -> int:
        return sum(len(b.rows) for b in self._open.values())

    def next_deadline_ms(self) -> int | None:
        if not self._open:
            return None
        return min(b.since_ms for b in self._open.values()) + self.max_ms

    def due(self, now_ms: int, force: bool = False) -> list[Batch]:
        full = self.buffered_rows >= self.max_rows
        out: list[Batch] = []
        for partition in sorted(self._open):
            batch = self._open[partition]
            if force or full or now_ms - batch.since_ms >= self.max_ms:
                out.append(Batch(self.topic, partition, batch.first_offset, batch.last_offset,
                                 tuple(batch.rows), batch.first_timestamp_ms,
                                 batch.last_timestamp_ms))
                del self._open[partition]
        return out
