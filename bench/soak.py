"""The soak benchmark: completions back to back for a long time, window by window.

``python -m bench.soak [--minutes 30] [--window-s 300] [--sessions 1] [--idle-s 60]`` starts a
private stack, measures its idle CPU (every component, children included, over ``--idle-s``
after a warm-up), then runs ``--sessions`` clients that each repeat, back to back: open a
document (a real source file cut at a random line, then a line no request had before, so no
answer comes from the cache), ask for a
completion at a line's end, wait for its ``end``, send feedback, close the document (4 frames
per request, as in the issue that asked for this). Per window it prints request time and first
token p50 / p99, requests, and every component's CPU; then the idle CPU again after the load
(a long run must not leave a busier stack behind), and every request that got no ``end`` within
``REQUEST_DEADLINE_MS`` plus the worker's generation time limit. Targets are printed as met or
not: last window p50 and p99 within 1.2x of the first; 0 requests without an end; idle stack at
most 5 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

from bench.keys import provision
from bench.loadgen import ask_fresh, stdlib_sources
from bench.measure import percentile, stack_cpu_seconds
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.socket import DocClose, Feedback
from workers.completions import GENERATION_TIMEOUT_S
from ws_edge.client import EdgeClient, connect_edge

#: Idle cost target: all processes together, share of one core.
IDLE_TARGET = 0.05
#: The last window's p50 and p99 may be at most this many times the first window's.
DRIFT_TARGET = 1.2


@dataclass
class Window:
    """What happened in one window of the run."""

    started_s: float
    request_ms: list[float] = field(default_factory=list)
    first_token_ms: list[float] = field(default_factory=list)
    unended: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)


@dataclass
class SoakResult:
    windows: list[Window]
    idle_before: dict[str, float]
    idle_after: dict[str, float]
    unended: int
    requests: int


async def idle_cpu(settings: Settings, seconds: float) -> dict[str, float]:
    """Each component's CPU over ``seconds`` of an idle stack, as a share of one core."""
    before = stack_cpu_seconds(settings.run_dir)
    await asyncio.sleep(seconds)
    after = stack_cpu_seconds(settings.run_dir)
    return {name: (after[name] - before.get(name, 0.0)) / seconds for name in after}


