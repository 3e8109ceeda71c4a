"""``python -m analytics.erase --tenant T --user U``: erase one user (GDPR), or ``--list`` them.

One command, in steps that each can be run again: it finishes, or says which step stopped and
what the ones before it did; running the same command again finishes the rest.

1. **Check** the subject against the tenants file: exact identifiers, a known tenant, a user
   that holds or held a key there (``analytics.erasure``); otherwise exit 2, nothing touched.
2. **Revoke** the user's API keys in the tenants file (edges close its sessions within
   ``AUTH_RELOAD_MS``), so no new row of the user arrives while the rest is removed.
3. **Redis**: the user's quota counters, by exact key.
4. **ClickHouse**: the user's rows in every table, named by a salted hash (the id never reaches
   a statement, the query log or a mutation file), removed from disk: the embedded engine's
   tables are rewritten without them, a server's by a mutation whose replaced parts are waited
   for until none is left; then one row in ``erasures`` (who asked, when, counts; whom only as
   an HMAC under ``ERASURE_SECRET_FILE``).

Not erased here, by design (docs/ANALYTICS.md): the user's records still in the short-lived
topics (``FEEDBACK_RETENTION_MS``, sealed per session) and the ``usage-records`` topic that billing
reads (its retention is the billing period's).
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict

import clickhouse_connect
import orjson
import redis

from analytics.erasure import (
    IDENTIFIER,
    EraseError,
    Erasure,
    audit_subject,
    check_subject,
    quota_keys,
    subject_hash,
)
from analytics.query import QueryError, run_query
from analytics.schema import ERASURES_TABLE, erase_and_record, replaced_parts_sql
from config.settings import Settings
from schemas.errors import AssistantError
from streams.redis_client import RedisUnavailable, services_redis_url
from tenants.directory import DirectoryError, load_directory, save_directory

#: How long a run waits for the engine to drop the parts a delete replaced (its cleanup runs
#: every 30 s or so, and drops a part a second after it was replaced).
PARTS_WAIT_S = 150.0


class StepFailed(AssistantError):
    """A step could not finish; the message says what to do."""


def revoke_keys(settings: Settings, tenant_id: str, user_id: str) -> int:
    """Revoke every live key of the user; how many were live."""
    directory = load_directory(settings.tenants_path)
    live = [k for k in check_subject(directory, tenant_id, user_id) if not k.revoked]
    for key in live:
        directory = directory.revoked(key.key_id)
    if live:
        save_directory(settings.tenants_path, directory)
    return len(live)


def remove_counters(settings: Settings, tenant_id: str, user_id: str) -> int:
    try:
        client = redis.Redis.from_url(services_redis_url(settings))
    except RedisUnavailable as error:
        raise StepFailed(str(error)) from None
    try:
        return int(client.delete(*quota_keys(tenant_id, user_id, time.time_ns() // 1_000_000)))
    except (redis.RedisError, OSError) as error:
        raise StepFailed(f"Redis: {error}") from None
    finally:
        client.close()


def erasure_secret(settings: Settings) -> bytes:
    """The operator's secret for audit subjects (made on first use, readable by its owner)."""
    path = settings.erasure_secret_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def remove_rows(settings: Settings, erasure: Erasure, salt: str, subject: str
                ) -> dict[str, int]:
    """Rows removed per table, through the analytics process (it owns the embedded chDB
    directory) or straight to a ClickHouse server."""
    if settings.clickhouse_url:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
        try:
            return erase_and_record(client, erasure, salt, subject).rows_removed
        finally:
            client.close()
    body = orjson.dumps({"erasure": asdict(erasure), "salt": salt, "subject": subject})
    request = urllib.request.Request(f"http://127.0.0.1:{settings.analytics_port}/erase",
                                     data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
            rows: dict[str, int] = orjson.loads(response.read())["rows_removed"]
            return rows
    except urllib.error.HTTPError as error:
        raise StepFailed(orjson.loads(error.read()).get("error", str(error))) from None
    except urllib.error.URLError as error:
        raise StepFailed(f"the analytics process is not answering on 127.0.0.1:"
                         f"{settings.analytics_port} ({error.reason}); start the stack") from None


def wait_for_parts(settings: Settings, tables: list[str], wait_s: float) -> int:
    """Wait (up to ``wait_s``) until the parts the delete replaced are gone from disk; how many
    are left."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            left = int(run_query(settings, replaced_parts_sql(tables))["rows"][0][0])
        except QueryError as error:
            raise StepFailed(str(error)) from None
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(2.0)


def erase(settings: Settings, tenant_id: str, user_id: str, requested_by: str,
          reason: str) -> int:
    """Run the steps, printing each; the exit status."""
    try:
        check_subject(load_directory(settings.tenants_path), tenant_id, user_id)
    except (EraseError, DirectoryError, OSError) as error:
        print(f"erase refused: {error}", file=sys.stderr)
        return 2
    done: list[str] = []
    step = "revoking the user's API keys"
    try:
        revoked = revoke_keys(settings, tenant_id, user_id)
        done.append(f"{revoked} API key(s) revoked")
        print(f"1/3 {done[-1]}")
        step = "removing the quota counters from Redis"
        counters = remove_counters(settings, tenant_id, user_id)
        done.append(f"{counters} Redis key(s) removed")
        print(f"2/3 {done[-1]}")
        step = "removing the rows from ClickHouse"
        salt = secrets.token_hex(16)
        erasure = Erasure(uuid.uuid4().hex, time.time_ns() // 1_000_000, requested_by, reason,
                          tenant_id, audit_subject(erasure_secret(settings), tenant_id, user_id),
                          revoked, counters)
        rows = remove_rows(settings, erasure, salt, subject_hash(salt, user_id))
        print(f"3/3 {sum(rows.values())} row(s) removed ("
              + ", ".join(f"{table} {n}" for table, n in rows.items())
              + f"); audit record {erasure.erasure_id} written", flush=True)
        step = "waiting for the replaced parts to leave the disk"
        touched = [table for table, count in rows.items() if count]
        left = wait_for_parts(settings, touched, PARTS_WAIT_S) if touched else 0
        if left:
            print(f"    {left} replaced part(s) still on disk after {PARTS_WAIT_S:.0f} s: run "
                  "the same command again to wait for them", file=sys.stderr)
            return 1
        print("    no replaced part left on disk")
    except (StepFailed, DirectoryError, OSError) as error:
        print(f"erase stopped while {step}: {error}\n  done before: "
              f"{'; '.join(done) or 'nothing'}\n  run the same command again to finish",
              file=sys.stderr)
        return 1
    return 0


def list_erasures(settings: Settings, tenant_id: str | None) -> int:
    if tenant_id is not None and not IDENTIFIER.fullmatch(tenant_id):
        print("erase --list: --tenant must be an exact identifier", file=sys.stderr)
        return 2
    where = f" WHERE tenant_id = '{tenant_id}'" if tenant_id else ""
    sql = (f"SELECT erasure_id, requested_at, requested_by, reason, tenant_id, subject, "  # noqa: S608 - tenant_id matched IDENTIFIER
           f"api_keys_revoked, redis_keys_removed, rows_removed FROM {ERASURES_TABLE}{where} "
           "ORDER BY requested_at")
    try:
        answer = run_query(settings, sql)
    except QueryError as error:
        print(f"erase --list failed: {error}", file=sys.stderr)
        return 1
    print("\t".join(answer["columns"]))
    for row in answer["rows"]:
        print("\t".join(str(value) for value in row))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.erase")
    parser.add_argument("--tenant")
    parser.add_argument("--user")
    parser.add_argument("--requested-by", default=getpass.getuser(),
                        help="who asked (a ticket, a name); recorded in the audit row")
    parser.add_argument("--reason", default="data subject request")
    parser.add_argument("--list", action="store_true", help="list the erasures recorded")
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.list:
        return list_erasures(settings, args.tenant)
    if not args.tenant or not args.user:
        parser.error("--tenant and --user are required (or --list)")
    return erase(settings, args.tenant, args.user, args.requested_by, args.reason)


if __name__ == "__main__":
    raise SystemExit(main())
