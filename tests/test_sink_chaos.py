"""The analytics sink under kill -9: every feedback event lands exactly once.

100,000 events go through a real broker into a sink process that is killed with SIGKILL at
seeded random moments and restarted; the table must then hold each event exactly once. A
negative control deletes and re-inserts rows in the real engine and checks that the audit sees
the loss, and that a replayed batch is still counted once.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
import uuid
from typing import Any

import clickhouse_connect
import pytest

from analytics.query import QueryError, run_query
from infra.processes import Supervisor, free_port
from infra.settings import Settings
from infra.stack import python_service
from schemas.topics import FeedbackEvent, write_record
from streams.kafka import TopicSpec, ensure_topics, make_producer

pytestmark = pytest.mark.stack

EVENTS = 100_000
KILLS = 4


async def produce(settings: Settings, count: int) -> set[str]:
    producer = make_producer(settings)
    await producer.start()
    ids = set()
    try:
        for n in range(count):
            event_id = f"chaos-{n:06d}"
            ids.add(event_id)
            event = FeedbackEvent(event_id, "s", "t", f"u{n % 97}", "free", f"r{n}",
                                  "accepted" if n % 3 else "rejected", 1_795_000_000_000 + n)
            await producer.send(settings.topic_feedback, write_record(event),
                                key=event.user_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return ids


def audit(query: Any, expected: set[str]) -> tuple[int, int, int]:
    """(rows counted, events missing, events counted more than once) with FINAL semantics."""
    rows = query("SELECT event_id, count() FROM feedback_events FINAL GROUP BY event_id")
    counted = {row[0]: int(row[1]) for row in rows}
    missing = len(expected - counted.keys())
    doubled = sum(1 for c in counted.values() if c > 1) + len(counted.keys() - expected)
    return sum(counted.values()), missing, doubled


def test_kill_9_during_100k_events_loses_and_doubles_nothing(
    running_stack: tuple[Supervisor, Settings],
) -> None:
    _, stack = running_stack
    run = uuid.uuid4().hex[:6]
    settings = stack.replace(stack_instance=f"chaos-{os.getpid()}",
                             topic_feedback=f"chaos-feedback-{run}",
                             topic_completions=f"chaos-completions-{run}",
                             analytics_port=free_port(), sink_batch_rows=1000, sink_batch_ms=300)
    asyncio.run(ensure_topics(settings, [TopicSpec(settings.topic_feedback, 4, 86_400_000),
                                         TopicSpec(settings.topic_completions, 1, 86_400_000)]))
    expected = asyncio.run(produce(settings, EVENTS))
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    rng = random.Random(20261123)

    def remote(sql: str) -> list[list[Any]]:
        rows: list[list[Any]] = run_query(settings, sql)["rows"]
        return rows

    def landed() -> int:
        try:
            return int(remote("SELECT uniqExact(event_id) FROM feedback_events")[0][0])
        except QueryError:
            return 0

    def wait_for(rows: int, timeout_s: float) -> int:
        deadline, seen = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline and (seen := landed()) < rows:
            time.sleep(0.05)
        return seen

    try:
        for round_ in range(KILLS):
            supervisor.start(python_service(settings, "analytics", "analytics"), 90)
            # Kill while it writes: once this round's share has landed, at a random moment.
            before = wait_for((round_ + 1) * EVENTS // (KILLS + 2), 90)
            time.sleep(rng.uniform(0.0, 0.2))
            sink = supervisor.procs["analytics"]
            sink.send_signal(signal.SIGKILL)
            sink.wait(timeout=10)
            supervisor.procs.clear()
            print(f"kill -9 number {round_ + 1} with at least {before} events landed")
        supervisor.start(python_service(settings, "analytics", "analytics"), 90)
        counted = wait_for(EVENTS, 120)
        print(f"events landed at the end: {counted}")
        total, missing, doubled = audit(remote, expected)
        assert (total, missing, doubled) == (EVENTS, 0, 0)
        raw = int(remote("SELECT count() FROM feedback_events")[0][0])
        print(f"rows before collapsing replays: {raw} for {EVENTS} events")
    finally:
        supervisor.stop_all()

    # Negative control, on the same engine and table the sink wrote.
    client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn)
    try:
        def local(sql: str) -> list[list[Any]]:
            return [list(r) for r in client.query(sql).result_rows]

        replay = client.query("SELECT * FROM feedback_events FINAL ORDER BY event_id LIMIT 10")
        client.insert("feedback_events", replay.result_rows, column_names=replay.column_names,
                      settings={"insert_deduplication_token": "replayed-batch"})
        assert audit(local, expected) == (EVENTS, 0, 0), "a replayed batch is counted once"
        client.command("DELETE FROM feedback_events WHERE event_id IN "
                       "('chaos-000001', 'chaos-000002', 'chaos-000003')")
        assert audit(local, expected) == (EVENTS - 3, 3, 0), "the audit sees lost events"
        assert audit(local, expected | {"never-sent"})[1] == 4
    finally:
        client.close()
        shutil.rmtree(settings.stack_home / "clickhouse" / settings.stack_instance,
                      ignore_errors=True)
