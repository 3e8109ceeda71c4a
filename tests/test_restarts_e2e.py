"""The whole stack stopped and started several times under traffic loses and doubles no usage,
counted per request against the client's own ledger: every request id it sent got at most one
end (only the one in flight at a stop may get none), ClickHouse holds exactly one completion
event for each request a worker ended, at most one for the others and none for an id the client
never sent, each feedback it sent once, and the billing export's totals equal those events.

Runs its own stack instance (the broker keeps its log on disk between starts, as `make up` does),
so the shared test stack is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from analytics.billing import clickhouse_totals
from analytics.query import run_query
from analytics.scope import literal
from bench.keys import provision
from config.settings import Settings
from infra.stack import forget_instance, up
from schemas.socket import CompletionEnd, DocClose, DocOpen, Feedback
from tests.conftest import stack_settings
from tests.test_billing_e2e import export
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

RESTARTS = 3
#: Ends a worker reports as a completion event, on the broker before the end is sent (not the
#: edge's no_answer, not a request that expired before it started).
REPORTED = ("stop", "length", "quota")
KINDS = ("accepted", "rejected", "shown")


@dataclass
class Ledger:
    """What the client sent in one round and what it was told."""

    #: Request ids in the order they were sent.
    sent: list[str] = field(default_factory=list)
    #: Request id -> the reason of every end frame received for it (a second one included).
    ends: dict[str, list[str]] = field(default_factory=dict)
    #: Feedback event id -> (request id, kind).
    feedback: dict[str, tuple[str, str]] = field(default_factory=dict)

    def reported(self) -> set[str]:
        return {r for r, reasons in self.ends.items() if reasons[0] in REPORTED}

    def end_problems(self) -> dict[str, list[str]]:
        """Requests without exactly one end (only the one in flight at the stop may have none),
        and ends of requests never sent."""
        problems = {
            "more than one end": sorted(r for r, reasons in self.ends.items() if len(reasons) > 1),
            "no end": [r for r in self.sent[:-1] if r not in self.ends],
            "ends of requests never sent": sorted(self.ends.keys() - set(self.sent)),
        }
        return {name: ids for name, ids in problems.items() if ids}

    def told(self) -> set[str]:
        """Feedback the edge read: a request sent after it on the socket got its end (the
        edge reads a socket in order; stopping, it flushes what it has read)."""
        last = max((n for n, r in enumerate(self.sent) if r in self.ends), default=-1)
        position = {r: n for n, r in enumerate(self.sent)}
        return {e for e, (r, _) in self.feedback.items() if position[r] < last}


async def keep_typing(stack: Settings, key: str, stop: asyncio.Event, ledger: Ledger) -> None:
    """Completions with feedback until ``stop`` or the stack goes away, all in ``ledger``."""
    with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
        async with connect_edge(stack.edge_url(0), key) as ws:
            client = EdgeClient(ws)
            await client.start()
            try:
                await requests(client, stop, ledger)
            finally:
                with contextlib.suppress(ConnectionClosed, OSError):
                    await client.close()  # its reader has queued every frame that came
                while not client.frames.empty():
                    frame = client.frames.get_nowait()
                    if isinstance(frame, CompletionEnd):
                        ledger.ends.setdefault(frame.request_id, []).append(frame.reason)


async def requests(client: EdgeClient, stop: asyncio.Event, ledger: Ledger) -> None:
    version = 0
    while not stop.is_set():
        version += 1
        uri = f"file:///r{version}.py"
        text = f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}"
        await client.send(DocOpen(uri, "python", 1, text))
        completion = await client.complete(uri, 1, len(text))
        ledger.sent.append(completion.request_id)
        for _ in range(40):  # until its end, or the socket closes (the stack stopped)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(completion.done.wait(), 0.5)
            if completion.done.is_set() or client.connection.state is State.CLOSED:
                break
        if not completion.done.is_set():
            return
        kind = KINDS[version % 3]
        await client.send(DocClose(uri))
        event_id = uuid.uuid4().hex
        ledger.feedback[event_id] = (completion.request_id, kind)  # before it can arrive
        await client.send(Feedback(event_id, completion.request_id, kind))  # type: ignore[arg-type]


def stored(stack: Settings, tenant: str) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """ClickHouse's events of ``tenant``: request id -> the admitted flag of each distinct
    completion event; feedback event id -> (request id, kind) of each of its rows."""
    where = f"WHERE tenant_id = {literal(tenant)}"
    completions: dict[str, list[int]] = {}
    for request_id, _, admitted in rows(stack, "SELECT request_id, event_id, max(admitted) "
                                        f"FROM completion_events {where} "
                                        "GROUP BY request_id, event_id"):
        completions.setdefault(request_id, []).append(int(admitted))
    feedback: dict[str, list[str]] = {}
    for event_id, request_id, kind in rows(stack, "SELECT DISTINCT event_id, request_id, kind "
                                           f"FROM feedback_events {where}"):
        feedback.setdefault(event_id, []).extend((request_id, kind))
    return completions, feedback


def rows(stack: Settings, sql: str) -> list[list[Any]]:
    found: list[list[Any]] = run_query(stack, sql)["rows"]
    return found


async def test_billing_equals_clickhouse_after_restarts_under_traffic() -> None:
    settings = stack_settings(f"pytest-restarts-{os.getpid()}")
    ring = provision(settings, 2, prefix="restart")
    caller = ring.take("free")
    month = datetime.now(UTC).strftime("%Y-%m")
    rounds: list[Ledger] = []
    try:
        for _ in range(RESTARTS):
            supervisor, running = await asyncio.to_thread(up, settings)
            try:
                stop = asyncio.Event()
                rounds.append(Ledger())
                typing = asyncio.create_task(keep_typing(running, caller.api_key, stop,
                                                         rounds[-1]))
                await asyncio.sleep(4)
                # Stop everything at once while the session is mid-request.
                await asyncio.to_thread(supervisor.stop_all)
                stop.set()
                await typing
            finally:
                await asyncio.to_thread(supervisor.stop_all)
        flowed = [len(r.reported()) for r in rounds]
        print(f"\nper round: requests sent {[len(r.sent) for r in rounds]}, ended by a worker "
              f"{flowed}, feedback the edge read {[len(r.told()) for r in rounds]}")
        assert 0 not in flowed, f"traffic flowed before each stop (worker ends: {flowed})"
        assert [r.end_problems() for r in rounds] == [{}] * RESTARTS
        sent = {r for ledger in rounds for r in ledger.sent}
        reported = {r for ledger in rounds for r in ledger.reported()}
        feedback = {e: f for ledger in rounds for e, f in ledger.feedback.items()}
        told = {e for ledger in rounds for e in ledger.told()}

        supervisor, running = await asyncio.to_thread(up, settings)
        try:
            deadline = time.monotonic() + 60
            while True:
                completions, said = await asyncio.to_thread(stored, running, caller.tenant_id)
                # The totals of the ledger's events: one per request, each feedback as sent.
                mine = [found[0] for r, found in completions.items() if r in sent]
                kinds = Counter(feedback[e][1] for e in said if e in feedback)
                expected = {"completions": sum(mine), "requests": len(mine),
                            "shown": kinds["shown"],
                            "accepted": kinds["accepted"], "rejected": kinds["rejected"]}
                clickhouse = await asyncio.to_thread(clickhouse_totals, running,
                                                     caller.tenant_id, month)
                exported = orjson.loads(await asyncio.to_thread(
                    export, running, caller.tenant_id, month, "json"))["totals"]
                settled = reported <= completions.keys() and told <= said.keys() and \
                    exported == clickhouse == expected
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
        finally:
            await asyncio.to_thread(supervisor.stop_all)
        # One to one against the ledger: nothing missing, nothing doubled, nothing unknown.
        problems = {
            "completion events lost": sorted(reported - completions.keys()),
            "requests with more than one event": sorted(
                r for r, found in completions.items() if len(found) > 1),
            "events of requests never sent": sorted(completions.keys() - sent),
            "feedback lost": sorted(told - said.keys()),
            "feedback doubled, altered or never sent": sorted(
                e for e, f in said.items() if tuple(f) != feedback.get(e)),
        }
        found = {name: ids for name, ids in problems.items() if ids}
        assert not found, {name: f"{len(ids)}, e.g. {ids[:2]}" for name, ids in found.items()}
        assert exported == clickhouse == expected, (exported, clickhouse, expected)
    finally:
        forget_instance(settings)
