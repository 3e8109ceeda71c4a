"""Mutation fuzzing of every input boundary: socket frames and each topic's consumer.

Inputs are valid frames and records, mutated at two levels: in the parsed JSON (a field
dropped, added, retyped, replaced by an extreme or a deep nesting; the ``type`` switched) and in
the bytes (truncated, bit-flipped, spliced, invalid UTF-8). Each input goes through the same
function the running process uses:

- socket: :meth:`EdgeSession.receive`, in sequences on a live session; every frame must be
  answered (an error frame for bad input) and nothing may raise;
- ``editor-events``: record validation, then :meth:`WorkerCore.handle`, then the due timers;
- ``completion-replies``: record validation as the edge's reply router does it;
- ``feedback-events`` and ``completion-events``: record validation, then the ClickHouse row
  the sink would write; and the usage stream's step (:meth:`UsageStream.apply`, then closing
  its windows);
- ``usage-records``: record validation, then the billing export's monthly sums;
- sealed ``editor-events``: opening under the session's key (:class:`SessionCipher`), then the
  worker as above.

Not fuzzed here: the asyncio adapters around these functions (their Kafka, Redis and Triton
calls), which the stack tests drive with real components.

A consumer may refuse a record only with :class:`ProtocolError` (the sink also with the
conversion errors it counts). ``python -m tests.fuzzing --inputs N --seed S`` runs more.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from analytics.billing import Month, summarize
from analytics.sink import completion_row, feedback_row, flows
from analytics.usage import UsageStream
from config.settings import Settings
from schemas.codec import encode
from schemas.errors import ProtocolError
from schemas.socket import (
    Cancel,
    CompletionEnd,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocClose,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    TextEdit,
    TokenChunk,
)
from schemas.topics import (
    AuthorshipEvent,
    CompletionEvent,
    DocSnapshot,
    EditorEvent,
    FeedbackEvent,
    PersistenceEvent,
    Reply,
    ResyncRequest,
    SessionEnd,
    StageTimes,
    UsageRecord,
    read_record,
)
from sealing.cipher import SealError, SessionCipher, new_key
from tenants.directory import Principal, Tenant
from workers.core import WorkerCore, WorkerLimits
from ws_edge.ratelimit import TokenBucket
from ws_edge.session import EdgeLimits, EdgeSession

URI = "file:///f.py"
FRAMES: list[Any] = [
    DocOpen(URI, "python", 1, "def f(a):\n    return a\n"),
    DocChange(URI, 2, (TextEdit(4, 5, "g"), TextEdit(0, 0, "# x\n"))),
    CursorMove(URI, 3),
    CompletionRequest("r1", URI, 2, 10, 8),
    Cancel("r1"),
    Feedback("e1", "r1", "partial", 3, 40),
    DocClose(URI),
    Hello(1, "fuzz/1"),
]
BODIES: list[Any] = [*FRAMES[:-1], SessionEnd(), DocSnapshot(URI, "python", 5, "x = 1\n")]
REPLIES: list[Any] = [
    Reply("s1", TokenChunk("r1", 0, "abc"), StageTimes(1, 2, 3, 4, 5)),
    Reply("s1", CompletionEnd("r1", "superseded", 2, "newer")),
    Reply("s1", ErrorFrame("bad", "no", "field", "r1")),
    Reply("s1", ResyncRequest(URI)),
]
QUALITY: list[Any] = [
    PersistenceEvent("p1", "s1", "t", "u", "pro", "r1", "python", 30, 15, 9, 1_700_000_000_000),
    AuthorshipEvent("a1", "s1", "t", "u", "pro", "python", 120, 15, 1_700_000_000_000),
]
USAGE = UsageRecord("0" * 32, "t", "u", "free", 1_700_000_000_000, 1_700_003_600_000, 0, 3, 4,
                    2, 1, 1)
COMPLETION = CompletionEvent("c1", "s1", "t", "u", "free", "r1", "code_ngram", "python",
                             "inferred", True, "stop", 3, 12, 1_700_000_000_000,
                             1_700_000_000_050, 21)
FEEDBACK = FeedbackEvent("e1", "s1", "t", "u", "pro", "r1", "partial", 1_700_000_000_000, "python",
                         5, 40)
EXTREMES: list[Any] = [None, True, False, 0, -1, 2**31, 2**53 + 1, 2**64, -(2**63), 1.5, 1e308,
                       "", "x" * 70, "\u202e\u0000\ud7ff", "🙂" * 5, [], {}, [[[]]], {"type": None}]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.5 or depth > 3:
        return rng.choice(EXTREMES)
    if roll < 0.7:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(0, 20)))
    if roll < 0.85:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(["type", "uri", "v", "x"]): random_value(rng, depth + 1)}


def mutate_value(value: Any, rng: random.Random, types: list[str]) -> Any:
    """One structural change somewhere in ``value`` (a parsed JSON document)."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        roll = rng.random()
        copy = dict(value)
        if roll < 0.2:
            del copy[key]
        elif roll < 0.3:
            copy[rng.choice(["extra", "colour", "user_id", "tenant_id", "plan"])] = "x"
        elif roll < 0.45 and "type" in copy:
            copy["type"] = rng.choice([*types, "", "TYPE", "hello "])
        elif roll < 0.75:
            copy[key] = mutate_value(copy[key], rng, types)
        else:
            copy[key] = random_value(rng)
        return copy
    if isinstance(value, list) and value:
        index = rng.randrange(len(value))
        items = list(value)
        roll = rng.random()
        if roll < 0.3:
            del items[index]
        elif roll < 0.5:
            items.append(items[index])
        else:
            items[index] = mutate_value(items[index], rng, types)
        return items
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return rng.choice([value + 1, value - 1, -value, value * 2**40])
    if rng.random() < 0.05:
        nested: Any = value
        for _ in range(rng.randrange(50, 300)):
            nested = [nested]
        return nested
    return random_value(rng)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if not data:
        return bytes(rng.randrange(256) for _ in range(8))
    cut = rng.randrange(len(data))
    if roll < 0.3:
        return data[:cut]
    if roll < 0.6:
        flipped = bytearray(data)
        flipped[cut] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if roll < 0.8:
        return data[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6))) + data[cut:]
    return data[:cut] + data  # a spliced duplicate


