"""Usage windows: every event counted once, whatever is replayed, and nothing committed early."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.usage_windows import KINDS, UsageWindows

W, GRACE = 1000, 100
P = ("feedback-events", 0)


def test_a_window_closes_after_its_end_plus_grace() -> None:
    windows = UsageWindows(W, GRACE)
    windows.add(P, 0, "e1", "t", "u", "free", "admitted", 10)
    windows.add(P, 1, "e1", "t", "u", "free", "completion", 10)
    windows.add(P, 2, "f1", "t", "u", "free", "accepted", 990)
    assert windows.close(windows.watermark(now_ms=0, caught_up=False)) == []
    windows.add(P, 3, "e2", "t", "u", "free", "admitted", 1099)  # next window; watermark 999
    assert windows.close(windows.watermark(0, False)) == []
    windows.add(P, 4, "e3", "t", "u", "free", "admitted", 1100)  # watermark 1000
    (record,) = windows.close(windows.watermark(0, False))
    assert (record.window_start_ms, record.window_end_ms, record.seq) == (0, 1000, 0)
    assert (record.completions, record.requests, record.accepted) == (1, 1, 1)


def test_caught_up_input_closes_by_the_clock() -> None:
    windows = UsageWindows(W, GRACE)
    windows.add(P, 0, "e1", "t", "u", "free", "admitted", 10)
    assert windows.close(windows.watermark(now_ms=1099, caught_up=True)) == []
    assert len(windows.close(windows.watermark(now_ms=1100, caught_up=True))) == 1


def test_offsets_are_held_at_the_first_event_of_an_open_window() -> None:
    windows = UsageWindows(W, GRACE)
    windows.add(P, 5, "e1", "t", "u", "free", "admitted", 10)
    windows.add(P, 6, "e2", "t", "v", "free", "admitted", 1200)
    windows.skipped(P, 7)
    assert windows.committable() == {P: 5}
    windows.close(1100)  # the first window is emitted; the second is still open
    assert windows.committable() == {P: 6}
    windows.close(2100)
    assert windows.committable() == {P: 8}


def test_a_late_event_becomes_a_correction_record() -> None:
    windows = UsageWindows(W, GRACE)
    windows.add(P, 0, "e1", "t", "u", "free", "admitted", 10)
    (first,) = windows.close(1200)
    windows.add(P, 1, "e9", "t", "u", "free", "admitted", 500)  # after its window closed
    (late,) = windows.close(1200)
    assert (late.window_start_ms, late.seq, late.completions) == (0, 1, 1)
    assert late.record_id != first.record_id


events = st.lists(st.tuples(st.integers(0, 30), st.sampled_from(KINDS),
                            st.sampled_from(["u1", "u2"]), st.integers(0, 5_000)),
                  min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(events, st.integers(0, 59), st.data())
def test_replay_after_a_crash_counts_each_event_once(
    stream: list[tuple[int, str, str, int]], crash_at: int, data: st.DataObject
) -> None:
    """Crash anywhere, restart from the committed offset with empty state, replay: the records
    (kept once per id) count exactly the distinct events of each window."""
    # A stream in time order, as one partition of a topic holds it; ids may repeat (retries).
    stream = sorted(stream, key=lambda e: e[3])

    def run(windows: UsageWindows, start: int, stop: int, emitted: dict[str, object],
            commits: list[int]) -> None:
        for offset in range(start, stop):
            n, kind, user, at = stream[offset]
            windows.add(P, offset, f"e{n}", "t", user, "free", kind, at)  # type: ignore[arg-type]
            for record in windows.close(windows.watermark(0, caught_up=False)):
                emitted[record.record_id] = record
            commits.append(windows.committable().get(P, 0))  # what the adapter commits

    emitted: dict[str, object] = {}
    first = UsageWindows(W, GRACE)
    crash = min(crash_at, len(stream))
    commits = [0]
    run(first, 0, crash, emitted, commits)
    # The consumer hands some records over again (fetched before a rebalance, then after it).
    for offset in data.draw(st.lists(st.integers(0, max(0, crash - 1)), max_size=6)) if crash else []:
        run(first, offset, offset + 1, emitted, commits)
    # The crash may have lost any number of the latest commits: restart from an earlier one.
    committed = data.draw(st.sampled_from(commits))
    second = UsageWindows(W, GRACE)
    run(second, committed, len(stream), emitted, [])
    for record in second.close(10**9):
        emitted[record.record_id] = record
    for record in first.close(10**9) if crash == len(stream) else []:
        emitted[record.record_id] = record

    expected: dict[tuple[str, int, str], set[str]] = {}
    for n, kind, user, at in stream:
        expected.setdefault((user, at - at % W, kind), set()).add(f"e{n}")
    got: dict[tuple[str, int, str], int] = {}
    field = {"admitted": "completions", "completion": "requests", "shown": "shown",
             "accepted": "accepted", "rejected": "rejected"}
    for record in emitted.values():
        for kind, name in field.items():
            count = getattr(record, name)
            if count:
                key = (record.user_id, record.window_start_ms, kind)  # type: ignore[attr-defined]
                got[key] = got.get(key, 0) + count
    assert got == {k: len(v) for k, v in expected.items()}


def test_a_second_copy_after_the_window_closed_is_not_a_correction() -> None:
    """A consumer may hand a record over twice (before and after a rebalance's seek)."""
    windows = UsageWindows(W, GRACE)
    windows.add(P, 0, "e1", "t", "u", "free", "admitted", 10)
    (first,) = windows.close(1200)
    windows.add(P, 0, "e1", "t", "u", "free", "admitted", 10)  # the same record again
    assert windows.close(1200) == []
    assert first.completions == 1
    assert windows.committable() == {P: 1}
