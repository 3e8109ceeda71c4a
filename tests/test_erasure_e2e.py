"""Erasing one of three users on the test stack, with the documented command only: every table,
the replaced parts and the files on disk, Redis, the usage topic (the billing export at once, the
broker's files after compaction), the user's key, the audit record, and the two other users
untouched; patterns and unknown users refused; a second run finds nothing new; a run before the
user's last usage window closed says when to run it again."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from analytics.billing import clickhouse_totals
from analytics.schema import USER_TABLES
from analytics.usage import usage_subject
from config.settings import Settings
from infra.broker import instance_dir
from quota.arithmetic import day_window, quota_key
from schemas.codec import encode
from schemas.socket import Hello
from streams.kafka import partition_for, topic_partitions
from tenants.directory import Tenant
from tests.conftest import add_key
from tests.test_analytics_e2e import SOURCE, cli, rows, until, use
from tests.test_billing_e2e import export
from ws_edge.client import connect_edge

pytestmark = pytest.mark.stack


def on_disk(directory: Path, needle: bytes) -> list[str]:
    """Files under ``directory`` whose bytes hold ``needle``."""
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue
    return found


def erase(stack: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command, with room for the engine's cleanup of replaced parts (up to 150 s)."""
    return subprocess.run([sys.executable, "-m", "analytics.erase", *args],
                          env={**os.environ, **stack.to_env(), **env}, capture_output=True,
                          text=True, check=False, timeout=400)


async def hello(stack: Settings, key: str) -> None:
    async with connect_edge(stack.edge_url(0), key) as ws:
        await ws.send(encode(Hello(1, "t")).decode())
        await asyncio.wait_for(ws.recv(), 5)


def billing(stack: Settings, tenant_id: str, month: str) -> dict[str, Any]:
    report: dict[str, Any] = orjson.loads(export(stack, tenant_id, month, "json"))
    return report


def neighbour(stack: Settings, tenant_id: str, user_id: str, partitions: int) -> str:
    """A user whose usage records share the partition of ``user_id``'s (so its traffic rolls
    that partition's segment, which compaction needs)."""
    wanted = partition_for(usage_subject(tenant_id, user_id), partitions)
    return next(name for name in (f"nb{i}" for i in range(10_000))
                if partition_for(usage_subject(tenant_id, name), partitions) == wanted)


