"""``python -m analytics.reconcile [--day YYYY-MM-DD]``: Redis quota counters vs ClickHouse.

Both sides count the same thing: completions admitted to inference for a user with a daily limit
(the Redis counter gives back refused attempts, so it ends equal to the admitted count). Redis is
what enforced the quota; ClickHouse is what billing and analysts see. A difference is drift:
for example events still in flight (run it after traffic settles), a request cancelled between
taking quota and reporting, or a counter lost with a Redis restart. Exit status 1 on drift;
``--repair`` sets each drifted counter of the day to ClickHouse's count (what billing sees),
keeping its expiry, and exits 0.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime

from analytics.query import QueryError, run_query
from config.settings import Settings
from quota.arithmetic import DAY_MS, quota_key
from streams.redis_client import REDIS_FAILURES, RedisUnavailable, SyncRedis, services_redis

User = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Drift:
    tenant_id: str
    user_id: str
    redis: int
    clickhouse: int


def compare(redis_counts: dict[User, int], clickhouse_counts: dict[User, int],
            limited: set[User]) -> list[Drift]:
    """Users whose counts differ, among those Redis counts or ClickHouse marks as limited."""
    users = set(redis_counts) | (set(clickhouse_counts) & limited)
    return [Drift(t, u, redis_counts.get((t, u), 0), clickhouse_counts.get((t, u), 0))
            for t, u in sorted(users)
            if redis_counts.get((t, u), 0) != clickhouse_counts.get((t, u), 0)]


def redis_counts(client: SyncRedis, day_number: int, tenant: str = "*") -> dict[User, int]:
    """The day's quota counters (a cluster's client scans every primary)."""
    counts: dict[User, int] = {}
    for key in client.scan_iter(match=f"quota:v1:{tenant}:*:{day_number}", count=1000):
        parts = key.decode().split(":")
        if len(parts) == 5:
            counts[(parts[2], parts[3])] = int(client.get(key) or 0)
    return counts


def clickhouse_counts(settings: Settings, day: date, tenant: str | None = None
                      ) -> tuple[dict[User, int], set[User]]:
    where = f"day = toDate('{day.isoformat()}')"
    if tenant is not None:
        where += f" AND tenant_id = '{tenant}'"
    sql = ("SELECT tenant_id, user_id, uniqExactIfMerge(admitted), groupUniqArray(plan) "  # noqa: S608
           f"FROM usage_daily WHERE {where} GROUP BY tenant_id, user_id")
    rows = run_query(settings, sql)["rows"]
    counts = {(t, u): int(n) for t, u, n, _ in rows}
    limited = {(t, u) for t, u, _, plans in rows if "free" in plans}
    return counts, limited


def repair(client: SyncRedis, day_number: int, drifts: list[Drift]) -> int:
    """Set each drifted counter of ``day_number`` to what ClickHouse recorded (the admitted
    completions billing sees), keeping its expiry; how many were set. A counter that is gone
    (or never was) is left alone: it is recreated at the user's next request."""
    repaired = 0
    for d in drifts:
        key = quota_key(d.tenant_id, d.user_id, str(day_number))
        if client.set(key, d.clickhouse, keepttl=True, xx=True):
            repaired += 1
    return repaired


def _tenant_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", value):
        raise argparse.ArgumentTypeError("a tenant id is 1-64 of A-Z a-z 0-9 _ . -")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.reconcile")
    parser.add_argument("--day", type=date.fromisoformat, default=datetime.now(UTC).date(),
                        help="UTC day (default: today)")
    parser.add_argument("--tenant", type=_tenant_id, help="only this tenant")
    parser.add_argument("--repair", action="store_true",
                        help="set drifted counters to ClickHouse's count (run after traffic settles)")
    args = parser.parse_args()
    settings = Settings.from_env()
    day_number = int(datetime(args.day.year, args.day.month, args.day.day, tzinfo=UTC)
                     .timestamp() * 1000) // DAY_MS
    try:
        client = services_redis(settings)
    except RedisUnavailable as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2
    try:
        return _reconcile(settings, client, args.day, day_number, args.tenant, args.repair)
    finally:
        client.close()


def _reconcile(settings: Settings, client: SyncRedis, day: date, day_number: int,
               tenant: str | None, repairing: bool) -> int:
    try:
        in_redis = redis_counts(client, day_number, tenant or "*")
        in_clickhouse, limited = clickhouse_counts(settings, day, tenant)
    except REDIS_FAILURES as error:
        print(f"reconcile: redis: {error}", file=sys.stderr)
        return 2
    except QueryError as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2
    drifts = compare(in_redis, in_clickhouse, limited)
    for d in drifts:
        print(f"{d.tenant_id}/{d.user_id}: redis {d.redis}, clickhouse {d.clickhouse} "
              f"(drift {d.redis - d.clickhouse:+d})")
    compared = len(set(in_redis) | (set(in_clickhouse) & limited))
    print(f"{day}: {compared} limited users compared, {len(drifts)} with drift; "
          f"redis total {sum(in_redis.values())}, clickhouse total "
          f"{sum(in_clickhouse.get(u, 0) for u in set(in_redis) | limited)}")
    if drifts and repairing:
        print(f"repaired {repair(client, day_number, drifts)} counter(s) to ClickHouse's count")
        return 0
    return 1 if drifts else 0


if __name__ == "__main__":
    raise SystemExit(main())
