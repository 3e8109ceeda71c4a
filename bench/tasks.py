"""The assistant tasks' latency through the whole stack, and completions beside them.

``python -m bench.tasks [--rounds N]`` starts a private stack (as the tests do) and measures,
over the socket as a plugin asks:

- ``find_bugs`` on a 1,000-line Python file (this repository's sources, cut to 1,000 lines):
  request to first frame and to ``end``;
- first chunk of ``explain``, ``docs`` and ``tests`` on a function of that file;
- completion first token while idle, then while another session keeps four tasks running,
  alternating round by round (same run, same model).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from bench.keys import provision
from bench.measure import percentile
from infra.stack import private_settings, up
from schemas.socket import DocOpen
from ws_edge.client import EdgeClient, connect_edge

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["workers/completions.py", "ws_edge/server.py", "workers/core.py", "ide/server.py"]


def thousand_lines() -> str:
    lines: list[str] = []
    for name in SOURCES:
        lines += (ROOT / name).read_text().splitlines()
    return "\n".join(lines[:1000]) + "\n"


def row(name: str, samples: list[float]) -> str:
    return (f"{name:44s} p50 {statistics.median(samples):7.1f}  p90 "
            f"{percentile(samples, 0.9):7.1f}  p99 {percentile(samples, 0.99):7.1f} ms"
            f"  (n={len(samples)})")


async def client(url: str, key: str) -> EdgeClient:
    c = EdgeClient(await connect_edge(url, key))
    await c.start("bench-tasks/1")
    return c


async def timed_task(c: EdgeClient, kind: str, uri: str, version: int, at: int
                     ) -> tuple[float, float]:
    """(first frame, end) in ms."""
    started = time.perf_counter()
    answer = await c.task(kind, uri, version, at, at)  # type: ignore[arg-type]
    await asyncio.wait_for(answer.done.wait(), 30)
    if answer.end is None or answer.end.reason != "stop":
        raise RuntimeError(f"{kind} ended {answer.end} {answer.error}")
    first = answer.first_token_s if answer.first_token_s is not None else 0.0
    return 1000 * first, 1000 * (time.perf_counter() - started)


async def completion_first_token(c: EdgeClient, version: int) -> float:
    # A different first line each round: no answer comes from the completion cache.
    text = (f"# round {version}\ndef moving_average(values, window):\n"
            "    total = sum(values[:window])\n    return ")
    uri = "file:///bench/typing.py"
    await c.send(DocOpen(uri, "python", version, text))
    completion = await c.complete(uri, version, len(text))
    await asyncio.wait_for(completion.done.wait(), 30)
    if completion.first_token_s is None:
        raise RuntimeError(f"no token: {completion.end}")
    return 1000 * completion.first_token_s


async def measure(url: str, keys: list[str], rounds: int, load: list[str]) -> None:
    text = thousand_lines()
    tasker, typist = await client(url, keys[0]), await client(url, keys[1])
    uri = "file:///bench/big.py"
    await tasker.send(DocOpen(uri, "python", 1, text))
    at = text.index("def request_age_ms") + 5 if "def request_age_ms" in text else \
        text.index("def ") + 5
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for kind in ("find_bugs", "explain", "docs", "tests"):
            first, end = await timed_task(tasker, kind, uri, 1, 0 if kind == "find_bugs" else at)
            results.setdefault(f"{kind} first frame", []).append(first)
            results.setdefault(f"{kind} end", []).append(end)
    idle: list[float] = []
    busy: list[float] = []
    version = 1
    for index in range(rounds * 2):
        loaded = index % 2 == 1
        background: list[asyncio.Task[tuple[float, float]]] = []
        if loaded:
            background = [asyncio.create_task(timed_task(tasker, kind, uri, 1, at))
                          for kind in load]
            await asyncio.sleep(0.05)  # the tasks are on their routes
        version += 1
        (busy if loaded else idle).append(await completion_first_token(typist, version))
        await asyncio.gather(*background)
    print(f"find_bugs on a {text.count(chr(10))}-line Python file; tasks on "
          f"`{text[at - 5:text.index('(', at)]}`")
    for name, samples in results.items():
        print(row(name, samples))
    print(row("completion first token, no tasks", idle))
    print(row(f"completion first token, {len(load)} tasks running", busy))
    print(f"ratio of medians (with / without tasks): "
          f"{statistics.median(busy) / statistics.median(idle):.2f}")
    await tasker.close()
    await typist.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--load", default="explain,docs,tests,find_bugs",
                        help="the tasks running while completions are timed")
    args = parser.parse_args(argv)
    # Threshold 0: the model always answers, so every round has a first token to time.
    settings = private_settings("bench-tasks").replace(model_threshold=0.0)
    ring = provision(settings, 2, prefix="bench")
    keys = [ring.take("pro").api_key, ring.take("enterprise").api_key]
    supervisor, running = up(settings)
    try:
        asyncio.run(measure(running.edge_url(), keys, args.rounds, args.load.split(",")))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