def mutate(message: Any, rng: random.Random, types: list[str]) -> bytes:
    """A mutated encoding of ``message``: usually still JSON, sometimes broken bytes."""
    value = orjson.loads(encode(message))
    for _ in range(rng.randrange(1, 4)):
        value = mutate_value(value, rng, types)
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        data = encode(message)
    if rng.random() < 0.25:
        data = mutate_bytes(data, rng)
    return data


@dataclass
class Report:
    inputs: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, where: str, data: bytes, error: BaseException) -> None:
        if len(self.failures) < 20:
            self.failures.append(f"{where}: {type(error).__name__}: {error} <- {data[:200]!r}")


def fuzz_socket(rng: random.Random, report: Report, sessions: int) -> None:
    types = [f.type for f in FRAMES]
    tenant = Tenant("fuzz", "pro", messages_per_second=10**9)
    limits = EdgeLimits(max_frame_bytes=4096, max_documents=4, max_document_chars=10_000,
                        messages_per_second=10**9)
    for n in range(sessions):
        session = EdgeSession(f"s{n}", 0, limits, Principal(tenant, "u", "k", "developer"),
                              TokenBucket(10**9, 10**9, 0), 0)
        if rng.random() < 0.9:
            session.receive(encode(Hello(1, "fuzz")).decode(), 0)
        for step in range(rng.randrange(1, 12)):
            base = rng.choice(FRAMES)
            data = mutate(base, rng, types) if rng.random() < 0.8 else encode(base)
            frame: str | bytes = data
            if rng.random() < 0.95:
                frame = data.decode("utf-8", "replace")
            report.inputs += 1
            try:
                replies, records = session.receive(frame, step)
            except Exception as error:
                report.fail("socket", data, error)
                continue
            if not replies and not records:
                report.fail("socket", data, AssertionError("frame neither answered nor forwarded"))
            if any(isinstance(r, ErrorFrame) for r in replies):
                report.refused += 1
        session.end(100)


def _consumer(report: Report, where: str, data: bytes, handle: Callable[[bytes], object],
              allowed: tuple[type[BaseException], ...] = (ProtocolError,)) -> None:
    report.inputs += 1
    try:
        handle(data)
    except allowed:
        report.refused += 1
    except Exception as error:
        report.fail(where, data, error)


