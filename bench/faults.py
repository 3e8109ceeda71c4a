"""The fault benchmark: ``kill -9`` each component in turn while simulated developers work.

``python -m bench.faults [--kills 5] [--broker-kills 20] [--sessions 2] [--brokers 1|3]``
starts a private stack with the same watchdog as ``make up`` (it starts a killed component
again), runs ``--sessions`` developers that each ask for completions back to back and send
feedback for every answer (reconnecting with backoff when their socket closes), and kills each
component in turn with SIGKILL: broker, Triton, Redis, worker, edge, analytics, usage. With
``--brokers 3`` it runs three brokers and kills one of them (broker-1) instead of the only one.

Per component it reports: the time from the kill until a completion asked after the kill is
answered with tokens again (and until the component was running again), requests that got no
``end`` while their socket stayed open (silence), and requests whose socket closed first. At the
end, with merges switched off so every inserted row stays countable, ClickHouse against the
developers' own ledger (the request ids and feedback event ids they sent, and the ends they
received): completion events of requests a worker ended and feedback events whose socket stayed
open that ClickHouse lacks (lost), requests holding more than one distinct event (doubled: billing
counts event ids), and events for requests or feedback no developer sent; then the billing
export's totals against ClickHouse's for the same tenant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect
import orjson
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from analytics.billing import Month, clickhouse_totals, read_usage, summarize, totals
from analytics.query import run_query
from analytics.schema import create_tables
from analytics.scope import literal
from bench.keys import provision
from bench.loadgen import ask_fresh, stdlib_sources
from bench.measure import percentile
from config.settings import Settings
from infra.processes import Supervisor, Watchdog, free_port
from infra.restarts import RestartPolicy, Restarts
from infra.stack import forget_instance, private_settings, up
from schemas.socket import DocClose, Feedback
from streams.kafka import read_all
from ws_edge.client import EdgeClient, connect_edge

COMPONENTS = ("broker", "triton", "redis", "worker-0", "edge-0", "analytics", "usage")
#: A request whose socket stays open this long without an ``end`` is silence.
SILENCE_S = 35.0


@dataclass
class Request:
    request_id: str
    sent_s: float
    ended_s: float | None = None
    tokens: bool = False
    reason: str | None = None
    #: The end came from the edge (``no_answer``): no worker saw it through, none reported it.
    by_edge: bool = False
    #: The socket closed before its end arrived (the session was told: reconnect).
    closed: bool = False


@dataclass
class Sent:
    """One feedback event as a developer sent it."""

    request_id: str
    kind: str
    #: Its socket stayed open 2 s after it was sent, or until our own close: it must arrive.
    told: bool = False


@dataclass
class Developers:
    """What the simulated developers did and were told: the ledger the events are audited
    against."""

    requests: list[Request] = field(default_factory=list)
    #: event_id -> the feedback sent with that id (at most one per request).
    feedback: dict[str, Sent] = field(default_factory=dict)
    reconnects: int = 0


@dataclass
class Fault:
    component: str
    killed_s: float
    back_s: float | None = None
    flowing_s: float | None = None


def now_s() -> float:
    return time.monotonic()


async def developer(settings: Settings, api_key: str, seed: int, stop: asyncio.Event,
                    log: Developers) -> None:
    """Back-to-back completions with feedback; on a closed socket, reconnect with backoff."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload
    sources = stdlib_sources()
    backoff = 0.2
    while not stop.is_set():
        try:
            async with connect_edge(settings.edge_url(0), api_key, open_timeout=5) as ws:
                client = EdgeClient(ws)
                await client.start("faults/1")
                backoff = 0.2
                await session(client, rng, sources, stop, log)
                await client.close()
        except (ConnectionClosed, OSError, TimeoutError):
            log.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(2.0, backoff * 2)


async def session(client: EdgeClient, rng: random.Random, sources: list[str],
                  stop: asyncio.Event, log: Developers) -> None:
    pending_feedback: list[tuple[float, Sent]] = []
    while not stop.is_set():
        uri, completion = await ask_fresh(client, rng, sources, "faults")
        request = Request(completion.request_id, now_s())
        log.requests.append(request)
        while not completion.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(completion.done.wait(), 0.25)
            if client.connection.state is State.CLOSED:
                request.closed = True
                raise ConnectionClosed(None, None)
            if now_s() - request.sent_s > SILENCE_S:
                break
        if completion.done.is_set():
            request.ended_s = now_s()
            request.tokens = bool(completion.text)
            request.reason = completion.end.reason if completion.end else None
            request.by_edge = completion.end is not None and completion.end.detail == "no_answer"
            if completion.text:
                kind = "accepted" if rng.random() < 0.3 else "rejected"
                event_id, sent = uuid.uuid4().hex, Sent(completion.request_id, kind)
                log.feedback[event_id] = sent  # in the ledger before it can reach the edge
                await client.send(Feedback(event_id, sent.request_id, kind))  # type: ignore[arg-type]
                pending_feedback.append((now_s(), sent))
        await client.send(DocClose(uri))
        if request.reason in ("error", "overloaded", "expired"):
            await asyncio.sleep(0.2)  # as a plugin does: no tight loop against a failing backend
        # Feedback counts as told once its socket stayed open two seconds after it was sent.
        while pending_feedback and now_s() - pending_feedback[0][0] > 2.0:
            pending_feedback.pop(0)[1].told = True
    for _, sent in pending_feedback:  # our own close: the edge flushes what it has
        sent.told = True


