"""Completion events into ClickHouse, the analysts' views, quota reconciliation against Redis and
erasure of one user, over the real stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from analytics.billing import clickhouse_totals
from analytics.query import QueryError, run_query
from config.settings import Settings
from quota.arithmetic import day_window, quota_key
from schemas.socket import Cancel, DocOpen, Feedback
from tenants.directory import Tenant
from tests.conftest import add_key
from tests.test_billing_e2e import export
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

SOURCE = PYTHON_SOURCE  # the model has a completion for it


def rows(stack: Settings, sql: str) -> list[list[Any]]:
    result: list[list[Any]] = run_query(stack, sql)["rows"]
    return result


async def until(stack: Settings, sql: str, expected: Any, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = (await asyncio.to_thread(rows, stack, sql))[0][0]
        if found == expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def cli(stack: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], env={**os.environ, **stack.to_env()},
                          capture_output=True, text=True, check=False, timeout=120)


async def use(stack: Settings, key: str, prompts: list[str]) -> list[str]:
    """One completion per prompt (each a new document version), accepting each; request ids."""
    ids = []
    async with connect_edge(stack.edge_url(0), key) as ws:
        client = EdgeClient(ws)
        await client.start()
        for version, prompt in enumerate(prompts, start=1):
            await client.send(DocOpen("file:///m.py", "python", version, prompt))
            completion = await client.complete("file:///m.py", version, len(prompt))
            await asyncio.wait_for(completion.done.wait(), 20)
            await client.send(Feedback(uuid.uuid4().hex, completion.request_id, "accepted",
                                       accepted_chars=len(completion.text), latency_ms=30))
            ids.append(completion.request_id)
        await client.close()
    return ids


async def test_usage_views_reconciliation_and_erasure(stack: Settings) -> None:
    tenant = Tenant(f"an-{uuid.uuid4().hex[:6]}", "free")
    alice, _ = add_key(stack, tenant, "alice")
    bob, _ = add_key(stack, tenant, "bob")
    fresh = [f"# run {uuid.uuid4().hex[:12]}\n{SOURCE}" for _ in range(3)]
    # Three new prompts (inference: quota counted) and one repeat (cache: free).
    await use(stack, alice, [*fresh, fresh[0]])
    await use(stack, bob, [f"# run {uuid.uuid4().hex[:12]}\n{SOURCE}"])
    t = tenant.tenant_id

    count = f"SELECT uniqExact(event_id) FROM completion_events WHERE tenant_id = '{t}'"
    assert await until(stack, count, 5) == 5
    by_user = await asyncio.to_thread(rows, stack, (
        "SELECT user_id, uniqExactMerge(requests), uniqExactIfMerge(admitted) FROM usage_daily "
        f"WHERE tenant_id = '{t}' GROUP BY user_id ORDER BY user_id"))
    assert by_user == [["alice", 4, 3], ["bob", 1, 1]]
    sources = await asyncio.to_thread(rows, stack, (
        f"SELECT source, admitted FROM completion_events FINAL WHERE tenant_id = '{t}' "
        "AND user_id = 'alice' ORDER BY received_at"))
    assert sources[:3] == [["inferred", True]] * 3 and sources[3][0] in {"cached", "shared"}
    accepted = f"SELECT sum(accepted) FROM acceptance_daily WHERE tenant_id = '{t}'"
    assert await until(stack, accepted, 5) == 5
    latency = await asyncio.to_thread(rows, stack, (
        f"SELECT sum(answered), max(first_token_p99_ms) FROM latency_daily WHERE tenant_id = '{t}'"))
    assert latency[0][0] == 5 and 0 < latency[0][1] < 5000

    # Redis enforced what ClickHouse recorded: no drift.
    checked = await asyncio.to_thread(cli, stack, "analytics.reconcile", "--tenant", t)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 limited users compared, 0 with drift" in checked.stdout
    # Negative control: a counter that disagrees is reported.
    redis = aioredis.Redis.from_url(stack.redis_url)
    day, _ = day_window(time.time_ns() // 1_000_000)
    await redis.incr(quota_key(t, "bob", day))
    await redis.aclose()
    drifted = await asyncio.to_thread(cli, stack, "analytics.reconcile", "--tenant", t)
    assert drifted.returncode == 1
    assert f"{t}/bob: redis 2, clickhouse 1 (drift +1)" in drifted.stdout
    # Repaired: the counter is set to what ClickHouse recorded, its expiry kept.
    repaired = await asyncio.to_thread(cli, stack, "analytics.reconcile", "--tenant", t,
                                       "--repair")
    assert repaired.returncode == 0 and "repaired 1 counter(s)" in repaired.stdout, repaired.stdout
    redis = aioredis.Redis.from_url(stack.redis_url)
    assert int(await redis.get(quota_key(t, "bob", day)) or 0) == 1
    assert await redis.pttl(quota_key(t, "bob", day)) > 0
    await redis.aclose()
    clean = await asyncio.to_thread(cli, stack, "analytics.reconcile", "--tenant", t)
    assert clean.returncode == 0, clean.stdout

    # Erasure: every row of alice is gone, bob's stay (exit 3: her key was revoked just now, so
    # a request in flight may still land; the command says when to run it again).
    erased = await asyncio.to_thread(cli, stack, "analytics.erase", "--tenant", t, "--user", "alice")
    assert erased.returncode == 3 and "run the same command again after" in erased.stderr, (
        erased.stdout + erased.stderr)
    for table in ("completion_events", "feedback_events", "usage_daily"):
        left = await asyncio.to_thread(rows, stack, (
            f"SELECT countIf(user_id = 'alice'), countIf(user_id = 'bob') FROM {table} "
            f"WHERE tenant_id = '{t}'"))
        assert left[0][0] == 0 and left[0][1] > 0, (table, left)


def post(stack: Settings, sql: str, key: str | None) -> tuple[int, str]:
    """Straight to the analytics process's endpoint (what ``run_query`` checks itself is skipped)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(f"http://127.0.0.1:{stack.analytics_port}/query",
                                     data=sql.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_no_query_breaks_the_next_ones(stack: Settings) -> None:
    """An analyst's INSERT was refused by the engine only after the driver had SET ``readonly=1``
    on the shared session, which it could not undo: every tenant's scoped query failed from then
    on. Now a write is refused before the engine runs anything, and nothing a query does (refused
    or failed) reaches the next one."""
    first, second = (Tenant(f"ro-{uuid.uuid4().hex[:6]}", "pro") for _ in range(2))
    analyst_a, _ = add_key(stack, first, "analyst", role="analyst")
    analyst_b, _ = add_key(stack, second, "analyst", role="analyst")
    insert = "INSERT INTO feedback_events (event_id) VALUES ('x')"
    count = "SELECT count() FROM feedback_events WHERE event_id = 'x'"
    refused = await asyncio.to_thread(cli, stack, "analytics.query", "--api-key", analyst_a, insert)
    assert (await asyncio.to_thread(run_query, stack, count, analyst_b))["rows"] == [[0]]
    assert refused.returncode == 1
    assert "only reads may run here" in refused.stderr and "INSERT" in refused.stderr
    for sql, keys in ((insert, (analyst_a, None)), ("SET readonly = 0", (analyst_a, None)),
                      ("SELECT 1; DROP TABLE feedback_events", (analyst_a, None)),
                      ("SELECT throwIf(1)", (analyst_a, None)), ("SELECT (", (analyst_a, None)),
                      ("SELECT * FROM system.parts", (analyst_a,))):
        for key in keys:
            status, body = await asyncio.to_thread(post, stack, sql, key)
            assert status >= 400, (sql, key, body)
            with pytest.raises(QueryError):
                await asyncio.to_thread(run_query, stack, sql, key)
    status, body = await asyncio.to_thread(post, stack, insert, analyst_a)
    assert status == 400 and "only reads may run here" in body
    assert (await asyncio.to_thread(run_query, stack, count, analyst_b))["rows"] == [[0]]
    assert (await asyncio.to_thread(run_query, stack, count, analyst_a))["rows"] == [[0]]
    assert await asyncio.to_thread(rows, stack, count) == [[0]]


