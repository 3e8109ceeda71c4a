"""Erasing one of three users on the test stack, with the documented command only: every table,
the replaced parts and the files on disk, Redis, the user's key, the audit record, and the two
other users untouched; patterns and unknown users refused; a second run finishes nothing new."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed, InvalidStatus

from analytics.schema import USER_TABLES
from config.settings import Settings
from quota.arithmetic import day_window, quota_key
from schemas.codec import encode
from schemas.socket import Hello
from tenants.directory import Tenant
from tests.conftest import add_key
from tests.test_analytics_e2e import SOURCE, cli, rows, until, use
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


async def test_erase_one_of_three_users(stack: Settings) -> None:
    tenant = Tenant(f"gdpr-{uuid.uuid4().hex[:6]}", "free")
    bob = f"bob-{uuid.uuid4().hex[:10]}"
    keys = {user: add_key(stack, tenant, user)[0] for user in ("alice", bob, "carol")}
    t = tenant.tenant_id
    for user, key in keys.items():
        await use(stack, key, [f"# {user} {uuid.uuid4().hex[:8]}\n{SOURCE}" for _ in range(2)])
    for user in keys:
        await until(stack, f"SELECT uniqExact(event_id) FROM completion_events WHERE "
                           f"tenant_id = '{t}' AND user_id = '{user}'", 2)
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

        erased = await asyncio.to_thread(erase, stack, "--tenant", t, "--user", bob,
                                         "--requested-by", "ticket-42")
        assert erased.returncode == 0, erased.stdout + erased.stderr
        assert "1 API key(s) revoked" in erased.stdout and "3/3" in erased.stdout

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
            + ", ".join(f"'{table}'" for table in USER_TABLES) + ")"))
        assert replaced == [[0]]
        files = stack.stack_home / "clickhouse" / stack.stack_instance
        assert on_disk(files, bob.encode()) == [], "the id is in a file of the engine"
        assert on_disk(files, b"alice"), "negative control: the others' ids are found"

        assert await redis.get(quota_key(t, bob, day)) is None
        assert await redis.get(quota_key(t, "alice", day)) is not None
    finally:
        await redis.aclose()

    # The key no longer opens a session.
    await asyncio.sleep(3 * stack.auth_reload_ms / 1000)
    with pytest.raises((ConnectionClosed, InvalidStatus)):
        await hello(stack, keys[bob])

    listed = await asyncio.to_thread(cli, stack, "analytics.erase", "--list", "--tenant", t)
    assert listed.returncode == 0, listed.stderr
    assert "ticket-42" in listed.stdout and bob not in listed.stdout
    # Run again, as an operator whose REDIS_URL is the default one, where nothing listens: the
    # command finds the embedded Redis the services use (it exited 1 after deleting, before).
    embedded = stack.redis_url == f"redis://127.0.0.1:{stack.redis_port}/0"
    again = await asyncio.to_thread(erase, stack, "--tenant", t, "--user", bob, **(
        {"REDIS_URL": "redis://127.0.0.1:1/0"} if embedded else {}))
    assert again.returncode == 0 and "0 API key(s) revoked" in again.stdout
    assert "3/3 0 row(s) removed" in again.stdout, again.stdout
