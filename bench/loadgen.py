"""Many simulated developers typing real source files into the edge, checking every frame.

Each developer re-types a region of a standard-library file keystroke by keystroke (with the
rhythm of :mod:`bench.typist`), sends ``complete`` after every keystroke as an inline-completion
plugin does (the server debounces), accepts a suggestion when it matches what the file says next
(and inserts it in one edit), and rejects it otherwise; now and then it jumps elsewhere in the
file to read and comes back (cursor moves). Every frame is checked: a token for a
request this session never made, or after that request's ``end``, is counted as a violation.
"""

from __future__ import annotations

import asyncio
import random
import sysconfig
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from bench.typist import Typist
from schemas.codec import encode, parse_json
from schemas.socket import (
    CompletionEnd,
    CompletionRequest,
    CursorMove,
    DocChange,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    SlowDown,
    TextEdit,
    TokenChunk,
    decode_server_message,
)
from socket_client.answers import Answer
from ws_edge.client import EdgeClient, connect_edge

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SOURCES = ("json/encoder.py", "json/decoder.py", "textwrap.py", "shlex.py", "fnmatch.py",
           "queue.py", "bisect.py", "heapq.py", "csv.py", "string.py", "glob.py", "calendar.py")


def stdlib_sources() -> list[str]:
    """The texts of :data:`SOURCES` (read once per benchmark)."""
    return [(STDLIB / name).read_text() for name in SOURCES]


async def ask_fresh(client: EdgeClient, rng: random.Random, sources: list[str], tag: str
                    ) -> tuple[str, Answer]:
    """Open a document cut from one of ``sources`` at a random line, with a line no earlier
    request had right before the cursor (no answer comes from a cache: every request reaches
    the model, as fresh typing does), and ask for a completion there. Returns its uri."""
    lines = rng.choice(sources).splitlines(keepends=True)
    cut = rng.randrange(5, len(lines))
    text = "".join(lines[:cut]) + f"{tag}_{uuid.uuid4().hex} = 0\n"
    uri = f"file:///{tag}/{uuid.uuid4().hex[:8]}.py"
    await client.send(DocOpen(uri, "python", 1, text))
    return uri, await client.complete(uri, 1, len(text))


@dataclass
class SessionResult:
    keystrokes: int = 0
    key_times_ms: list[int] = field(default_factory=list)
    requests: int = 0
    first_token_ms: list[float] = field(default_factory=list)
    ends: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    slow_downs: int = 0
    #: Requests that got no ``end`` before the session closed (2 s after its last request).
    unanswered: int = 0
    #: How the server closed the session early, if it did (for example under overload).
    closed_by_server: str | None = None
    #: Times the developer jumped elsewhere in the file to read, then came back.
    cursor_jumps: int = 0


def region(source: str, rng: random.Random, lines: int = 30) -> tuple[str, int, str]:
    """The document without a region of ``lines`` lines, the cursor, and the region's text."""
    starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]
    first = rng.randrange(0, max(1, len(starts) - lines))
    start = starts[first]
    end = starts[min(len(starts) - 1, first + lines)]
    return source[:start] + source[end:], start, source[start:end]


async def developer(url: str, api_key: str, number: int, seed: int, duration_s: float
                    ) -> SessionResult:
    result = SessionResult()
    try:
        await _develop(url, api_key, number, seed, duration_s, result)
    except ConnectionClosed as closed:
        close = closed.rcvd
        result.closed_by_server = f"{close.code} {close.reason}" if close else "no close frame"
    except OSError as error:
        result.closed_by_server = f"connect failed: {type(error).__name__}"
    return result


#: Per character typed, the chance of a jump elsewhere in the file and back.
CURSOR_JUMP_CHANCE = 0.004


