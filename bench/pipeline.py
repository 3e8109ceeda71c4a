"""The pipeline benchmark: simulated developers at several concurrencies, one private stack.

``python -m bench.pipeline [--sessions 1,100,1000] [--seconds 20] [--seed 7]`` prints, per
concurrency: keystroke-to-first-token p50/p95/p99 and its split by stage (from the edge's
histograms), pipeline overhead against the model's own time and against the raw Kafka two-hop
floor measured in the same run, inference requests per 100 keystrokes against a fixed 350 ms
debounce replayed on the same keystroke trace, the reuse rate, edge CPU per event, frame
violations; then the edge's memory per idle connection. Each target is printed as met / not met.

Its Redis is its own (a redis-server on a free port, started and stopped with the stack, as the
other benchmarks do) unless ``BENCH_REDIS_URL`` names one: a fresh machine has none to use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import urllib.request

import redis

from bench.first_token import kafka_two_hops
from bench.keys import Keyring, provision
from bench.loadgen import SessionResult, run_load
from bench.measure import cpu_seconds, percentile, rss_kib
from bench.typist import fixed_debounce_fires
from config.settings import Settings
from infra.processes import free_port
from infra.stack import private_settings, up
from schemas.codec import encode
from schemas.socket import Hello
from ws_edge.client import connect_edge


def flush_cache(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match="gen:v1:*"):
            client.delete(key)
    finally:
        client.close()


STAGES = ("edge_to_worker", "debounce", "first_chunk", "worker_to_edge", "total", "overhead")


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def histogram_quantile(after: dict[str, float], before: dict[str, float], name: str,
                       labels: str, q: float) -> float | None:
    """Quantile (seconds) of the observations made between two scrapes, from the buckets."""
    prefix = f"{name}_bucket{{{labels},le=\""
    bounds = sorted((float(k[len(prefix):-2].replace("+Inf", "inf")), k)
                    for k in after if k.startswith(prefix))
    total = delta(after, before, f"{name}_count{{{labels}}}")
    if total <= 0:
        return None
    lower, seen = 0.0, 0.0
    for bound, key in bounds:
        cumulative = delta(after, before, key)
        if cumulative >= q * total:
            if bound == float("inf"):
                return lower
            share = (q * total - seen) / max(cumulative - seen, 1e-9)
            return lower + (bound - lower) * share
        lower, seen = bound, cumulative
    return lower


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def level(settings: Settings, sessions: int, seconds: float, seed: int,
                kafka_p50_ms: float, edge_pid: int) -> None:
    edge_url = f"http://127.0.0.1:{settings.edge_port}/metrics"
    worker_url = f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"
    edge0, worker0, cpu0 = scrape(edge_url), scrape(worker_url), cpu_seconds(edge_pid)
    started = time.perf_counter()
    api_keys = [KEYRING.take("pro").api_key for _ in range(sessions)]
    results: list[SessionResult] = await run_load(settings.edge_url(0), api_keys, seed, seconds)
    wall = time.perf_counter() - started
    edge1, worker1, cpu1 = scrape(edge_url), scrape(worker_url), cpu_seconds(edge_pid)

    first = [ms for r in results for ms in r.first_token_ms]
    keys = sum(r.keystrokes for r in results)
    requests = sum(r.requests for r in results)
    violations = [v for r in results for v in r.violations]
    errors = [e for r in results for e in r.errors]
    fixed = sum(fixed_debounce_fires(r.key_times_ms, 350) for r in results)
    source = 'worker_requests_total{source="%s"}'
    answered = {s: delta(worker1, worker0, source % s)
                for s in ("inferred", "shared", "cached", "typed_as_suggested")}
    total_answered = sum(answered.values()) or 1.0
    print(f"\n== {sessions} concurrent session(s), {wall:.0f} s: {keys} keystrokes, {requests} "
          f"complete requests, {len(first)} answered with tokens, "
          f"{sum(r.accepted for r in results)} accepted")
    if first:
        print(f"keystroke -> first token ms: p50 {statistics.median(first):.1f}  "
              f"p95 {percentile(first, 0.95):.1f}  p99 {percentile(first, 0.99):.1f}")
    split = []
    for stage in STAGES:
        p50 = histogram_quantile(edge1, edge0, "completion_first_token_stage_seconds",
                                 f'stage="{stage}"', 0.5)
        p99 = histogram_quantile(edge1, edge0, "completion_first_token_stage_seconds",
                                 f'stage="{stage}"', 0.99)
        if p50 is not None and p99 is not None:
            split.append(f"{stage} {p50 * 1000:.1f}/{p99 * 1000:.1f}")
    print("stage split p50/p99 ms (edge histograms): " + ", ".join(split))
    overhead_p50 = histogram_quantile(edge1, edge0, "completion_first_token_stage_seconds",
                                      'stage="overhead"', 0.5)
    overhead_p99 = histogram_quantile(edge1, edge0, "completion_first_token_stage_seconds",
                                      'stage="overhead"', 0.99)
    debounce_p50 = histogram_quantile(edge1, edge0, "completion_first_token_stage_seconds",
                                      'stage="debounce"', 0.5)
    if overhead_p50 is not None and overhead_p99 is not None:
        print(f"pipeline overhead (first token minus the model's time to its first chunk, per "
              f"request): p50 {overhead_p50 * 1000:.1f} ms, p99 {overhead_p99 * 1000:.1f} ms; "
              f"Kafka two-hop floor p50 {kafka_p50_ms:.1f} ms -> p50 <= 2x floor: "
              f"{verdict(overhead_p50 * 1000 <= 2 * kafka_p50_ms)}; p99 <= 25 ms: "
              f"{verdict(overhead_p99 * 1000 <= 25)}")
    if debounce_p50 is not None:
        print(f"debounce adds p50 {debounce_p50 * 1000:.1f} ms -> <= 25 ms: "
              f"{verdict(debounce_p50 * 1000 <= 25)}")
    ours = answered["inferred"] / max(keys, 1) * 100
    baseline = fixed / max(keys, 1) * 100
    print(f"inference requests per 100 keystrokes: {ours:.1f} (fixed 350 ms debounce on the same "
          f"trace: {baseline:.1f}) -> <= 0.5x: {verdict(ours <= 0.5 * baseline)}")
    reused = total_answered - answered["inferred"]
    print(f"answers by source: {', '.join(f'{k} {int(v)}' for k, v in answered.items())}; "
          f"reuse rate {reused / total_answered:.1%}")
    events = keys + requests
    cpu = cpu1 - cpu0
    print(f"edge: {events} incoming edits and requests in {cpu:.2f} CPU s (the CPU also routes "
          f"every reply) -> {events / max(cpu, 1e-9):.0f} per CPU-second")
    unanswered = sum(r.unanswered for r in results)
    print(f"requests without an end when their session closed: {unanswered}")
    hints = sum(r.slow_downs for r in results)
    if hints:
        print(f"slow-down hints received: {hints} (sessions then space their requests)")
    jumps = sum(r.cursor_jumps for r in results)
    print(f"cursor jumps away and back: {jumps}")
    closed = [r.closed_by_server for r in results if r.closed_by_server]
    if closed:
        print(f"sessions closed by the server: {len(closed)} of {sessions} "
              f"({sorted(set(closed))[:3]})")
    if violations:
        kinds = sorted({v.split(" ")[0] + " " + v.split(" ")[1] for v in violations})
        print(f"violation kinds: {kinds}; first: {violations[:3]}")
    print(f"frame violations (foreign token, token after end): {len(violations)} -> zero: "
          f"{verdict(not violations)}; error frames: {len(errors)} {sorted(set(errors))}")


async def idle_memory(settings: Settings, edge_pid: int, count: int) -> None:
    before = rss_kib(edge_pid)
    sockets = []
    try:
        for _ in range(count):
            ws = await connect_edge(settings.edge_url(0), KEYRING.take("free").api_key,
                                    open_timeout=60)
            await ws.send(encode(Hello(protocol=1, client="idle")).decode())
            await ws.recv()
            sockets.append(ws)
        await asyncio.sleep(1)
        after = rss_kib(edge_pid)
        per = (after - before) / count
        print(f"\nedge memory: {count} idle sessions added {after - before} KiB -> {per:.1f} KiB "
              f"per session; <= 30 KiB: {verdict(per <= 30)}")
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def measure(settings: Settings, levels: list[int], seconds: float, seed: int,
                  idle: int) -> None:
    kafka = await kafka_two_hops(settings, 200)
    kafka_p50 = statistics.median(kafka)
    print(f"kafka two-hop round trip (floor) ms: p50 {kafka_p50:.2f}  p99 {percentile(kafka, 0.99):.2f}")
    edge_pid = int((settings.run_dir / "edge-0.pid").read_text())
    for sessions in levels:
        # A seed per level: the same trace twice would be answered from the completion cache.
        await level(settings, sessions, seconds, seed + sessions, kafka_p50, edge_pid)
    if idle:
        await idle_memory(settings, edge_pid, idle)


#: API keys provisioned for this run (one user per simulated developer).
KEYRING = Keyring()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--sessions", default="1,100,1000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--idle", type=int, default=2000, help="idle sessions for the memory test")
    args = parser.parse_args()
    # An unreachable URL makes ``up`` start a redis-server of its own (stopped with the stack).
    redis_url = os.environ.get("BENCH_REDIS_URL") or f"redis://127.0.0.1:{free_port()}/0"
    settings = private_settings("bench-pipeline", redis_url=redis_url)
    levels = [int(s) for s in args.sessions.split(",")]
    KEYRING.pools = provision(settings, max(sum(levels), args.idle), prefix="bench").pools
    supervisor, running = up(settings)
    try:
        flush_cache(running.redis_url)  # a given Redis's earlier cached completions would flatter
        asyncio.run(measure(running, levels, args.seconds, args.seed, args.idle))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