def fuzz_topics(rng: random.Random, report: Report, records: int) -> None:
    core = WorkerCore(WorkerLimits(max_documents=4, max_document_chars=10_000,
                                   max_completion_tokens=16, prompt_prefix_chars=100,
                                   prompt_suffix_chars=50))
    body_types = [b.type for b in BODIES]
    clock = [1000]

    def worker(data: bytes) -> None:
        event = read_record(EditorEvent, data)
        clock[0] += 7
        core.handle(event, clock[0])
        core.due(clock[0] + 100)

    def edge(data: bytes) -> None:
        read_record(Reply, data)

    def sink(data: bytes) -> None:
        feedback_row(read_record(FeedbackEvent, data))

    quality_flows = [f for f in flows(Settings()) if f.topic == Settings().topic_quality]

    def completions_sink(data: bytes) -> None:
        completion_row(read_record(CompletionEvent, data))

    usage = UsageStream(Settings())
    usage_topics = [usage.settings.topic_completions, usage.settings.topic_feedback]
    offsets = [0]

    def usage_stream(data: bytes) -> None:
        offsets[0] += 1
        usage.apply(rng.choice(usage_topics), 0, offsets[0], data)
        usage.windows.close(usage.windows.watermark(clock[0], True))

    def billing(data: bytes) -> None:
        summarize([read_record(UsageRecord, data)], "t", Month(2023, 11))

    key = new_key()
    cipher = SessionCipher(key)

    def sealed(data: bytes) -> None:
        worker(cipher.open(data, "editor", "s1"))

    for _ in range(records):
        roll = rng.random()
        if roll < 0.05:
            event = EditorEvent("e", "s1", 0, "t", "u", "free", 100, clock[0], rng.choice(BODIES))
            data = cipher.seal(encode(event), "editor", "s1")
            data = mutate_bytes(data, rng) if rng.random() < 0.8 else data
            _consumer(report, "editor-events (sealed)", data, sealed, (ProtocolError, SealError))
        elif roll < 0.1:
            data = mutate(USAGE, rng, [])
            _consumer(report, "usage-records", data, billing)
        elif roll < 0.15:
            data = mutate(rng.choice([COMPLETION, FEEDBACK]), rng, [])
            _consumer(report, "usage stream", data, usage_stream)
        elif roll < 0.5:
            event = EditorEvent("e", f"s{rng.randrange(3)}", 0, "t", "u", "free", 100, clock[0],
                                rng.choice(BODIES))
            data = mutate(event, rng, body_types) if rng.random() < 0.8 else encode(event)
            _consumer(report, "editor-events", data, worker)
        elif roll < 0.75:
            data = mutate(rng.choice(REPLIES), rng, ["token", "end", "error", "resync"])
            _consumer(report, "completion-replies", data, edge)
        elif roll < 0.82:
            data = mutate(rng.choice(QUALITY), rng, ["persistence", "authorship"])
            for flow in quality_flows:
                _consumer(report, "quality-events", data, flow.row,
                          (ProtocolError, ValueError, OverflowError))
        elif roll < 0.9:
            data = mutate(FEEDBACK, rng, [])
            _consumer(report, "feedback-events", data, sink,
                      (ProtocolError, ValueError, OverflowError))
        else:
            data = mutate(COMPLETION, rng, [])
            _consumer(report, "completion-events", data, completions_sink,
                      (ProtocolError, ValueError, OverflowError))


def run(inputs: int, seed: int) -> Report:
    """About ``inputs`` inputs, half to the socket and half to the topic consumers."""
    rng = random.Random(seed)
    report = Report()
    fuzz_socket(rng, report, sessions=inputs // 12)
    fuzz_topics(rng, report, records=max(0, inputs - report.inputs))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing")
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # consumers log each refused record; the report counts them
    started = time.perf_counter()
    report = run(args.inputs, args.seed)
    took = time.perf_counter() - started
    print(f"seed {args.seed}: {report.inputs} inputs in {took:.1f} s "
          f"({report.inputs / took:.0f}/s), {report.refused} refused with a clear error, "
          f"{len(report.failures)} failures")
    for failure in report.failures:
        print("  " + failure)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
