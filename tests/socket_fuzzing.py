"""Mutated frames on the live socket: every request answered once, the stack up and serving.

Sessions of different users send, at a pace under their message rate, a mix of well-formed
frames (documents opened and edited, completions asked, cancelled, given feedback) and frames
mutated by :func:`tests.fuzzing.mutate` (in their JSON and in their bytes; sent as text when they
are UTF-8, else as binary frames). Every ``complete`` whose frame was intact and whose
``request_id`` was new must get exactly one ``end``; a session may be closed only with a
documented code (then a new one is opened); after each batch an honest session must get a
completion that ends ``stop`` or ``length``.

``python -m tests.socket_fuzzing --frames N --seed S`` starts a private stack and runs more
(``make test`` runs a small batch against the test stack).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from config.settings import Settings
from schemas.codec import encode
from schemas.socket import (
    Cancel,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocClose,
    DocOpen,
    Feedback,
    Hello,
    TextEdit,
)
from tests.fuzzing import mutate
from ws_edge.client import EdgeClient, connect_edge

TYPES = ["hello", "doc_open", "doc_change", "doc_close", "cursor", "complete", "cancel",
         "feedback", "task"]
#: Close codes a session may end with under fuzzing (PROTOCOL.md, SECURITY.md).
DOCUMENTED_CLOSES = {1000, 1007, 1008, 1009, 4408, 4429}
SOURCE = "def total(values):\n    result = 0\n    for value in values:\n        result += "
PROBE_SOURCE = ("def square_table(limit):\n    for index in range(limit):\n"
                "        print(index, index * index)\n\n\ndef cube_table(limit):\n"
                "    for index in range(li")
PACE_S = 1 / 150  # under the session's 200 messages a second


@dataclass
class Report:
    frames: int = 0
    mutated: int = 0
    errors: int = 0
    requests: int = 0
    unanswered: int = 0
    repeated_ends: int = 0
    closes: Counter[int] = field(default_factory=Counter)
    probes: int = 0
    problems: list[str] = field(default_factory=list)


class FuzzSession:
    """One session: what it sent intact, what came back."""

    def __init__(self, connection: ClientConnection, report: Report) -> None:
        self.connection = connection
        self.report = report
        self.ends: Counter[str] = Counter()
        self.expected: set[str] = set()
        self.ended = asyncio.Event()  # set on each end and when the socket closes
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in self.connection:
                frame = orjson.loads(data)
                if frame.get("type") == "end":
                    self.ends[frame["request_id"]] += 1
                    self.ended.set()
                elif frame.get("type") == "error":
                    self.report.errors += 1
        self.ended.set()

    async def send(self, data: bytes) -> bool:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            await self.connection.send(data)  # a binary frame: refused, the session goes on
            return True
        try:
            await self.connection.send(text)
        except ConnectionClosed:
            return False
        return True

    async def settle(self, timeout_s: float = 30.0) -> None:
        """Wait for the ends of the intact requests, then count what is missing."""
        deadline = time.monotonic() + timeout_s
        while any(self.ends[r] == 0 for r in self.expected) and not self.reader.done():
            self.ended.clear()
            try:
                await asyncio.wait_for(self.ended.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        closed = self.connection.close_code
        if closed is None or closed == 1000:
            self.report.unanswered += sum(1 for r in self.expected if self.ends[r] == 0)
        self.report.repeated_ends += sum(1 for r in self.expected if self.ends[r] > 1)


def valid_frame(rng: random.Random, state: dict[str, int], serial: str) -> Any:
    uri = "file:///fuzz.py"
    version, length = state["version"], state["length"]
    roll = rng.randrange(10)
    if roll == 0:
        state["version"] += 1
        state["length"] = len(SOURCE)
        return DocOpen(uri, "python", state["version"], SOURCE)
    if roll < 4:
        state["version"] += 1
        at = rng.randrange(0, length + 1)
        text = rng.choice(["x", "1", " ", "\n", "é", "🙂"])
        state["length"] += len(text)
        return DocChange(uri, state["version"], (TextEdit(at, at, text),))
    if roll < 7:
        return CompletionRequest(f"r{serial}", uri, version, rng.randrange(0, length + 1))
    if roll == 7:
        return CursorMove(uri, rng.randrange(0, length + 1))
    if roll == 8:
        return Cancel(f"r{serial}")
    return rng.choice([Feedback(f"e{serial}", f"r{serial}", "shown", None, 5), DocClose(uri)])


async def fuzz_session(url: str, api_key: str, frames: int, rng: random.Random,
                       report: Report, serial: list[int]) -> None:
    """``frames`` frames over as many sessions as closes make necessary."""
    sent = 0
    while sent < frames:
        async with connect_edge(url, api_key) as connection:
            session = FuzzSession(connection, report)
            await connection.send(encode(Hello(1, "fuzz/1")).decode())
            state = {"version": 1, "length": len(SOURCE)}
            await connection.send(encode(DocOpen("file:///fuzz.py", "python", 1, SOURCE)).decode())
            while sent < frames:
                sent += 1
                report.frames += 1
                serial[0] += 1
                frame = valid_frame(rng, state, str(serial[0]))
                if rng.random() < 0.4:
                    report.mutated += 1
                    data = mutate(frame, rng, TYPES)
                else:
                    data = encode(frame)
                    if isinstance(frame, CompletionRequest):
                        session.expected.add(frame.request_id)
                        report.requests += 1
                if not await session.send(data):
                    break
                await asyncio.sleep(PACE_S)
            await session.settle()
            code = connection.close_code
            if code is not None:
                report.closes[code] += 1
                if code not in DOCUMENTED_CLOSES:
                    report.problems.append(f"closed with undocumented code {code}")
        session.reader.cancel()


async def probe(url: str, api_key: str) -> str:
    """An honest completion; its end reason."""
    async with connect_edge(url, api_key) as connection:
        client = EdgeClient(connection)
        await client.start()
        await client.send(DocOpen("file:///probe.py", "python", 1, PROBE_SOURCE))
        completion = await client.complete("file:///probe.py", 1, len(PROBE_SOURCE))
        await asyncio.wait_for(completion.done.wait(), 30)
        await client.close()
        return completion.end.reason if completion.end else "no end"


async def run(url: str, keys: list[str], probe_key: str, frames: int, seed: int,
              batch: int = 1000) -> Report:
    """``frames`` frames in batches spread over one session per key, a probe after each."""
    rng = random.Random(seed)
    report = Report()
    serial = [0]
    while report.frames < frames:
        share = max(1, min(batch, frames - report.frames) // len(keys))
        await asyncio.gather(*(fuzz_session(url, key, share, random.Random(rng.random()),
                                            report, serial) for key in keys))
        report.probes += 1
        reason = await probe(url, probe_key)
        if reason not in ("stop", "length"):
            report.problems.append(f"probe {report.probes} ended {reason}")
    return report


def summary(report: Report, seconds: float) -> str:
    return (f"{report.frames} frames ({report.mutated} mutated) in {seconds:.0f} s: "
            f"{report.errors} error frames, {report.requests} intact completes, "
            f"{report.unanswered} without an end, {report.repeated_ends} with two; closes "
            f"{dict(report.closes)}; {report.probes} probes; problems: {report.problems or 'none'}")


def main() -> int:
    from bench.keys import provision
    from infra.stack import private_settings, up

    parser = argparse.ArgumentParser(prog="python -m tests.socket_fuzzing")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    settings: Settings = private_settings("socket-fuzz")
    ring = provision(settings, args.sessions + 1, prefix="fuzz")
    keys = [ring.take("pro").api_key for _ in range(args.sessions)]
    probe_key = ring.take("pro").api_key
    supervisor, running = up(settings)
    try:
        started = time.monotonic()
        pids = supervisor.running_pids()
        report = asyncio.run(run(running.edge_url(0), keys, probe_key, args.frames, args.seed))
        print(f"seed {args.seed}: " + summary(report, time.monotonic() - started))
        if supervisor.running_pids() != pids:
            report.problems.append(f"processes changed: {pids} -> {supervisor.running_pids()}")
            print(report.problems[-1])
    finally:
        supervisor.stop_all()
    ok = not report.problems and report.unanswered == 0 and report.repeated_ends == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
