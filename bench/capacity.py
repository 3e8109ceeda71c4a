"""The capacity benchmark: offered load in steps, what is admitted, refused, and what it costs.

``python -m bench.capacity [--rates 10,20,40,80] [--seconds 20] [--slots 4] [--workers 1]
[--threshold 0] [--null-model] [--record]`` starts a private stack (``--threshold 0``, the
default: the model answers every request, the costliest case; ``--threshold -1``: the model's own
default) and, per step, offers ``rate`` completion requests a second from ``rate /
session-rate`` sessions (open loop, jittered), each waiting for its request's ``end`` before the
next. Two workloads: ``fresh`` (the default with the model) opens a new document cut from a
standard-library file for every request and closes it after (every request a cold prompt: the
model's costliest case); ``typing`` (the default with ``--null-model``) opens one document per
session and, per request, types a new line into it, asks, and reports the answer ``rejected``
(the frames an editor sends while its user types). Every request has a new line before the
cursor, so no answer comes from a cache.

``--null-model`` serves ``null_stream`` (bench/null_model: a load generator that streams
``--null-tokens`` fixed pieces, one every ``--null-token-ms``, computing nothing) instead of the
model, from a scratch copy of the model repository: what is left is the plumbing's own cost.

Per step it prints: requests offered and ended per second, answered by the model (``stop`` /
``length``) per second, the share refused ``overloaded`` (and other reasons), first-frame latency
p50 / p99 of the answered (the first token, or the end when the model had nothing), requests
without an ``end``, each component's CPU ms per answered completion (the capacity model's input)
and the plumbing's sum (edge, broker, workers, analytics, usage: everything but the model,
Redis and the load generator). The capacity is the highest step whose answered p99 stays under
250 ms (the product's first-token p99; 100 ms with ``--null-model``, where no model's time is in
it) with under 1 % refused and every request ended. Last, the capacity model at the seed's peak of
50,000 completions/s from the costs of the busiest step that ended every request (a fleet's
processes run busy): cores per component and records per second per topic, measured and assumed
figures named apart. The headline figures are compared with the last recorded ones
(``bench/recorded.py``; ``--record`` makes this run's the new reference).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.first_token import kafka_two_hops
from bench.keys import provision
from bench.loadgen import ask_fresh, stdlib_sources
from bench.measure import percentile, stack_cpu_seconds
from bench.model import configure
from bench.recorded import report as compare_with_recorded
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.socket import DocChange, DocClose, DocOpen, Feedback, TextEdit
from socket_client.answers import Answer
from streams.kafka import make_consumer, topic_partitions
from workers.inference import TritonBackend
from workers.prompt import Prompt
from ws_edge.client import EdgeClient, connect_edge

P99_TARGET_MS = 250.0
#: Without a model, the first frame is the plumbing's alone: the product's first-token target.
NULL_P99_TARGET_MS = 100.0
#: The processes that move a completion (everything but the model, Redis and the load generator).
PLUMBING = ("edge", "broker", "worker", "analytics", "usage")
NULL_MODEL = Path(__file__).parent / "null_model" / "null_stream"


@dataclass
class Step:
    rate: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    unended: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    p99_target_ms: float = P99_TARGET_MS
    #: How long the step really ran (its last requests end after ``seconds``).
    wall_s: float = 0.0
    #: Records written to each topic during the step.
    records: Counter[str] = field(default_factory=Counter)

    @property
    def answered(self) -> int:
        return self.reasons["stop"] + self.reasons["length"]

    @property
    def ended(self) -> int:
        return sum(self.reasons.values())

    @property
    def refused_share(self) -> float:
        return self.reasons["overloaded"] / max(1, self.ended + self.unended)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)

    def meets(self) -> bool:
        return (bool(self.latencies_ms) and self.p99_ms < self.p99_target_ms
                and self.refused_share < 0.01 and self.unended == 0)

    def cpu_ms(self, component: str) -> float:
        """CPU ms per answered completion of one component (``worker`` sums every worker)."""
        seconds = sum(s for n, s in self.cpu_s.items()
                      if n == component or n.startswith(f"{component}-"))
        return seconds / max(1, self.answered) * 1000

    @property
    def plumbing_ms(self) -> float:
        return sum(self.cpu_ms(c) for c in PLUMBING)


async def session(settings: Settings, api_key: str, seed: int, stop_at: float, step: Step,
                  sources: list[str], workload: str, interval_s: float) -> None:
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload
    await asyncio.sleep(rng.random() * interval_s)
    async with connect_edge(settings.edge_url(0), api_key, max_size=None) as connection:
        client = EdgeClient(connection)
        await client.start("capacity/1")
        typing = _Typing(client, rng, sources) if workload == "typing" else None
        if typing is not None:
            await typing.open()
        next_at = time.perf_counter()
        while next_at < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += rng.uniform(0.5, 1.5) * interval_s
            if typing is not None:
                completion = await typing.ask()
            else:
                uri, completion = await ask_fresh(client, rng, sources, "cap")
            try:
                await asyncio.wait_for(completion.done.wait(), 35)
            except TimeoutError:
                step.unended += 1
                continue
            finally:
                if typing is None:
                    await client.send(DocClose(uri))
            reason = completion.end.reason if completion.end else "?"
            step.reasons[f"error: {completion.end.detail}" if completion.end and reason == "error"
                         else reason] += 1
            if reason in ("stop", "length"):
                first = completion.first_token_s
                if first is None:
                    first = time.perf_counter() - completion.sent_s  # ended with nothing
                step.latencies_ms.append(first * 1000)
                if typing is not None and completion.end and completion.end.chunks:
                    await client.send(Feedback(uuid.uuid4().hex, completion.request_id,
                                               "rejected"))
        await client.close()


class _Typing:
    """One document per session; each request types a new line at its end and asks there."""

    def __init__(self, client: EdgeClient, rng: random.Random, sources: list[str]) -> None:
        self._client = client
        lines = rng.choice(sources).splitlines(keepends=True)
        self.text = "".join(lines[:rng.randrange(5, len(lines))])
        self.uri = f"file:///cap/{uuid.uuid4().hex[:8]}.py"
        self.version = 1
        self.asked = 0

    async def open(self) -> None:
        await self._client.send(DocOpen(self.uri, "python", self.version, self.text))

    async def ask(self) -> Answer:
        """A few characters typed at the end (a new line every eighth request), then ask."""
        self.asked += 1
        typed = ("\n" if self.asked % 8 == 0 else "") + f"c{uuid.uuid4().hex[:5]}="
        at = len(self.text)
        self.text += typed
        self.version += 1
        await self._client.send(DocChange(self.uri, self.version, (TextEdit(at, at, typed),)))
        return await self._client.complete(self.uri, self.version, len(self.text))


async def one_session(settings: Settings, api_key: str, requests: int) -> dict[str, float]:
    """One developer typing alone on the stack (a request every 100 ms, each waited for): the
    first frame against the model's own first piece (Triton asked directly) and the Kafka
    two-hop floor, all measured here and now."""
    floor = await kafka_two_hops(settings, requests)
    backend = TritonBackend(settings.triton_grpc, settings.triton_model)
    direct = []
    try:
        for n in range(requests):
            started = time.perf_counter()
            async for _ in backend.stream(Prompt(f"x{n} = ", "", "python"), 1, f"d{n}"):
                direct.append((time.perf_counter() - started) * 1000)
    finally:
        await backend.close()
    first = []
    async with connect_edge(settings.edge_url(0), api_key, max_size=None) as connection:
        client = EdgeClient(connection)
        await client.start("capacity/1")
        typing = _Typing(client, random.Random(1), stdlib_sources())  # noqa: S311 - a workload
        await typing.open()
        for _ in range(requests):
            await asyncio.sleep(0.1)
            answer = await typing.ask()
            await asyncio.wait_for(answer.done.wait(), 30)
            if answer.first_token_s is not None:
                first.append(answer.first_token_s * 1000)
        await client.close()
    overhead = percentile(first, 0.5) - percentile(direct, 0.5)
    return {"first_frame_p50_ms": percentile(first, 0.5), "first_frame_p99_ms":
            percentile(first, 0.99), "model_alone_p50_ms": percentile(direct, 0.5),
            "overhead_p50_ms": overhead, "two_hop_floor_p50_ms": percentile(floor, 0.5),
            "overhead_over_floor": overhead / percentile(floor, 0.5)}


async def end_offsets(settings: Settings, topics: list[str]) -> Counter[str]:
    """Records written so far to each of ``topics`` (their partitions' end offsets summed)."""
    partitions = await topic_partitions(settings, topics)
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    totals: Counter[str] = Counter()
    for tp, end in ends.items():
        totals[tp.topic] += end
    return totals


def topics_of(settings: Settings) -> list[str]:
    return [settings.topic_editor_events, settings.topic_replies, settings.topic_feedback,
            settings.topic_completions, settings.topic_quality, settings.topic_usage]


async def run_step(settings: Settings, keys: list[str], rate: int, seconds: float,
                   workload: str = "fresh", session_rate: float = 1.0,
                   p99_target_ms: float = P99_TARGET_MS) -> Step:
    """``rate`` requests a second from ``rate / session_rate`` sessions."""
    step = Step(rate, seconds, p99_target_ms=p99_target_ms)
    sources = stdlib_sources()
    sessions = max(1, round(rate / session_rate))
    records_before = await end_offsets(settings, topics_of(settings))
    before = stack_cpu_seconds(settings.run_dir)
    own_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(session(settings, keys[n % len(keys)], rate * 1000 + n,
                                   started + seconds, step, sources, workload,
                                   sessions / rate) for n in range(sessions)))
    after = stack_cpu_seconds(settings.run_dir)
    step.cpu_s = {name: after[name] - before.get(name, 0.0) for name in after}
    # The load generator shares the machine: what it costs is said, never counted as plumbing.
    step.cpu_s["loadgen"] = time.process_time() - own_before
    step.wall_s = time.perf_counter() - started
    records = await end_offsets(settings, topics_of(settings))
    step.records = Counter({t: records[t] - records_before[t] for t in records})
    return step


