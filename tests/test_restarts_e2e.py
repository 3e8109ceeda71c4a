"""The whole stack stopped and started several times under traffic loses no usage: afterwards
the billing export equals ClickHouse's counts for the same tenant and month.

Runs its own stack instance (the broker keeps its log on disk between starts, as `make up` does),
so the shared test stack is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from bench.keys import provision
from config.settings import Settings
from infra.stack import forget_instance, up
from schemas.socket import DocClose, DocOpen, Feedback
from tests.conftest import stack_settings
from tests.test_billing_e2e import clickhouse_totals, export
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

RESTARTS = 3


async def keep_typing(stack: Settings, key: str, stop: asyncio.Event) -> int:
    """Completions with feedback until ``stop`` or the stack goes away; returns how many a
    worker answered (each of those must be counted in ClickHouse)."""
    ended = 0
    with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
        async with connect_edge(stack.edge_url(0), key) as ws:
            client = EdgeClient(ws)
            await client.start()
            version = 0
            while not stop.is_set():
                version += 1
                text = f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}"
                await client.send(DocOpen(f"file:///r{version}.py", "python", 1, text))
                completion = await client.complete(f"file:///r{version}.py", 1, len(text))
                for _ in range(40):  # until its end, or the socket closes (the stack stopped)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(completion.done.wait(), 0.5)
                    if completion.done.is_set() or ws.state is State.CLOSED:
                        break
                if not completion.done.is_set():
                    break
                end = completion.end
                # Ends a worker reports as a completion event (not the edge's no_answer, not
                # a request that expired before it started).
                if end is not None and end.reason in ("stop", "length", "quota"):
                    ended += 1
                kind = ("accepted", "rejected", "shown")[version % 3]
                await client.send(DocClose(f"file:///r{version}.py"))
                await client.send(Feedback(uuid.uuid4().hex, completion.request_id, kind))  # type: ignore[arg-type]
    return ended


async def test_billing_equals_clickhouse_after_restarts_under_traffic() -> None:
    settings = stack_settings(f"pytest-restarts-{os.getpid()}")
    ring = provision(settings, 2, prefix="restart")
    caller = ring.take("free")
    month = datetime.now(UTC).strftime("%Y-%m")
    ended = 0
    try:
        for _ in range(RESTARTS):
            supervisor, running = await asyncio.to_thread(up, settings)
            try:
                stop = asyncio.Event()
                typing = asyncio.create_task(keep_typing(running, caller.api_key, stop))
                await asyncio.sleep(4)
                # Stop everything at once while the session is mid-request.
                await asyncio.to_thread(supervisor.stop_all)
                stop.set()
                ended += await typing
            finally:
                await asyncio.to_thread(supervisor.stop_all)
        assert ended >= RESTARTS, "traffic flowed before each stop"

        supervisor, running = await asyncio.to_thread(up, settings)
        try:
            expected: dict[str, int] = {}
            exported: dict[str, int] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                expected = await asyncio.to_thread(clickhouse_totals, running, caller.tenant_id,
                                                   month)
                exported = orjson.loads(await asyncio.to_thread(
                    export, running, caller.tenant_id, month, "json"))["totals"]
                if exported == expected and expected["requests"] >= ended:
                    break
                await asyncio.sleep(1)
            assert expected["requests"] >= ended, (expected, ended)
            assert exported == expected
        finally:
            await asyncio.to_thread(supervisor.stop_all)
    finally:
        forget_instance(settings)
