"""The sink's batching: size or age closes a batch; tokens name exactly the offsets carried."""

from __future__ import annotations

from analytics.batcher import Batcher


class TestBatcher:
    """Batches are per partition, deterministic, and due by size or by age."""

    def test_due_by_age(self) -> None:
        b = Batcher("fb", max_rows=100, max_ms=1000)
        b.add(0, 10, ("a",), now_ms=0, timestamp_ms=1_700_000_000_000)
        b.add(0, 11, ("b",), now_ms=500, timestamp_ms=1_700_000_000_007)
        assert b.due(999) == []
        (batch,) = b.due(1000)
        assert (batch.first_offset, batch.last_offset, batch.rows) == (10, 11, (("a",), ("b",)))
        assert batch.dedup_token == "fb:0:10-11:1700000000000-1700000000007"
        assert b.due(5000) == []

    def test_due_by_size_flushes_all_partitions(self) -> None:
        b = Batcher("fb", max_rows=3, max_ms=10_000)
        b.add(1, 0, ("x",), 0)
        b.add(0, 0, ("y",), 0)
        assert b.due(1) == []
        b.add(0, 1, ("z",), 1)
        batches = b.due(1)
        assert [bt.partition for bt in batches] == [0, 1]
        assert b.buffered_rows == 0

    def test_skipped_records_advance_offsets(self) -> None:
        b = Batcher("fb", max_rows=10, max_ms=10)
        b.add(0, 5, None, 0)
        b.add(0, 6, ("ok",), 0)
        (batch,) = b.due(10)
        assert (batch.first_offset, batch.last_offset, len(batch.rows)) == (5, 6, 1)

    def test_next_deadline(self) -> None:
        b = Batcher("fb", max_rows=10, max_ms=250)
        assert b.next_deadline_ms() is None
        b.add(0, 0, ("a",), 100)
        assert b.next_deadline_ms() == 350

    def test_force(self) -> None:
        b = Batcher("fb", max_rows=10, max_ms=10_000)
        b.add(0, 0, ("a",), 0)
        assert len(b.due(0, force=True)) == 1


def test_a_recreated_topic_does_not_reuse_tokens() -> None:
    """Offsets restart at 0 when a topic is created again (or an in-memory broker restarts):
    the same offsets with other records must not look like a replay to ClickHouse."""
    before, after = Batcher("fb", 10, 0), Batcher("fb", 10, 0)
    before.add(0, 0, ("old",), 0, timestamp_ms=1_700_000_000_000)
    after.add(0, 0, ("new",), 0, timestamp_ms=1_700_000_900_000)
    (old,), (new,) = before.due(0), after.due(0)
    assert old.dedup_token != new.dedup_token
    replay = Batcher("fb", 10, 0)
    replay.add(0, 0, ("old",), 0, timestamp_ms=1_700_000_000_000)
    assert replay.due(0)[0].dedup_token == old.dedup_token, "a true replay is still deduplicated"
