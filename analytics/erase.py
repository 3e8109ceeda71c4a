"""``python -m analytics.erase --tenant T --user U``: erase one user's analytics rows (GDPR).

Deletes the user's rows from every analytics table (``analytics.schema.USER_TABLES``) and their
quota counters in Redis. In the embedded setup the chDB directory belongs to the analytics
process, so the deletion goes through its loopback endpoint; against a ClickHouse server it runs
directly. Events of the user still in the feedback topics (retention ``FEEDBACK_RETENTION_MS``)
would be written again if the sink re-read them: erase after they expire, or again then.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request

import clickhouse_connect
import orjson
import redis

from analytics.schema import USER_TABLES, erase_user
from config.settings import Settings


def erase(settings: Settings, tenant_id: str, user_id: str) -> None:
    if settings.clickhouse_url:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
        try:
            erase_user(client, tenant_id, user_id)
        finally:
            client.close()
    else:
        query = urllib.parse.urlencode({"tenant_id": tenant_id, "user_id": user_id})
        request = urllib.request.Request(
            f"http://127.0.0.1:{settings.analytics_port}/erase?{query}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120):  # noqa: S310 - loopback
                pass
        except urllib.error.HTTPError as error:
            raise RuntimeError(orjson.loads(error.read()).get("error", str(error))) from None
    counters = redis.Redis.from_url(settings.redis_url)
    try:
        for key in counters.scan_iter(match=f"quota:v1:{tenant_id}:{user_id}:*"):
            counters.delete(key)
    finally:
        counters.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.erase")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", required=True)
    args = parser.parse_args()
    try:
        erase(Settings.from_env(), args.tenant, args.user)
    except (OSError, RuntimeError, redis.RedisError) as error:
        print(f"erase failed: {error}", file=sys.stderr)
        return 1
    print(f"erased {args.user}@{args.tenant} from {', '.join(USER_TABLES)} and Redis")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