def report(steps: list[Step]) -> list[str]:
    lines = [f"{'offered/s':>9} {'ended/s':>8} {'answered/s':>10} {'refused':>8} {'p50 ms':>7} "
             f"{'p99 ms':>7} {'unended':>7}  other reasons; CPU ms per answered completion"]
    for step in steps:
        other = {k: v for k, v in step.reasons.items() if k not in ("stop", "length", "overloaded")}
        per = ", ".join(f"{n} {s / max(1, step.answered) * 1000:.1f}"
                        for n, s in sorted(step.cpu_s.items()))
        per += f"; plumbing {step.plumbing_ms:.1f}"
        lines.append(
            f"{step.rate:9d} {step.ended / step.seconds:8.1f} {step.answered / step.seconds:10.1f} "
            f"{step.refused_share * 100:7.1f}% {percentile(step.latencies_ms, 0.5):7.1f} "
            f"{step.p99_ms:7.1f} {step.unended:7d}  {dict(other) or ''}; {per}")
    good = [s for s in steps if s.meets()]
    target = steps[0].p99_target_ms if steps else P99_TARGET_MS
    if good:
        best = max(good, key=lambda s: s.answered)
        lines.append(f"capacity: {best.answered / best.seconds:.1f} completions/s answered with "
                     f"first-frame p99 {best.p99_ms:.1f} ms < {target:.0f} ms and "
                     f"{best.refused_share * 100:.1f}% refused (offered {best.rate}/s); "
                     f"plumbing CPU there {best.plumbing_ms:.2f} ms per completion")
    else:
        lines.append(f"capacity: no step kept p99 under {target:.0f} ms with < 1% refused and "
                     "every request ended")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("--rates", default="10,20,40,80")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--slots", type=int, default=Settings().worker_model_slots)
    parser.add_argument("--wait-ms", type=int, default=Settings().admission_wait_ms)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.0,
                        help="MODEL_THRESHOLD (0: the model answers everything; -1: its default)")
    parser.add_argument("--window", type=int, default=None,
                        help="serve code_fim with this prompt window (PROMPT_WINDOW), from a copy "
                             "of the model repository")
    parser.add_argument("--null-model", action="store_true",
                        help="serve null_stream (a load generator computing nothing) instead of "
                             "the model: the plumbing's own capacity and cost")
    parser.add_argument("--null-tokens", type=int, default=4,
                        help="pieces null_stream streams per request")
    parser.add_argument("--null-token-ms", type=int, default=20,
                        help="milliseconds between null_stream's pieces")
    parser.add_argument("--workload", choices=("fresh", "typing"), default=None,
                        help="fresh: a new document per request; typing: a line typed into one "
                             "document per session (default: typing with --null-model)")
    parser.add_argument("--session-rate", type=float, default=1.0,
                        help="requests a second per session (sessions = rate / this)")
    parser.add_argument("--one-session", type=int, default=0, metavar="REQUESTS",
                        help="first measure one developer alone: the pipeline's overhead over "
                             "the model's first piece against the Kafka two-hop floor")
    parser.add_argument("--record", action="store_true",
                        help="make this run's headline figures the recorded reference")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if args.session_rate <= 0 or min(rates) <= 0:
        parser.error("--session-rate and every rate must be positive")
    settings = private_settings("capacity").replace(
        model_threshold=args.threshold, worker_model_slots=args.slots,
        admission_wait_ms=args.wait_ms, worker_count=args.workers)
    scratch = tempfile.TemporaryDirectory()
    workload = args.workload or ("typing" if args.null_model else "fresh")
    target = NULL_P99_TARGET_MS if args.null_model else P99_TARGET_MS
    if args.window is not None or args.null_model:
        repository = Path(scratch.name) / "repository"
        shutil.copytree(settings.triton_model_repository, repository,
                        ignore=shutil.ignore_patterns("__pycache__"))
        if args.window is not None:
            configure(repository / "code_fim", {"PROMPT_WINDOW": args.window})
        if args.null_model:
            shutil.copytree(NULL_MODEL, repository / NULL_MODEL.name)
            configure(repository / NULL_MODEL.name, {"TOKENS": args.null_tokens,
                                                     "TOKEN_MS": args.null_token_ms})
            settings = settings.replace(triton_model=NULL_MODEL.name)
        settings = settings.replace(triton_model_repository=repository)
    ring = provision(settings, max(rates), prefix="capacity")
    keys = [ring.take("pro").api_key for _ in range(max(rates))]
    supervisor, running = up(settings)
    steps = []
    try:
        # Warm-up, not reported.
        asyncio.run(run_step(running, keys[:4], max(1, round(4 * args.session_rate)), 10, workload,
                             args.session_rate, target))
        if args.one_session:
            alone = asyncio.run(one_session(running, keys[0], args.one_session))
            print(f"one session, {args.one_session} requests: first frame p50 "
                  f"{alone['first_frame_p50_ms']:.2f} ms, p99 {alone['first_frame_p99_ms']:.2f} "
                  f"ms; {running.triton_model} alone p50 {alone['model_alone_p50_ms']:.2f} ms; "
                  f"pipeline overhead p50 {alone['overhead_p50_ms']:.2f} ms = "
                  f"{alone['overhead_over_floor']:.2f}x the Kafka two-hop floor "
                  f"({alone['two_hop_floor_p50_ms']:.2f} ms, same run; target <= 2x)", flush=True)
        for rate in rates:
            steps.append(asyncio.run(run_step(running, keys, rate, args.seconds, workload,
                                              args.session_rate, target)))
            print("\n".join(report(steps)[-2:-1]), flush=True)
    finally:
        supervisor.stop_all()
        scratch.cleanup()
    print(f"slots per worker {args.slots}, admission wait {args.wait_ms} ms, "
          f"workers {args.workers}, threshold {args.threshold}, window {args.window or 'default'}, "
          f"workload {workload}, {args.session_rate:g} requests/s per session, model "
          + (f"null_stream ({args.null_tokens} pieces every {args.null_token_ms} ms)"
             if args.null_model else settings.triton_model))
    print("\n".join(report(steps)))
    # A fleet's processes each run busy (records batch better than at a trickle): its costs are
    # those of the busiest step that still ended every request and refused under 1 %.
    served = [s for s in steps if s.unended == 0 and s.refused_share < 0.01] or steps
    print("\n".join(fleet(max(served, key=lambda s: s.answered))))
    name = "capacity" if args.threshold == 0 else f"capacity, threshold {args.threshold}"
    name += f", window {args.window}" if args.window else ""
    name = "capacity, null model" if args.null_model else name
    compare_with_recorded(name, headline(steps), args.record)
    return 0