async def one_session(settings: Settings, api_key: str, seed: int, stop_at: float,
                      record: list[tuple[float, float | None, bool]]) -> None:
    """Requests back to back until ``stop_at`` (perf_counter); appends (request ms, first token
    ms, ended in time) per request."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    limit_s = settings.request_deadline_ms / 1000 + GENERATION_TIMEOUT_S
    sources = stdlib_sources()
    async with connect_edge(settings.edge_url(0), api_key, max_size=None) as connection:
        client = EdgeClient(connection)
        await client.start("soak/1")
        while time.perf_counter() < stop_at:
            uri, completion = await ask_fresh(client, rng, sources, "soak")
            try:
                await asyncio.wait_for(completion.done.wait(), limit_s)
                ended = True
            except TimeoutError:
                ended = False
            elapsed_ms = (time.perf_counter() - completion.sent_s) * 1000
            first = None if completion.first_token_s is None else completion.first_token_s * 1000
            record.append((elapsed_ms, first, ended))
            kind = "accepted" if completion.text and rng.random() < 0.3 else "rejected"
            if completion.text:
                await client.send(Feedback(uuid.uuid4().hex, completion.request_id, kind,  # type: ignore[arg-type]
                                           accepted_chars=len(completion.text) if kind == "accepted"
                                           else None, latency_ms=int(first or 0)))
            await client.send(DocClose(uri))
        await client.close()


async def soak(settings: Settings, api_keys: list[str], seconds: float, window_s: float,
               idle_s: float, warmup_s: float = 0.0, load_warmup_s: float = 0.0) -> SoakResult:
    """Idle, warm-up load, load in windows, idle again: against a running stack."""
    if warmup_s:
        await asyncio.sleep(warmup_s)
    idle_before = await idle_cpu(settings, idle_s)
    if load_warmup_s:  # first requests warm the model and the JIT-compiled broker: not counted
        await asyncio.gather(*(one_session(settings, key, -1 - n, time.perf_counter() + load_warmup_s,
                                           []) for n, key in enumerate(api_keys)))
    records: list[list[tuple[float, float | None, bool]]] = [[] for _ in api_keys]
    started = time.perf_counter()
    stop_at = started + seconds
    sessions = [asyncio.create_task(one_session(settings, key, n, stop_at, records[n]))
                for n, key in enumerate(api_keys)]
    windows: list[Window] = []
    seen = [0] * len(api_keys)
    while True:
        window = Window(time.perf_counter() - started)
        cpu_before = stack_cpu_seconds(settings.run_dir)
        remaining = stop_at - time.perf_counter()
        # The last window waits for the sessions' last requests to end.
        timeout = None if remaining <= window_s else window_s
        done, _ = await asyncio.wait(sessions, timeout=timeout)
        for task in done:
            task.result()  # a session that failed fails the benchmark, loudly
        cpu_after = stack_cpu_seconds(settings.run_dir)
        span = time.perf_counter() - started - window.started_s
        window.cpu_s = {n: (cpu_after[n] - cpu_before.get(n, 0.0)) / span for n in cpu_after}
        for n, session in enumerate(records):
            for elapsed, first, ended in session[seen[n]:]:
                window.request_ms.append(elapsed)
                if first is not None:
                    window.first_token_ms.append(first)
                window.unended += not ended
            seen[n] = len(session)
        windows.append(window)
        if all(task.done() for task in sessions):
            break
    await asyncio.sleep(5)  # the last feedback and usage settle before idle is measured
    idle_after = await idle_cpu(settings, idle_s)
    return SoakResult(windows, idle_before, idle_after,
                      sum(w.unended for w in windows), sum(len(w.request_ms) for w in windows))


def report(result: SoakResult) -> list[str]:
    """The printed report; each target is marked met / not met."""
    lines = []

    def cpu_line(title: str, shares: dict[str, float]) -> str:
        parts = ", ".join(f"{name} {share * 100:.1f}%" for name, share in sorted(shares.items()))
        return f"{title}: total {sum(shares.values()) * 100:.1f}% of one core ({parts})"

    lines.append(cpu_line("idle before load", result.idle_before))
    lines.append(f"{'window':>8} {'requests':>8} {'req p50':>8} {'req p99':>8} {'ft p50':>7} "
                 f"{'ft p99':>7} {'unended':>7}  cpu (share of one core)")
    for window in result.windows:
        cpu = " ".join(f"{n}={s * 100:.0f}%" for n, s in sorted(window.cpu_s.items()))
        lines.append(
            f"{window.started_s:7.0f}s {len(window.request_ms):8d} "
            f"{percentile(window.request_ms, 0.5):8.1f} {percentile(window.request_ms, 0.99):8.1f} "
            f"{percentile(window.first_token_ms, 0.5):7.1f} "
            f"{percentile(window.first_token_ms, 0.99):7.1f} {window.unended:7d}  {cpu}")
    lines.append(cpu_line("idle after load", result.idle_after))
    full = [w for w in result.windows if w.request_ms]
    if len(full) >= 2:
        first, last = full[0], full[-1]
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            ratio = percentile(last.request_ms, q) / percentile(first.request_ms, q)
            lines.append(f"request time {name}, last window / first: {ratio:.2f} "
                         f"(target <= {DRIFT_TARGET}: {'met' if ratio <= DRIFT_TARGET else 'NOT met'})")
    lines.append(f"requests: {result.requests}; without an end in time: {result.unended} "
                 f"(target 0: {'met' if result.unended == 0 else 'NOT met'})")
    for title, shares in (("before", result.idle_before), ("after", result.idle_after)):
        total = sum(shares.values())
        lines.append(f"idle stack {title} load: {total * 100:.1f}% of one core (target <= "
                     f"{IDLE_TARGET * 100:.0f}%: {'met' if total <= IDLE_TARGET else 'NOT met'})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--window-s", type=float, default=300.0)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=60.0,
                        help="wait after start before measuring idle (the JVM compiles at first)")
    parser.add_argument("--load-warmup-s", type=float, default=30.0,
                        help="requests before the first window, not counted")
    args = parser.parse_args()
    settings = private_settings("soak")
    ring = provision(settings, args.sessions, prefix="soak")
    keys = [ring.take("pro").api_key for _ in range(args.sessions)]
    supervisor, running = up(settings)
    try:
        result = asyncio.run(soak(running, keys, args.minutes * 60, args.window_s, args.idle_s,
                                  args.warmup_s, args.load_warmup_s))
    finally:
        supervisor.stop_all()
    print("\n".join(report(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
