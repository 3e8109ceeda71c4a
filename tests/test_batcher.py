"""The sink's batching: size or age closes a batch; tokens name exactly the offsets carried."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analytics.batcher import Batcher, plan_metadata, planned_end


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


def _cut_and_crash(chunks: list[int], crash_after: int) -> tuple[list[str], int, str]:
    """Run a batcher over offsets 0..99 of two partitions fetched in ``chunks``; return the
    tokens written before the crash, the committed offset of partition 0 and its metadata."""
    b = Batcher("fb", max_rows=7, max_ms=10_000)
    committed, metadata, written = 0, "", []
    offset = {0: 0, 1: 0}
    for n, size in enumerate(chunks):
        for partition in (0, 1):
            for _ in range(size):
                if offset[partition] < 100:
                    b.add(partition, offset[partition], (offset[partition],), n,
                          timestamp_ms=1_000 + offset[partition])
                    offset[partition] += 1
        for batch in b.due(n):
            if batch.partition != 0:
                continue
            metadata = plan_metadata(batch)  # the plan, committed before the insert
            written.append(batch.dedup_token)
            if len(written) == crash_after:
                return written, committed, metadata
            committed, metadata = batch.last_offset + 1, ""
    return written, committed, metadata


@given(st.lists(st.integers(1, 9), min_size=30, max_size=60),
       st.lists(st.integers(1, 9), min_size=30, max_size=60), st.integers(1, 6))
def test_a_replay_after_a_crash_cuts_the_same_batch(first: list[int], second: list[int],
                                                    crash_after: int) -> None:
    """Killed between an insert and its commit, the next run fetches in other chunk sizes: its
    first batch must carry the token of the batch already in the table (else rows double)."""
    written, committed, metadata = _cut_and_crash(first, crash_after)
    if len(written) < crash_after:
        return
    end = planned_end(metadata, committed)
    assert end is not None
    replay = Batcher("fb", max_rows=7, max_ms=10_000)
    replay.resume(0, end)
    tokens = []
    offsets = iter(range(committed, 100))
    for size in second:
        for offset in [o for _, o in zip(range(size), offsets, strict=False)]:
            replay.add(0, offset, (offset,), 0, timestamp_ms=1_000 + offset)
        tokens += [batch.dedup_token for batch in replay.due(0, force=True)]
        if tokens:
            break
    assert tokens[0] == written[-1]


def test_a_replayed_batch_is_not_cut_short_by_time_or_shutdown() -> None:
    b = Batcher("fb", max_rows=2, max_ms=10)
    b.resume(0, 5)
    for offset in range(3, 5):
        b.add(0, offset, ("r",), 0)
    assert b.next_deadline_ms() is None, "no timer while the replay waits for its end"
    assert b.due(1000, force=True) == []
    b.add(0, 5, ("r",), 1000)
    (batch,) = b.due(1000)
    assert (batch.first_offset, batch.last_offset) == (3, 5)


def test_plans_are_read_only_from_our_metadata() -> None:
    assert planned_end("batch-ends-at:41", 30) == 41
    assert planned_end("batch-ends-at:41", 42) is None, "a plan behind the commit is done"
    assert planned_end("", 0) is None
    assert planned_end("someone else's", 0) is None
    assert planned_end("batch-ends-at:x", 0) is None


def test_a_reassigned_partition_starts_clean_and_refetched_offsets_are_not_added_twice() -> None:
    b = Batcher("fb", max_rows=100, max_ms=10_000)
    for offset in range(5):
        b.add(0, offset, (offset,), 0)
    b.add(0, 3, (3,), 0)  # fetched again after a seek: already here
    b.resume(1, 9)
    b.forget(1)
    b.forget(0)  # revoked: nothing of it was written here
    assert b.buffered_rows == 0 and b.due(0, force=True) == []
    b.add(0, 2, (2,), 0)
    (batch,) = b.due(0, force=True)
    assert (batch.first_offset, batch.last_offset, batch.rows) == (2, 2, ((2,),))
    b.add(1, 0, (0,), 0)
    assert len(b.due(0, force=True)) == 1, "the forgotten plan no longer holds partition 1"


def test_duplicate_offsets_in_an_open_batch_are_dropped() -> None:
    b = Batcher("fb", max_rows=100, max_ms=10_000)
    for offset in (0, 1, 2, 1, 2, 3):
        b.add(0, offset, (offset,), 0)
    (batch,) = b.due(0, force=True)
    assert batch.rows == ((0,), (1,), (2,), (3,))
