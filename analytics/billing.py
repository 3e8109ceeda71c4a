"""``python -m analytics.billing --tenant T --month YYYY-MM [--format csv|json]``: a tenant's
usage for one month, per user, read from the usage stream as a billing job would.

Reads every record of ``usage-records`` (a record may be there twice after a crash: one per
``record_id`` is kept; one an erasure removed is followed by a tombstone and not counted),
keeps the tenant's windows that start in the month (UTC; windows never straddle a month), and
sums them per user and plan. The totals equal what ClickHouse holds for
the same tenant and month (``uniqExact`` of admitted completions and of each feedback kind),
which the test suite checks.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from analytics.query import run_query
from analytics.scope import literal
from config.settings import Settings
from schemas.errors import ProtocolError
from schemas.topics import UsageRecord, read_record
from streams.kafka import read_all

FIELDS = ("completions", "requests", "shown", "accepted", "rejected")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            moment = datetime.strptime(text, "%Y-%m")
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM") from None
        return cls(moment.year, moment.month)

    def bounds_ms(self) -> tuple[int, int]:
        start = datetime(self.year, self.month, 1, tzinfo=UTC)
        after = (datetime(self.year + 1, 1, 1, tzinfo=UTC) if self.month == 12
                 else datetime(self.year, self.month + 1, 1, tzinfo=UTC))
        return int(start.timestamp() * 1000), int(after.timestamp() * 1000)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def summarize(records: list[UsageRecord], tenant_id: str, month: Month
              ) -> list[dict[str, object]]:
    """Per user and plan, the month's sums (pure; records may repeat)."""
    start, end = month.bounds_ms()
    unique = {r.record_id: r for r in records}
    sums: dict[tuple[str, str], dict[str, int]] = {}
    for record in unique.values():
        if record.tenant_id != tenant_id or not start <= record.window_start_ms < end:
            continue
        row = sums.setdefault((record.user_id, record.plan), dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            row[name] += getattr(record, name)
    return [{"tenant_id": tenant_id, "month": str(month), "user_id": user, "plan": plan, **row}
            for (user, plan), row in sorted(sums.items())]


def totals(rows: list[dict[str, object]]) -> dict[str, int]:
    return {name: sum(int(str(row[name])) for row in rows) for name in FIELDS}


def render(rows: list[dict[str, object]], tenant_id: str, month: Month, form: str) -> str:
    if form == "json":
        return orjson.dumps({"tenant_id": tenant_id, "month": str(month), "users": rows,
                             "totals": totals(rows)}, option=orjson.OPT_INDENT_2).decode()
    out = io.StringIO()
    writer = csv.DictWriter(out, ["tenant_id", "month", "user_id", "plan", *FIELDS])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def clickhouse_totals(settings: Settings, tenant: str, month: str) -> dict[str, int]:
    """The same totals counted from ClickHouse's event tables (what the export must equal)."""
    where = (f"tenant_id = {literal(tenant)} AND toStartOfMonth(received_at) = "
             f"toDate({literal(month + '-01')})")
    # Values are quoted by literal(): the only text from outside is the tenant and month.
    done_sql = ("SELECT uniqExactIf(event_id, admitted), uniqExact(event_id) "  # noqa: S608
                f"FROM completion_events WHERE {where}")
    said_sql = ("SELECT uniqExactIf(event_id, kind = 'shown'), "  # noqa: S608
                "uniqExactIf(event_id, kind IN ('accepted', 'partial')), "
                "uniqExactIf(event_id, kind IN ('rejected', 'dismissed')) "
                f"FROM feedback_events WHERE {where}")
    done: list[Any] = run_query(settings, done_sql)["rows"][0]
    said: list[Any] = run_query(settings, said_sql)["rows"][0]
    return {"completions": int(done[0]), "requests": int(done[1]), "shown": int(said[0]),
            "accepted": int(said[1]), "rejected": int(said[2])}


def live_records(messages: Iterable[tuple[bytes | None, bytes | None]],
                 bad: list[ProtocolError] | None = None) -> list[UsageRecord]:
    """The usage records no tombstone removed, one per ``record_id`` (pure). ``messages`` are
    (key, value) pairs in their partition's order; a tombstone (no value) under a record's key,
    the ``record_id``, is what an erasure writes. Records that do not read go to ``bad``."""
    live: dict[str, UsageRecord] = {}
    for key, value in messages:
        if value is None:
            if key is not None:
                live.pop(key.decode(errors="replace"), None)
            continue
        try:
            record = read_record(UsageRecord, value)
        except ProtocolError as error:
            if bad is not None:
                bad.append(error)
            continue
        live[record.record_id] = record
    return list(live.values())


async def read_usage(settings: Settings) -> list[UsageRecord]:
    """Every live record of the usage topic, from the beginning to its current end."""
    messages = await read_all(settings, [settings.topic_usage])
    bad: list[ProtocolError] = []
    records = live_records(((message.key, message.value) for message in messages), bad)
    for error in bad:
        print(f"skipping bad usage record: {error.code} ({error.field})", file=sys.stderr)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.billing")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--month", type=Month.parse, required=True, help="YYYY-MM (UTC)")
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    args = parser.parse_args(argv)
    records = asyncio.run(read_usage(Settings.from_env()))
    rows = summarize(records, args.tenant, args.month)
    sys.stdout.write(render(rows, args.tenant, args.month, args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