def prepare_tables(settings: Settings) -> None:
    """The analytics tables, made before the sink starts, with merges off: duplicated inserts
    stay countable (a merge of the ReplacingMergeTree would collapse them)."""
    client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn)
    try:
        create_tables(client, settings.analytics_retention_days)
        for table in ("feedback_events", "completion_events"):
            client.command(f"ALTER TABLE {table} MODIFY SETTING "
                           "max_bytes_to_merge_at_max_space_in_pool = 1, "
                           "max_bytes_to_merge_at_min_space_in_pool = 1")
    finally:
        client.close()


def kill(supervisor: Supervisor, name: str) -> None:
    """SIGKILL the component's main process (its children are left to the watchdog)."""
    os.kill(supervisor.procs[name].pid, signal.SIGKILL)


async def run_faults(settings: Settings, supervisor: Supervisor, api_keys: list[str],
                     plan: list[str], settle_s: float = 3.0) -> tuple[list[Fault], Developers]:
    """Kill the components in ``plan`` one after another under load; the watchdog (in a thread,
    as in ``make up``) starts each again."""
    log = Developers()
    stop = asyncio.Event()
    watchdog = Watchdog(supervisor, Restarts(RestartPolicy(max_exits=10_000)), say=lambda _: None)
    halt = threading.Event()

    def watch() -> None:
        while not halt.is_set():
            watchdog.tick(time.time_ns() // 1_000_000)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    developers = [asyncio.create_task(developer(settings, key, n, stop, log))
                  for n, key in enumerate(api_keys)]
    faults: list[Fault] = []
    try:
        await asyncio.sleep(settle_s)
        for name in plan:
            fault = Fault(name, now_s())
            pid = supervisor.procs[name].pid
            kill(supervisor, name)
            faults.append(fault)
            deadline = fault.killed_s + 90
            while now_s() < deadline and (fault.back_s is None or fault.flowing_s is None):
                proc = supervisor.procs.get(name)
                if fault.back_s is None and proc is not None and proc.pid != pid:
                    fault.back_s = now_s() - fault.killed_s
                answered = [r for r in log.requests if r.sent_s > fault.killed_s and r.tokens]
                if fault.flowing_s is None and answered:
                    fault.flowing_s = min(r.ended_s or 0 for r in answered) - fault.killed_s
                await asyncio.sleep(0.05)
            await asyncio.sleep(settle_s)
    finally:
        stop.set()
        await asyncio.gather(*developers, return_exceptions=True)
        halt.set()
        watcher.join()
    return faults, log


def audit(settings: Settings, log: Developers, tenant_id: str) -> dict[str, Any]:
    """ClickHouse's events against the developers' ledger (lost, doubled, never sent), rows the
    sink inserted twice, and the billing export against ClickHouse."""
    sent = {r.request_id for r in log.requests}
    # Workers report every request they start (CompletionEvent) and send its end only once the
    # event is on the broker; a request ended before it started (``expired``: it waited past
    # REQUEST_DEADLINE_MS) or by the edge is not reported. Any other sent request (its socket
    # closed first) may hold one event or none, never two.
    reported = {r.request_id for r in log.requests
                if r.ended_s is not None and not r.by_edge and r.reason != "expired"}
    told = {event_id for event_id, feedback in log.feedback.items() if feedback.told}

    def rows(sql: str) -> list[list[Any]]:
        found: list[list[Any]] = run_query(settings, sql)["rows"]
        return found

    where = f"WHERE tenant_id = {literal(tenant_id)}"
    # One row per (request, event id): a request with two is counted twice by billing (which
    # counts event ids). The row counts against the records per event id in Kafka: more rows
    # than records is the sink inserting a record twice (what its deduplication prevents); more
    # than one record is a worker that re-read its input and reported the request again under
    # the same id (ReplacingMergeTree keeps one; billing counts it once).
    completion_rows = rows("SELECT request_id, event_id, count() "  # noqa: S608
                           f"FROM completion_events {where} GROUP BY request_id, event_id")
    feedback_rows = rows("SELECT request_id, event_id, count(), kind "  # noqa: S608
                         f"FROM feedback_events {where} GROUP BY request_id, event_id, kind")
    records = Counter(
        orjson.loads(record.value or b"{}").get("event_id")
        for record in asyncio.run(read_all(settings, [settings.topic_completions,
                                                      settings.topic_feedback])))
    completions = Counter(row[0] for row in completion_rows)
    feedback = Counter(row[0] for row in feedback_rows)
    month = Month.parse(datetime.now(UTC).strftime("%Y-%m"))
    exported = totals(summarize(asyncio.run(read_usage(settings)), tenant_id, month))
    lost = reported - completions.keys()

    def as_sent(row: list[Any]) -> bool:
        mine = log.feedback.get(row[1])
        return mine is not None and (mine.request_id, mine.kind) == (row[0], row[3])

    return {
        "completion events expected": len(reported),
        "completion events lost": len(lost),
        "lost, by end reason": dict(Counter(r.reason for r in log.requests
                                            if r.request_id in lost)),
        "completion events doubled": sum(1 for n in completions.values() if n > 1),
        "completion events of requests never sent": len(completions.keys() - sent),
        "completion rows inserted twice": sum(
            1 for row in completion_rows if row[2] > records[row[1]]),
        "completion events reported again after a replay": sum(
            1 for row in completion_rows if records[row[1]] > 1),
        "feedback events expected": len(told),
        "feedback events lost": len(told - {row[1] for row in feedback_rows}),
        "feedback events doubled": sum(1 for n in feedback.values() if n > 1),
        "feedback events never sent": sum(1 for row in feedback_rows if not as_sent(row)),
        "feedback rows inserted twice": sum(
            1 for row in feedback_rows if row[2] > records[row[1]]),
        "billing export": exported,
        "clickhouse": clickhouse_totals(settings, tenant_id, str(month)),
    }


