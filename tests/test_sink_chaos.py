"""The analytics sink under kill -9: every feedback event lands exactly once.

100,000 events go through a real broker into a sink process that is killed with SIGKILL at
seeded random moments and restarted; the table must then hold each event exactly once, counted
as inserted rows: merges are switched off for the run, so the ReplacingMergeTree cannot collapse
a doubled insert before the audit sees it (no FINAL). Negative controls on the same engine: a
retried batch is counted once while deduplication is on and twice once it is switched off, and
deleted rows are seen as missing.
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
from analytics.schema import create_tables
from config.settings import Settings
from infra.processes import Supervisor, free_port
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
    """(rows inserted, events missing, events inserted more than once), from the raw rows."""
    rows = query("SELECT event_id, count() FROM feedback_events GROUP BY event_id")
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
                             topic_quality=f"chaos-quality-{run}",
                             # Its own groups: sharing the test stack's would make its sinks and
                             # the stack's rebalance together and take each other's partitions.
                             analytics_consumer_group=f"chaos-sink-{run}",
                             analytics_port=free_port(), dashboard_port=free_port(),
                             sink_batch_rows=1000, sink_batch_ms=300)
    asyncio.run(ensure_topics(settings, [TopicSpec(settings.topic_feedback, 4, 86_400_000),
                                         TopicSpec(settings.topic_completions, 1, 86_400_000),
                                         TopicSpec(settings.topic_quality, 1, 86_400_000)]))
    expected = asyncio.run(produce(settings, EVENTS))
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    rng = random.Random(20261123)
    # The tables, made before the sink first runs, with merges switched off (kept in the table's
    # metadata, so every restarted sink keeps them off): every inserted row stays countable.
    client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn)
    try:
        create_tables(client, settings.analytics_retention_days)
        client.command("ALTER TABLE feedback_events MODIFY SETTING "
                       "max_bytes_to_merge_at_max_space_in_pool = 1, "
                       "max_bytes_to_merge_at_min_space_in_pool = 1")
    finally:
        client.close()

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
        print(f"rows inserted: {total} for {EVENTS} events ({missing} missing, {doubled} doubled)")
        assert (total, missing, doubled) == (EVENTS, 0, 0)
        parts = int(remote("SELECT count() FROM system.parts WHERE table = 'feedback_events' "
                           "AND active")[0][0])
        assert parts > 1, "merges stayed off (else duplicates could have been collapsed)"
    finally:
        supervisor.stop_all()

    # Negative control, on the same engine and table the sink wrote.
    client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn)
    try:
        def local(sql: str) -> list[list[Any]]:
            return [list(r) for r in client.query(sql).result_rows]

        control = client.query("SELECT * FROM feedback_events ORDER BY event_id LIMIT 10")
        names = list(control.column_names)
        at = names.index("event_id")
        retried = [[f"control-{n}" if i == at else v for i, v in enumerate(row)]
                   for n, row in enumerate(control.result_rows)]
        ids = expected | {f"control-{n}" for n in range(10)}
        for _ in range(2):  # a batch retried with its token, as the sink retries
            client.insert("feedback_events", retried, column_names=names,
                          settings={"insert_deduplication_token": "retried-batch"})
        assert audit(local, ids) == (EVENTS + 10, 0, 0), "a retried batch is counted once"
        client.command("ALTER TABLE feedback_events MODIFY SETTING "
                       "non_replicated_deduplication_window = 0")  # deduplication off
        client.insert("feedback_events", retried, column_names=names,
                      settings={"insert_deduplication_token": "retried-batch"})
        assert audit(local, ids) == (EVENTS + 20, 0, 10), "without deduplication it doubles"
        client.command("DELETE FROM feedback_events WHERE event_id LIKE 'control-%'")
        client.command("DELETE FROM feedback_events WHERE event_id IN "
                       "('chaos-000001', 'chaos-000002', 'chaos-000003')")
        assert audit(local, expected) == (EVENTS - 3, 3, 0), "the audit sees lost events"
        assert audit(local, expected | {"never-sent"})[1] == 4
    finally:
        client.close()
        shutil.rmtree(settings.stack_home / "clickhouse" / settings.stack_instance,
                      ignore_errors=True)
