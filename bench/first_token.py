"""First-token latency through the whole stack, with its baselines measured in the same run.

``python -m bench.first_token [--requests N]`` starts a private stack (as the tests do), then
measures, on the same prompts:

- ``kafka 2-hop``: produce -> consume -> produce -> consume on the same broker with the same
  client settings as the edge and worker (the floor the pipeline's two Kafka hops cost);
- ``triton direct``: the worker's Triton adapter alone, prompt -> first streamed token;
- ``end to end``: a WebSocket client's ``complete`` -> first ``token`` frame, and -> ``end``.

Prints p50 / p95 / p99 in milliseconds. Sequential requests from one session: this is the
latency of an idle stack, not a load test. The headline figures are compared with the last
recorded ones (``bench/recorded.py``; ``--record`` makes this run's the new reference).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sysconfig
import time
from pathlib import Path

from bench.keys import provision
from bench.measure import percentile
from bench.recorded import report
from config.settings import Settings
from documents.document import Document
from infra.stack import private_settings, up
from schemas.socket import DocOpen
from streams.kafka import TopicSpec, ensure_topics, make_consumer, make_producer
from workers.inference import TritonBackend
from workers.prompt import build_prompt
from ws_edge.client import EdgeClient, connect_edge

SOURCE = Path(sysconfig.get_paths()["stdlib"]) / "json" / "encoder.py"


def percentiles(samples_ms: list[float]) -> str:
    return (f"p50 {statistics.median(samples_ms):7.2f}  p95 {percentile(samples_ms, 0.95):7.2f}  "
            f"p99 {percentile(samples_ms, 0.99):7.2f}  (n={len(samples_ms)})")


def typing_states(text: str, count: int, seed: int = 7) -> list[tuple[str, int]]:
    """Seeded (document, cursor) pairs of a typist who has written a line up to the cursor:
    the rest of that line is not there yet, the lines after it are."""
    candidates = [i for i in range(1, len(text)) if text[i - 1].isalnum() and text[i] != "\n"]
    states = []
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    for offset in sorted(rng.sample(candidates, min(count, len(candidates)))):
        line_end = text.find("\n", offset)
        states.append((text[:offset] + text[line_end:], offset))
    return states


async def kafka_two_hops(settings: Settings, rounds: int) -> list[float]:
    hop1, hop2 = "bench-hop-1", "bench-hop-2"
    await ensure_topics(settings, [TopicSpec(hop1, 1, 60_000), TopicSpec(hop2, 1, 60_000)])
    producer = make_producer(settings)
    relay_in = make_consumer(settings, hop1, group_id=None)
    sink = make_consumer(settings, hop2, group_id=None)
    for client in (producer, relay_in, sink):
        await client.start()

    async def relay() -> None:
        while True:
            batches = await relay_in.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    await producer.send(hop2, record.value)

    relay_task = asyncio.create_task(relay())
    await asyncio.sleep(1.0)  # let both consumers settle on the log end
    samples = []
    try:
        for i in range(rounds):
            started = time.perf_counter()
            await producer.send(hop1, str(i).encode())
            while True:
                batches = await sink.getmany(timeout_ms=100)
                if any(r.value == str(i).encode() for rs in batches.values() for r in rs):
                    break
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        relay_task.cancel()
        for client in (relay_in, sink, producer):
            await client.stop()
    return samples


async def triton_direct(settings: Settings, states: list[tuple[str, int]]) -> list[float]:
    backend = TritonBackend(settings.triton_grpc, settings.triton_model)
    samples = []
    try:
        for n, (text, offset) in enumerate(states):
            doc = Document("bench", "python", 1, text)
            prompt = build_prompt(doc, offset, settings.prompt_prefix_chars,
                                  settings.prompt_suffix_chars)
            started = time.perf_counter()
            first = None
            async for _ in backend.stream(prompt, settings.max_completion_tokens, f"b{n}"):
                first = first or time.perf_counter()
            if first is not None:
                samples.append((first - started) * 1000)
    finally:
        await backend.close()
    return samples


async def end_to_end(settings: Settings, api_key: str, states: list[tuple[str, int]]
                     ) -> tuple[list[float], list[float], int]:
    first_ms, total_ms, empty = [], [], 0
    async with connect_edge(settings.edge_url(0), api_key) as connection:
        client = EdgeClient(connection)
        await client.start()
        for version, (text, offset) in enumerate(states, start=1):
            await client.send(DocOpen("file:///bench.py", "python", version, text))
            completion = await client.complete("file:///bench.py", version, offset)
            await asyncio.wait_for(completion.done.wait(), 30)
            total_ms.append((time.perf_counter() - completion.sent_s) * 1000)
            if completion.first_token_s is None:
                empty += 1
            else:
                first_ms.append(completion.first_token_s * 1000)
        await client.close()
    return first_ms, total_ms, empty


async def measure(settings: Settings, api_key: str, requests: int) -> dict[str, float]:
    states = typing_states(SOURCE.read_text(), requests)
    print(f"prompts: {len(states)} seeded mid-line typing states of {SOURCE}")
    kafka = await kafka_two_hops(settings, requests)
    triton = await triton_direct(settings, states)
    first, total, empty = await end_to_end(settings, api_key, states)
    print(f"kafka 2-hop round trip      ms: {percentiles(kafka)}")
    print(f"triton direct, first token  ms: {percentiles(triton)}")
    print(f"end to end, first token     ms: {percentiles(first)}")
    print(f"end to end, whole completion ms: {percentiles(total)}")
    print(f"completions with no token (the model declined): {empty} of {len(states)}")
    overhead = statistics.median(first) - statistics.median(triton)
    print(f"pipeline overhead (p50 e2e first token - p50 triton first token): {overhead:.2f} ms; "
          f"kafka 2-hop p50 in the same run: {statistics.median(kafka):.2f} ms")
    return {"end_to_end_p50_ms": statistics.median(first), "end_to_end_p99_ms": percentile(first, 0.99),
            "triton_p50_ms": statistics.median(triton), "kafka_two_hops_p50_ms": statistics.median(kafka)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_token")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--record", action="store_true",
                        help="make this run's headline figures the recorded reference")
    args = parser.parse_args()
    settings = private_settings("bench")
    api_key = provision(settings, 1, prefix="bench").take("pro").api_key
    supervisor, running = up(settings)
    try:
        figures = asyncio.run(measure(running, api_key, args.requests))
    finally:
        supervisor.stop_all()
    report("first_token", figures, args.record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