async def test_erase_one_of_three_users(stack: Settings) -> None:
    tenant = Tenant(f"gdpr-{uuid.uuid4().hex[:6]}", "free")
    bob = f"bob-{uuid.uuid4().hex[:10]}"
    keys = {user: add_key(stack, tenant, user)[0] for user in ("alice", bob, "carol")}
    t = tenant.tenant_id
    month = datetime.now(UTC).strftime("%Y-%m")
    for user, key in keys.items():
        await use(stack, key, [f"# {user} {uuid.uuid4().hex[:8]}\n{SOURCE}" for _ in range(2)])
    for user in keys:
        await until(stack, f"SELECT uniqExact(event_id) FROM completion_events WHERE "
                           f"tenant_id = '{t}' AND user_id = '{user}'", 2)
    # Billing settled: every user's windows closed and equal to what ClickHouse counts (feedback
    # included), so the numbers before the erasure are final.
    deadline = time.monotonic() + 30
    while True:
        before = await asyncio.to_thread(billing, stack, t, month)
        counted = await asyncio.to_thread(clickhouse_totals, stack, t, month)
        if len(before["users"]) == 3 and before["totals"] == counted \
                and counted["accepted"] == 2 * len(keys):
            break
        assert time.monotonic() < deadline, (before, counted)
        await asyncio.sleep(0.5)
    assert bob in {row["user_id"] for row in before["users"]}
    redis = aioredis.Redis.from_url(stack.redis_url)
    day, _ = day_window(time.time_ns() // 1_000_000)
    try:
        assert await redis.get(quota_key(t, bob, day)) is not None

        # Patterns and unknown subjects: refused, nothing touched.
        for args in (["--user", "*"], ["--user", "b?b"], ["--user", "mallory"]):
            refused = await asyncio.to_thread(cli, stack, "analytics.erase", "--tenant", t, *args)
            assert refused.returncode == 2, refused.stdout + refused.stderr
        assert (await asyncio.to_thread(cli, stack, "analytics.erase", "--tenant", "*",
                                        "--user", bob)).returncode == 2
        assert await redis.get(quota_key(t, "alice", day)) is not None

        # The tables that hold bob's rows: the erasure rewrites those (another tenant's inserts
        # into the others leave merged-away parts for a while, none of them bob's: on_disk below
        # checks every file of the engine for his id).
        held = [table for table in USER_TABLES if (await asyncio.to_thread(rows, stack, (
            f"SELECT countIf(user_id = '{bob}') FROM {table} WHERE tenant_id = '{t}'")))[0][0]]
        assert "completion_events" in held and "feedback_events" in held, held

        # --wait: revoke, wait for what was in flight and bob's last usage window, erase.
        erased = await asyncio.to_thread(erase, stack, "--tenant", t, "--user", bob,
                                         "--requested-by", "ticket-42", "--wait")
        assert erased.returncode == 0, erased.stdout + erased.stderr
        assert "1/4 1 API key(s) revoked" in erased.stdout and "waiting" in erased.stdout
        tombstoned = re.search(r"3/4 (\d+) usage record\(s\) removed", erased.stdout)
        assert tombstoned and int(tombstoned[1]) >= 1, erased.stdout

        for table in USER_TABLES:
            left = await asyncio.to_thread(rows, stack, (
                f"SELECT countIf(user_id = '{bob}'), countIf(user_id != '{bob}') FROM {table} "
                f"WHERE tenant_id = '{t}'"))
            assert left[0][0] == 0, (table, left)
        for table in ("completion_events", "feedback_events", "usage_daily"):
            others = await asyncio.to_thread(rows, stack, (
                f"SELECT uniqExact(user_id) FROM {table} WHERE tenant_id = '{t}'"))
            assert others == [[2]], (table, others)
        replaced = await asyncio.to_thread(rows, stack, (
            "SELECT count() FROM system.parts WHERE NOT active AND table IN ("
            + ", ".join(f"'{table}'" for table in held) + ")"))
        assert replaced == [[0]], held
        files = stack.stack_home / "clickhouse" / stack.stack_instance
        assert on_disk(files, bob.encode()) == [], "the id is in a file of the engine"
        assert on_disk(files, b"alice"), "negative control: the others' ids are found"

        assert await redis.get(quota_key(t, bob, day)) is None
        assert await redis.get(quota_key(t, "alice", day)) is not None
    finally:
        await redis.aclose()

    # Billing: bob is gone, the others' numbers are those they had, and it equals ClickHouse.
    after = await asyncio.to_thread(billing, stack, t, month)
    assert [row["user_id"] for row in after["users"]] == ["alice", "carol"]
    assert after["users"] == [row for row in before["users"] if row["user_id"] != bob]
    assert after["totals"] == await asyncio.to_thread(clickhouse_totals, stack, t, month)

    # On disk: once a record lands after the tombstones (a neighbour's, in bob's partition), the
    # broker's cleaner removes bob's records from the partition's files.
    partitions = len(await topic_partitions(stack, [stack.topic_usage]))
    other = neighbour(stack, t, bob, partitions)
    directory = next(instance_dir(stack).rglob(
        f"{stack.topic_usage}-{partition_for(usage_subject(t, bob), partitions)}"))
    assert on_disk(directory, bob.encode()), "negative control: bob's records are on disk"
    await use(stack, add_key(stack, tenant, other)[0], [f"# {other}\n{SOURCE}"])
    deadline = time.monotonic() + 90
    while on_disk(directory, bob.encode()) or not on_disk(directory, other.encode()):
        assert time.monotonic() < deadline, "bob's usage records stayed on the broker's disk"
        await asyncio.sleep(2)

    # The key no longer opens a session.
    with pytest.raises((ConnectionClosed, InvalidStatus)):
        await hello(stack, keys[bob])

    listed = await asyncio.to_thread(cli, stack, "analytics.erase", "--list", "--tenant", t)
    assert listed.returncode == 0, listed.stderr
    assert "ticket-42" in listed.stdout and bob not in listed.stdout
    # Run again, as an operator whose REDIS_URL is the default one, where nothing listens: the
    # command finds the embedded Redis the services use (it exited 1 after deleting, before).
    # Settled since the first run revoked the key: it finds nothing left and exits 0.
    embedded = stack.redis_url == f"redis://127.0.0.1:{stack.redis_port}/0"
    again = await asyncio.to_thread(erase, stack, "--tenant", t, "--user", bob, **(
        {"REDIS_URL": "redis://127.0.0.1:1/0"} if embedded else {}))
    assert again.returncode == 0 and "0 API key(s) revoked" in again.stdout, again.stderr
    assert "3/4 0 usage record(s)" in again.stdout and "4/4 0 row(s) removed" in again.stdout

    # Without --wait, a run that revoked a key now says when to run it again, and exits 3.
    add_key(stack, tenant, "dave")
    early = await asyncio.to_thread(erase, stack, "--tenant", t, "--user", "dave")
    assert early.returncode == 3, early.stdout + early.stderr
    assert "run the same command again after" in early.stderr