async def test_every_request_has_one_row_whatever_its_end(stack: Settings) -> None:
    """A client's ledger (each request's end, as it saw it) against ClickHouse, its views and
    the billing export: requests superseded while they waited, cancelled ones, ones the edge
    refused or excluded, and retried feedback, each counted once."""
    tenant = Tenant(f"ledger-{uuid.uuid4().hex[:6]}", "pro", exclude_paths=("*/secret/*",))
    key, _ = add_key(stack, tenant, "dev")
    ledger: dict[str, str] = {}
    async with connect_edge(stack.edge_url(0), key) as ws:
        client = EdgeClient(ws)
        await client.start()
        text = f"# {uuid.uuid4().hex[:8]}\n{SOURCE}"
        await client.send(DocOpen("file:///l.py", "python", 1, text))
        await client.send(DocOpen("file:///r/secret/k.py", "python", 1, "K = 1\n"))
        answers = []
        for _ in range(3):  # a burst: each supersedes the one before while it waits
            answers += [await client.complete("file:///l.py", 1, len(text) - n)
                        for n in range(4)]
            cancelled = await client.complete("file:///l.py", 1, len(text))
            await client.send(Cancel(cancelled.request_id))
            answers.append(cancelled)
            await asyncio.gather(*(asyncio.wait_for(a.done.wait(), 20) for a in answers))
        # Ended by the edge: a stale version, a document never opened, an excluded document.
        answers += [await client.complete("file:///l.py", 7, 0),
                    await client.complete("file:///nope.py", 1, 0),
                    await client.complete("file:///r/secret/k.py", 1, 0)]
        kept = await client.complete("file:///l.py", 1, len(text))
        answers.append(kept)
        await asyncio.gather(*(asyncio.wait_for(a.done.wait(), 20) for a in answers))
        assert kept.reason == "stop" and kept.text, kept.end
        for _ in range(2):  # feedback retried with the same event id counts once
            await client.send(Feedback("f" * 32, kept.request_id, "accepted",
                                       accepted_chars=len(kept.text)))
        for answer in answers:
            assert answer.end is not None
            ledger[answer.request_id] = answer.end.reason
        await client.close()
    by_reason: dict[str, int] = {}
    for reason in ledger.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    assert by_reason.get("superseded", 0) >= 3, by_reason
    assert by_reason.get("error", 0) >= 2 and by_reason.get("excluded") == 1, by_reason
    t = tenant.tenant_id
    count = f"SELECT uniqExact(event_id) FROM completion_events WHERE tenant_id = '{t}'"
    assert await until(stack, count, len(ledger)) == len(ledger)
    seen = await asyncio.to_thread(rows, stack, (
        "SELECT request_id, any(reason) FROM completion_events "
        f"WHERE tenant_id = '{t}' GROUP BY request_id"))
    assert dict((r[0], r[1]) for r in seen) == ledger
    requests = await asyncio.to_thread(rows, stack, (
        f"SELECT uniqExactMerge(requests) FROM usage_daily WHERE tenant_id = '{t}'"))
    assert requests == [[len(ledger)]]
    view = await asyncio.to_thread(rows, stack, (
        f"SELECT reason, sum(requests), sum(answered) FROM requests_daily WHERE tenant_id = '{t}' "
        "GROUP BY reason"))
    assert {r[0]: r[1] for r in view} == by_reason
    assert sum(r[2] for r in view) == sum(1 for a in answers if a.chunks)
    accepted = await until(stack, f"SELECT sum(accepted) FROM acceptance_daily WHERE "
                                  f"tenant_id = '{t}'", 1)
    assert accepted == 1
    # Billing reads the usage stream: the same requests, the feedback once.
    month = datetime.now(UTC).strftime("%Y-%m")
    deadline = time.monotonic() + 30
    while True:
        report = orjson.loads(await asyncio.to_thread(export, stack, t, month, "json"))
        if report["totals"]["requests"] == len(ledger) and report["totals"]["accepted"] == 1:
            break
        assert time.monotonic() < deadline, (report["totals"], len(ledger))
        await asyncio.sleep(0.5)
    assert report["totals"] == await asyncio.to_thread(clickhouse_totals, stack, t, month)