#: The seed's peak, and how busy a core of the fleet may run (30 % headroom).
PEAK_PER_S = 50_000
UTILISATION = 0.7
#: A cluster's topics keep three copies: each record is written by three brokers (assumed: one
#: broker measured here, so its CPU per completion is multiplied by this).
REPLICATION = 3


def fleet(step: Step) -> list[str]:
    """The capacity model at the seed's peak from one step's measured costs: cores per
    component (CPU per completion x peak / utilisation; the broker's times replication) and
    records per second per topic (records per completion measured x peak)."""
    lines = [f"fleet for {PEAK_PER_S:,} completions/s from the step at {step.rate}/s offered "
             f"(measured: CPU and records per completion; assumed: {UTILISATION:.0%} busy cores, "
             f"replication {REPLICATION}):"]
    total = 0.0
    for component in PLUMBING:
        factor = REPLICATION if component == "broker" else 1
        cores = PEAK_PER_S * step.cpu_ms(component) / 1000 * factor / UTILISATION
        total += cores
        lines.append(f"  {component:9} {step.cpu_ms(component):5.2f} ms"
                     f"{f' x {factor}' if factor > 1 else ''} -> {cores:7.0f} cores")
    lines.append(f"  plumbing total {total:.0f} cores (target <= 300)")
    for topic, count in sorted(step.records.items()):
        per = count / max(1, step.answered)
        lines.append(f"  {topic:20} {per:5.2f} records per completion -> "
                     f"{per * PEAK_PER_S:9,.0f} records/s")
    return lines


def headline(steps: list[Step]) -> dict[str, float]:
    """The figures compared run to run: the capacity (0 when no step met the target) and the
    first step's latency and the model's CPU per answered completion."""
    good = [s for s in steps if s.meets()]
    first = steps[0]
    return {
        "capacity_per_s": max((s.answered / s.seconds for s in good), default=0.0),
        "first_step_answered_per_s": first.answered / first.seconds,
        "first_step_p50_ms": percentile(first.latencies_ms, 0.5),
        "first_step_p99_ms": first.p99_ms,
        "triton_cpu_ms": first.cpu_ms("triton"),
        "first_step_plumbing_cpu_ms": first.plumbing_ms,
    }


if __name__ == "__main__":
    raise SystemExit(main())
