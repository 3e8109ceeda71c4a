"""The numbers of the feedback-to-money path, each with its baseline from the same run.

``python -m bench.analytics [--events 100000] [--quota-checks 5000] [--accepts 30]`` starts a
private stack and prints:

- sink throughput: rows per second of wall time and per CPU-second of the analytics process,
  for ``--events`` feedback events produced into its topic at once;
- quota check latency p50/p99 (the atomic Lua script, through the worker's own client) against
  a plain Redis ``INCR`` on the same connection pool, interleaved;
- accept-to-queryable delay: from an ``accepted`` feedback frame on the socket to its row being
  returned by the analytics endpoint (bounded below by the sink's ``SINK_BATCH_MS``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from analytics.query import QueryError, run_query
from bench.keys import provision
from bench.measure import cpu_seconds, percentile
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.socket import DocOpen, Feedback
from schemas.topics import FeedbackEvent, write_record
from streams.kafka import make_producer
from streams.redis_client import make_redis
from workers.quota import QuotaGate
from ws_edge.client import EdgeClient, connect_edge

SOURCE = "import os\n\n\ndef read_config(path):\n    with open(path) as handle:\n        return "


def landed(settings: Settings, prefix: str) -> int:
    try:
        sql = f"SELECT uniqExact(event_id) FROM feedback_events WHERE startsWith(event_id, '{prefix}')"  # noqa: S608
        rows = run_query(settings, sql)["rows"]
    except QueryError:
        return 0
    return int(rows[0][0])


async def sink_throughput(settings: Settings, events: int) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    pid = int((settings.run_dir / "analytics.pid").read_text())
    producer = make_producer(settings)
    await producer.start()
    cpu0, started = cpu_seconds(pid), time.monotonic()
    try:
        now = time.time_ns() // 1_000_000
        for n in range(events):
            event = FeedbackEvent(f"{prefix}{n:07d}", "s", "bench", f"u{n % 997}", "free",
                                  f"r{n}", "accepted" if n % 3 else "rejected", now + n)
            await producer.send(settings.topic_feedback, write_record(event),
                                key=event.user_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    produced = time.monotonic() - started
    count = await until_landed(settings, prefix, events, 0.2, 600)
    wall, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu0
    print(f"sink: {count} of {events} rows queryable {wall:.1f} s after the first was produced "
          f"(producing took {produced:.1f} s; the sink consumed meanwhile): {count / wall:,.0f} "
          f"rows/s of wall time, {count / cpu:,.0f} rows per CPU-second of the analytics process "
          f"({cpu:.1f} CPU s, including the queries polling for them)")


async def until_landed(settings: Settings, prefix: str, rows: int, poll_s: float,
                       timeout_s: float) -> int:
    count = 0
    for _ in range(int(timeout_s / poll_s)):
        count = await asyncio.to_thread(landed, settings, prefix)
        if count >= rows:
            break
        await asyncio.sleep(poll_s)
    return count


async def quota_latency(redis_url: str, checks: int) -> None:
    """The quota check against a bare ``INCR`` on the stack's own Redis (its keys removed)."""
    client = make_redis(redis_url)
    gate = QuotaGate(client)
    ours, incr = [], []
    now = time.time_ns() // 1_000_000
    try:
        for n in range(checks):
            user = f"bench-{n % 500}"
            started = time.perf_counter()
            await gate.take("bench", user, 1_000_000, now)
            ours.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await client.incr(f"bench:incr:{user}")
            incr.append((time.perf_counter() - started) * 1000)
        for key in [k async for k in client.scan_iter(match="quota:v1:bench:*")]:
            await client.delete(key)
        for key in [k async for k in client.scan_iter(match="bench:incr:*")]:
            await client.delete(key)
    finally:
        await client.aclose()
    print(f"quota check (atomic script): p50 {statistics.median(ours):.3f} ms, "
          f"p99 {percentile(ours, 0.99):.3f} ms; plain INCR baseline: p50 "
          f"{statistics.median(incr):.3f} ms, p99 {percentile(incr, 0.99):.3f} ms "
          f"({checks} each, interleaved)")


async def accept_to_queryable(settings: Settings, api_key: str, accepts: int) -> None:
    delays = []
    async with connect_edge(settings.edge_url(0), api_key) as ws:
        client = EdgeClient(ws)
        await client.start()
        for n in range(accepts):
            text = f"# step {n}\n{SOURCE}"
            await client.send(DocOpen("file:///acc.py", "python", n + 1, text))
            completion = await client.complete("file:///acc.py", n + 1, len(text))
            await asyncio.wait_for(completion.done.wait(), 30)
            event_id = f"acc-{uuid.uuid4().hex[:16]}"
            started = time.monotonic()
            await client.send(Feedback(event_id, completion.request_id, "accepted"))
            await until_landed(settings, event_id, 1, 0.01, 60)
            delays.append((time.monotonic() - started) * 1000)
        await client.close()
    print(f"accept on the socket -> row queryable: p50 {statistics.median(delays):.0f} ms, "
          f"p99 {percentile(delays, 0.99):.0f} ms, max {max(delays):.0f} ms ({accepts} accepts; "
          f"SINK_BATCH_MS = {settings.sink_batch_ms})")


async def measure(settings: Settings, api_key: str, args: argparse.Namespace) -> None:
    await quota_latency(settings.redis_url, args.quota_checks)
    await accept_to_queryable(settings, api_key, args.accepts)
    await sink_throughput(settings, args.events)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quota-checks", type=int, default=5000)
    parser.add_argument("--accepts", type=int, default=30)
    args = parser.parse_args()
    settings = private_settings("bench-analytics")
    api_key = provision(settings, 1, prefix="bench").take("pro").api_key
    supervisor, running = up(settings)
    try:
        asyncio.run(measure(running, api_key, args))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
