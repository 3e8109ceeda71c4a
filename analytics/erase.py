"""``python -m analytics.erase --tenant T --user U``: erase one user (GDPR), or ``--list`` them.

One command, in steps that each can be run again: it finishes, or says which step stopped and
what the ones before it did; running the same command again finishes the rest.

1. **Check** the subject against the tenants file: exact identifiers, a known tenant, a user
   that holds or held a key there (``analytics.erasure``); otherwise exit 2, nothing touched.
2. **Revoke** the user's API keys in the tenants file (edges close its sessions within
   ``AUTH_RELOAD_MS``), so no new row of the user arrives while the rest is removed.
3. **Redis**: the user's quota counters, by exact key.
4. **usage-records**: a tombstone for each of the user's records (the topic is compacted: the
   billing export skips them at once, the broker's cleaner removes them from disk within
   ``USAGE_COMPACTION_LAG_MS``).
5. **ClickHouse**: the user's rows in every table, named by a salted hash (the id never reaches
   a statement, the query log or a mutation file), removed from disk: the embedded engine's
   tables are rewritten without them, a server's by a mutation whose replaced parts are waited
   for until none is left; then one row in ``erasures`` (who asked, when, counts; whom only as
   an HMAC under ``ERASURE_SECRET_FILE``).

Requests in flight when the keys were revoked still land for a while, and the usage window of
the last one closes up to ``USAGE_WINDOW_MS`` + ``USAGE_GRACE_MS`` later
(:func:`analytics.erasure.settle_ms`): a run before then exits 3 and says when to run it again;
``--wait`` waits for that moment after revoking, then removes everything in one pass.

Not erased here, by design (docs/ANALYTICS.md): the user's records still in the short-lived
topics (``FEEDBACK_RETENTION_MS``, sealed per session).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import clickhouse_connect
import orjson
from aiokafka.errors import KafkaError

from analytics.billing import live_records
from analytics.erasure import (
    IDENTIFIER,
    EraseError,
    Erasure,
    audit_subject,
    check_subject,
    quota_keys,
    settle_ms,
    subject_hash,
)
from analytics.query import QueryError, run_query
from analytics.schema import ERASURE_COLUMNS, ERASURES_TABLE, erase_and_record, replaced_parts_sql
from analytics.usage import usage_subject
from config.settings import Settings
from config.task_routes import task_routes
from schemas.errors import AssistantError
from streams.kafka import make_producer, partition_for, read_partitions, topic_partitions
from streams.redis_client import REDIS_FAILURES, RedisUnavailable, services_redis
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
        try:
            save_directory(settings.tenants_path, directory)
        except OSError as error:
            raise StepFailed(
                f"{len(live)} live API key(s), and the tenants file {settings.tenants_path} "
                f"cannot be written here ({error.strerror or type(error).__name__}). Where it is "
                "a mounted Secret (a cluster: docs/DEPLOY.md), revoke the keys where the file is "
                "kept (`python -m infra keys revoke`), update the Secret, wait for the edges to "
                "read it, then run this again: it finds no live key and goes on") from None
    return len(live)


def remove_counters(settings: Settings, tenant_id: str, user_id: str) -> int:
    try:
        client = services_redis(settings)
    except RedisUnavailable as error:
        raise StepFailed(str(error)) from None
    try:
        # One key per command: in a cluster the user's days may live on different nodes.
        return sum(int(client.delete(key))
                   for key in quota_keys(tenant_id, user_id, time.time_ns() // 1_000_000))
    except REDIS_FAILURES as error:
        raise StepFailed(f"Redis: {error}") from None
    finally:
        client.close()


async def remove_usage(settings: Settings, tenant_id: str, user_id: str) -> int:
    """A tombstone for each live usage record of the user, in the one partition that holds
    them all (:func:`analytics.usage.usage_subject`); how many."""
    partitions = sorted(await topic_partitions(settings, [settings.topic_usage]),
                        key=lambda tp: tp.partition)
    if not partitions:
        return 0
    where = partitions[partition_for(usage_subject(tenant_id, user_id), len(partitions))]
    messages = await read_partitions(settings, [where])
    theirs = [record.record_id for record in live_records((m.key, m.value) for m in messages)
              if record.tenant_id == tenant_id and record.user_id == user_id]
    if theirs:
        producer = make_producer(settings)
        await producer.start()
        try:
            for record_id in theirs:
                await producer.send(settings.topic_usage, None, key=record_id.encode(),
                                    partition=where.partition)
            await producer.flush()
        finally:
            await producer.stop()
    return len(theirs)


def remove_usage_records(settings: Settings, tenant_id: str, user_id: str) -> int:
    try:
        return asyncio.run(remove_usage(settings, tenant_id, user_id))
    except (KafkaError, OSError) as error:
        raise StepFailed(f"Kafka ({settings.bootstrap}): {error!r}; is the broker up?") from None


def revoked_at(settings: Settings, subject: str, revoked_now: bool, now_ms: int) -> int:
    """Since when the user's keys are revoked: now if this run revoked one; else the last
    earlier run that did, or the first earlier run (keys revoked by hand before); else now."""
    if revoked_now:
        return now_ms
    sql = ("SELECT toUnixTimestamp64Milli(maxIf(requested_at, api_keys_revoked > 0)), "  # noqa: S608 - subject is hex
           "toUnixTimestamp64Milli(min(requested_at)), count() "
           f"FROM {ERASURES_TABLE} WHERE subject = '{subject}'")
    try:
        last_revoking, first, runs = run_query(settings, sql)["rows"][0]
    except QueryError as error:
        raise StepFailed(str(error)) from None
    if not int(runs):
        return now_ms
    return int(last_revoking) or int(first)


def settles_at(settings: Settings, since_ms: int) -> int:
    longest = max([settings.reply_deadline_ms, *(route.deadline_ms for route in task_routes(
        settings.task_models, settings.task_deadlines_ms, settings.task_slots).values())])
    return since_ms + settle_ms(settings.auth_reload_ms, longest, settings.sink_batch_ms,
                                settings.usage_window_ms, settings.usage_grace_ms)


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
          reason: str, wait: bool = False) -> int:
    """Run the steps, printing each; the exit status (3: done for now, run again later)."""
    try:
        check_subject(load_directory(settings.tenants_path), tenant_id, user_id)
    except (EraseError, DirectoryError, OSError) as error:
        print(f"erase refused: {error}", file=sys.stderr)
        return 2
    done: list[str] = []
    step = "revoking the user's API keys"
    started_ms = time.time_ns() // 1_000_000  # the audit row's time: when the keys went
    try:
        revoked = revoke_keys(settings, tenant_id, user_id)
        done.append(f"{revoked} API key(s) revoked")
        print(f"1/4 {done[-1]}", flush=True)
        step = "finding when the keys were revoked"
        subject = audit_subject(erasure_secret(settings), tenant_id, user_id)
        settled = settles_at(settings, revoked_at(settings, subject, revoked > 0, started_ms))
        if wait and (left_s := settled / 1000 - time.time()) > 0:
            print(f"    waiting {left_s:.0f} s, until {utc(settled)}, for the user's last rows "
                  "and usage window", flush=True)
            time.sleep(left_s)
        step = "removing the quota counters from Redis"
        counters = remove_counters(settings, tenant_id, user_id)
        done.append(f"{counters} Redis key(s) removed")
        print(f"2/4 {done[-1]}", flush=True)
        step = f"writing tombstones to {settings.topic_usage}"
        usage = remove_usage_records(settings, tenant_id, user_id)
        done.append(f"{usage} usage record(s) removed from {settings.topic_usage}")
        print(f"3/4 {done[-1]}", flush=True)
        step = "removing the rows from ClickHouse"
        salt = secrets.token_hex(16)
        erasure = Erasure(uuid.uuid4().hex, started_ms, requested_by, reason,
                          tenant_id, subject, revoked, counters, usage)
        rows = remove_rows(settings, erasure, salt, subject_hash(salt, user_id))
        print(f"4/4 {sum(rows.values())} row(s) removed ("
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
    if time.time_ns() // 1_000_000 < settled:
        print(f"    requests in flight and the usage window open when the keys were revoked may "
              f"still land until {utc(settled)}: run the same command again after that (or "
              "with --wait)", file=sys.stderr)
        return 3
    return 0


def list_erasures(settings: Settings, tenant_id: str | None) -> int:
    if tenant_id is not None and not IDENTIFIER.fullmatch(tenant_id):
        print("erase --list: --tenant must be an exact identifier", file=sys.stderr)
        return 2
    where = f" WHERE tenant_id = '{tenant_id}'" if tenant_id else ""
    sql = (f"SELECT {', '.join(ERASURE_COLUMNS)} FROM {ERASURES_TABLE}{where} "  # noqa: S608 - tenant_id matched IDENTIFIER
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
    parser.add_argument("--wait", action="store_true",
                        help="after revoking, wait until nothing of the user can still land "
                             "(a usage window and a grace), then remove it all in one pass")
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.list:
        return list_erasures(settings, args.tenant)
    if not args.tenant or not args.user:
        parser.error("--tenant and --user are required (or --list)")
    return erase(settings, args.tenant, args.user, args.requested_by, args.reason, args.wait)


if __name__ == "__main__":
    raise SystemExit(main())