def report(faults: list[Fault], log: Developers, audited: dict[str, Any]) -> list[str]:
    lines = [f"{'component':>10} {'kills':>5} {'back p50':>9} {'flowing p50':>11} "
             f"{'flowing max':>11} {'silent':>6} {'closed':>6}"]
    for name in dict.fromkeys(f.component for f in faults):
        mine = [f for f in faults if f.component == name]
        back = [f.back_s for f in mine if f.back_s is not None]
        flowing = [f.flowing_s for f in mine if f.flowing_s is not None]
        spans = [(f.killed_s, f.killed_s + (f.flowing_s or 90)) for f in mine]
        during = [r for r in log.requests if any(a <= r.sent_s <= b for a, b in spans)]
        silent = sum(1 for r in during if r.ended_s is None and not r.closed)
        closed = sum(1 for r in during if r.closed)
        never = len(mine) - len(flowing)
        lines.append(f"{name:>10} {len(mine):5d} {percentile(back, 0.5):8.1f}s "
                     f"{percentile(flowing, 0.5):10.1f}s {max(flowing, default=float('nan')):10.1f}s "
                     f"{silent:6d} {closed:6d}" + (f"  ({never} never flowed again)" if never else ""))
    requests = log.requests
    reasons = Counter(r.reason or ("closed" if r.closed else "silent") for r in requests)
    lines.append(f"requests: {len(requests)} ({dict(reasons)}; ended by the edge for want of an "
                 f"answer: {sum(r.by_edge for r in requests)}); reconnects: {log.reconnects}; "
                 f"without an end while their socket stayed open: "
                 f"{sum(1 for r in requests if r.ended_s is None and not r.closed)}")
    for key, value in audited.items():
        lines.append(f"{key}: {value}")
    same = audited["billing export"] == audited["clickhouse"]
    lines.append(f"billing export equals ClickHouse: {'yes' if same else 'NO'}")
    return lines


def wait_settled(settings: Settings, log: Developers, tenant_id: str, timeout_s: float
                 ) -> dict[str, Any]:
    """Audit until nothing more arrives (or the timeout), so in-flight events are not 'lost'."""
    deadline = now_s() + timeout_s
    audited = audit(settings, log, tenant_id)
    while now_s() < deadline:
        time.sleep(2)
        again = audit(settings, log, tenant_id)
        if again == audited and again["billing export"] == again["clickhouse"]:
            break
        audited = again
    return audited


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults")
    parser.add_argument("--kills", type=int, default=5, help="kills of each component")
    parser.add_argument("--broker-kills", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1)
    parser.add_argument("--components", default=",".join(COMPONENTS))
    args = parser.parse_args()
    # An unreachable REDIS_URL: the stack starts its own Redis, which this benchmark kills.
    settings = private_settings(f"faults-{args.brokers}", f"redis://127.0.0.1:{free_port()}/0"
                                ).replace(kafka_brokers=args.brokers, usage_window_ms=10_000,
                                          usage_grace_ms=2_000)
    # A fresh instance: the counts compare this run's traffic only.
    forget_instance(settings)
    ring = provision(settings, args.sessions, prefix="faults")
    keys = [ring.take("pro").api_key for _ in range(args.sessions)]
    plan: list[str] = []
    components = args.components.split(",")
    rounds = max(args.kills, args.broker_kills if "broker" in components else 0)
    for round_ in range(rounds):
        for name in components:
            if round_ < (args.broker_kills if name == "broker" else args.kills):
                plan.append("broker-1" if name == "broker" and args.brokers == 3 else name)
    prepare_tables(settings)
    supervisor, running = up(settings)
    try:
        faults, log = asyncio.run(run_faults(running, supervisor, keys, plan))
        audited = wait_settled(running, log, "faults-pro", 90)
    finally:
        supervisor.stop_all()
    print("\n".join(report(faults, log, audited)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
