"""The billing export's arithmetic: one record per id, the tenant's windows of the month."""

from __future__ import annotations

import csv
import io

import orjson

from analytics.billing import Month, render, summarize, totals
from schemas.topics import UsageRecord

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
