"""Pure batching for the ClickHouse sink: rows in with their Kafka position, batches out.

A batch closes when the rows buffered reach ``max_rows`` or the oldest has waited ``max_ms``.
Each batch holds one partition's consecutive offsets, so its deduplication token (topic,
partition, first and last offset, and the Kafka timestamps of those two records) names exactly
the records it carries; offsets are committed only after the batch is durable.

A crash between a batch's insert and its offset commit replays its records, and the replay must
cut the same batch or its token differs and ClickHouse stores the rows twice (batches close on
row counts summed over partitions and on time, so a replay would cut them elsewhere). The sink
therefore records each batch's last offset in the commit metadata before inserting it
(:func:`plan_metadata`); on restart :meth:`Batcher.resume` makes the first batch of that
partition end exactly there, whatever the buffer or the clock say.

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
    #: The offset this batch must end at (a replayed batch); ``None``: close on size or time.
    ends_at: int | None = None


PLAN_PREFIX = "batch-ends-at:"


def plan_metadata(batch: Batch) -> str:
    """Commit metadata that names where ``batch`` ends, written before it is inserted."""
    return f"{PLAN_PREFIX}{batch.last_offset}"


def planned_end(metadata: str | None, committed: int) -> int | None:
    """The end of the batch that was being inserted when the sink stopped, if one was (a plan
    at or past the committed offset; anything else in the metadata is not ours)."""
    if not metadata or not metadata.startswith(PLAN_PREFIX):
        return None
    try:
        end = int(metadata[len(PLAN_PREFIX):])
    except ValueError:
        return None
    return end if end >= committed >= 0 else None


class Batcher:
    """Buffers rows per partition; ``due`` hands out the batches that must be written now."""

    def __init__(self, topic: str, max_rows: int, max_ms: int) -> None:
        self.topic = topic
        self.max_rows = max_rows
        self.max_ms = max_ms
        self._open: dict[int, _Open] = {}
        self._resume: dict[int, int] = {}
        self._closed: list[Batch] = []

    def resume(self, partition: int, ends_at: int) -> None:
        """The next batch of ``partition`` ends at offset ``ends_at``: it replays one that may
        already be in the table, and only the same cut gives the same token."""
        self._resume[partition] = ends_at

    def add(self, partition: int, offset: int, row: tuple[Any, ...] | None, now_ms: int,
            timestamp_ms: int = 0) -> None:
        """Buffer ``row`` (``None``: a skipped record whose offset still advances);
        ``timestamp_ms`` is the record's Kafka timestamp."""
        batch = self._open.get(partition)
        if batch is not None and offset <= batch.last_offset:
            return  # fetched again (the partition was reassigned): already in this batch
        if batch is not None and batch.ends_at is not None and offset > batch.ends_at:
            batch.ends_at = None  # the planned end is gone (retention): close it as it is
            self._closed.append(self._cut(partition))
            batch = None
        if batch is None:
            batch = self._open[partition] = _Open(offset, offset, now_ms, timestamp_ms,
                                                  timestamp_ms,
                                                  ends_at=self._resume.pop(partition, None))
        batch.last_offset = offset
        batch.last_timestamp_ms = timestamp_ms
        if row is not None:
            batch.rows.append(row)

    def forget(self, partition: int) -> None:
        """The partition moved to another consumer: its unwritten rows are that consumer's to
        read again (nothing of them was inserted or committed here)."""
        self._open.pop(partition, None)
        self._resume.pop(partition, None)

    @property
    def buffered_rows(self) -> int:
        return sum(len(b.rows) for b in self._open.values())

    def next_deadline_ms(self) -> int | None:
        """When ``due`` next has a batch by time (a replayed batch waits for its end instead)."""
        if self._closed:
            return 0
        timed = [b.since_ms for b in self._open.values() if b.ends_at is None]
        return min(timed) + self.max_ms if timed else None

    def due(self, now_ms: int, force: bool = False) -> list[Batch]:
        """The batches to write now. A replayed batch closes only at its planned end, even when
        forced: one cut short would carry another token, so on shutdown it stays unwritten and
        uncommitted, to be replayed whole by the next run."""
        full = self.buffered_rows >= self.max_rows
        out, self._closed = self._closed, []
        for partition in sorted(self._open):
            batch = self._open[partition]
            if batch.ends_at is not None:
                if batch.last_offset >= batch.ends_at:
                    out.append(self._cut(partition))
            elif force or full or now_ms - batch.since_ms >= self.max_ms:
                out.append(self._cut(partition))
        return out

    def _cut(self, partition: int) -> Batch:
        batch = self._open.pop(partition)
        return Batch(self.topic, partition, batch.first_offset, batch.last_offset,
                     tuple(batch.rows), batch.first_timestamp_ms, batch.last_timestamp_ms)