async def _develop(url: str, api_key: str, number: int, seed: int, duration_s: float,
                   result: SessionResult) -> None:
    rng = random.Random(seed * 100_003 + number)  # noqa: S311 - reproducible simulation
    source = (STDLIB / SOURCES[number % len(SOURCES)]).read_text()
    text, cursor, to_type = region(source, rng)
    typist = Typist(seed * 7919 + number)
    uri = f"file:///load/{number}.py"
    sent_at: dict[str, float] = {}
    ended: set[str] = set()
    chunks: dict[str, list[str]] = {}
    latest: list[str] = [""]
    interval_ms = [0]  # the server's current request-interval hint
    last_request = [0.0]

    async with connect_edge(url, api_key, max_size=None, open_timeout=60) as ws:
        await ws.send(encode(Hello(protocol=1, client="loadgen/1")).decode())
        parse_json(await ws.recv())  # welcome
        version = 1
        await ws.send(encode(DocOpen(uri, "python", version, text)).decode())

        async def read() -> None:
            async for data in ws:
                frame = decode_server_message(parse_json(data))
                if isinstance(frame, TokenChunk):
                    got = chunks.setdefault(frame.request_id, [])
                    if frame.request_id not in sent_at:
                        result.violations.append(f"token for foreign request {frame.request_id}")
                    elif frame.request_id in ended:
                        result.violations.append(f"token after end of {frame.request_id}")
                    elif frame.seq != len(got):
                        result.violations.append(f"token seq {frame.seq}, expected {len(got)}")
                    elif not got:
                        result.first_token_ms.append(
                            (time.perf_counter() - sent_at[frame.request_id]) * 1000)
                    got.append(frame.text)
                elif isinstance(frame, CompletionEnd):
                    if frame.request_id not in sent_at:
                        result.violations.append(f"end for foreign request {frame.request_id}")
                    elif frame.request_id in ended:
                        result.violations.append(f"second end for {frame.request_id}")
                    elif frame.chunks != len(chunks.get(frame.request_id, [])):
                        result.violations.append(f"end counts {frame.chunks} chunks, got "
                                                 f"{len(chunks.get(frame.request_id, []))}")
                    ended.add(frame.request_id)
                    result.ends += 1
                elif isinstance(frame, ErrorFrame):
                    result.errors.append(frame.code)
                elif isinstance(frame, SlowDown):
                    interval_ms[0] = frame.request_interval_ms
                    result.slow_downs += 1

        reader = asyncio.create_task(read())
        try:
            deadline = time.perf_counter() + duration_s
            started = time.perf_counter()
            typed = 0
            while time.perf_counter() < deadline and typed < len(to_type):
                suggestion = "".join(chunks.get(latest[0], [])) if latest[0] in ended else ""
                if suggestion:
                    expected = to_type[typed:typed + len(suggestion)]
                    kind = "accepted" if suggestion == expected else "rejected"
                    await ws.send(encode(Feedback(uuid.uuid4().hex, latest[0], kind)).decode())  # type: ignore[arg-type]
                    if kind == "accepted":
                        result.accepted += 1
                        version += 1
                        await ws.send(encode(DocChange(uri, version, (TextEdit(
                            cursor, cursor, suggestion),))).decode())
                        cursor += len(suggestion)
                        typed += len(suggestion)
                    else:
                        result.rejected += 1
                    latest[0] = ""
                    continue
                if rng.random() < CURSOR_JUMP_CHANCE:
                    # Off to read another part of the file, then back: the cursor moves
                    # supersede whatever was waiting or streaming.
                    await ws.send(encode(CursorMove(uri, rng.randrange(cursor + 1))).decode())
                    await asyncio.sleep(rng.uniform(0.3, 1.5))
                    await ws.send(encode(CursorMove(uri, cursor)).decode())
                    result.cursor_jumps += 1
                for key in typist.next_keys(to_type[typed]):
                    await asyncio.sleep(key.delay_ms / 1000)
                    version += 1
                    if key.backspace:
                        edit = TextEdit(cursor - 1, cursor, "")
                        cursor -= 1
                    else:
                        edit = TextEdit(cursor, cursor, key.char)
                        cursor += 1
                    await ws.send(encode(DocChange(uri, version, (edit,))).decode())
                    result.keystrokes += 1
                    result.key_times_ms.append(int((time.perf_counter() - started) * 1000))
                    if (time.perf_counter() - last_request[0]) * 1000 < interval_ms[0]:
                        continue  # honour the server's slow-down hint, as a plugin's debounce would
                    last_request[0] = time.perf_counter()
                    request_id = uuid.uuid4().hex[:20]
                    sent_at[request_id] = time.perf_counter()
                    latest[0] = request_id
                    await ws.send(encode(CompletionRequest(request_id, uri, version, cursor)).decode())
                    result.requests += 1
                typed += 1
            await asyncio.sleep(2.0)  # let the last answers arrive
            await ws.close()
        finally:
            if not reader.done():
                reader.cancel()  # the server closed the session: stop reading too
            (outcome,) = await asyncio.gather(reader, return_exceptions=True)
        if isinstance(outcome, Exception) and not isinstance(
                outcome, ConnectionClosed | asyncio.CancelledError):
            result.violations.append(f"reader failed: {type(outcome).__name__}: {outcome}")
        result.unanswered = len(set(sent_at) - ended)


async def run_load(url: str, api_keys: list[str], seed: int, duration_s: float,
                   ramp_s: float = 2.0) -> list[SessionResult]:
    """One developer per API key, all at once (connections spread over ``ramp_s``)."""
    sessions = len(api_keys)

    async def one(number: int) -> SessionResult:
        await asyncio.sleep(ramp_s * number / max(1, sessions))
        return await developer(url, api_keys[number], number, seed, duration_s)

    return list(await asyncio.gather(*(one(n) for n in range(sessions))))
