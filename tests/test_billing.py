"""The billing export's arithmetic: one record per id, none an erasure's tombstone removed, the
tenant's windows of the month."""

from __future__ import annotations

import csv
import io

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.billing import Month, live_records, render, summarize, totals
from schemas.topics import UsageRecord, write_record

NOV = Month(2026, 11)
START, END = NOV.bounds_ms()
HOUR = 3_600_000


def record(record_id: str, user: str, start: int, completions: int, tenant: str = "acme",
           seq: int = 0) -> UsageRecord:
    return UsageRecord(record_id.ljust(32, "0"), tenant, user, "free", start, start + HOUR, seq,
                       completions, completions, 1, 1, 0)


def test_duplicates_other_tenants_and_other_months_are_left_out() -> None:
    records = [
        record("a", "u1", START, 3),
        record("a", "u1", START, 3),  # emitted twice after a crash
        record("b", "u1", START, 1, seq=1),  # a late correction of the same window
        record("c", "u2", END - HOUR, 5),
        record("d", "u2", END, 7),  # December
        record("e", "u1", START - HOUR, 11),  # October
        record("f", "u1", START, 13, tenant="other"),
    ]
    rows = summarize(records, "acme", NOV)
    assert [(r["user_id"], r["completions"]) for r in rows] == [("u1", 4), ("u2", 5)]
    assert totals(rows)["completions"] == 9


def test_csv_and_json_carry_the_same_numbers() -> None:
    rows = summarize([record("a", "u1", START, 3), record("c", "u2", START, 5)], "acme", NOV)
    as_json = orjson.loads(render(rows, "acme", NOV, "json"))
    assert as_json["totals"]["completions"] == 8 and as_json["month"] == "2026-11"
    as_csv = list(csv.DictReader(io.StringIO(render(rows, "acme", NOV, "csv"))))
    assert [int(r["completions"]) for r in as_csv] == [3, 5]


def test_december_rolls_into_the_next_year() -> None:
    start, end = Month(2026, 12).bounds_ms()
    assert (end - start) == 31 * 24 * HOUR


def test_a_tombstone_removes_the_record_under_its_key() -> None:
    a, b = record("a", "u1", START, 3), record("b", "u2", START, 5)
    messages = [(a.record_id.encode(), write_record(a)), (b.record_id.encode(), write_record(b)),
                (a.record_id.encode(), write_record(a)),  # a duplicate after a crash
                (a.record_id.encode(), None),  # the erasure's tombstone
                (b"no such record", None), (None, None)]
    assert live_records(messages) == [b]
    # A record written again after its tombstone counts again (an erasure run again removes it).
    assert live_records([*messages, (a.record_id.encode(), write_record(a))]) == [b, a]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=30))
def test_the_live_records_are_those_written_after_their_last_tombstone(
        steps: list[tuple[str, bool]]) -> None:
    messages = [(record(i, "u", START, 1).record_id.encode(),
                 None if tombstone else write_record(record(i, "u", START, 1)))
                for i, tombstone in steps]
    last: dict[str, bool] = dict(steps)
    assert sorted(r.record_id[0] for r in live_records(messages)) == sorted(
        i for i, tombstone in last.items() if not tombstone)
