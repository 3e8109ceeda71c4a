"""Abuse on loopback, bounded in count and time: does the edge stay up, bounded and fair?

``python -m bench.abuse [--seconds 20] [--scale 1]`` starts a private stack, measures an honest
session's keystroke-to-first-token latency alone, then again while these run at once:

- connection flood: sockets opened and dropped in a loop, with no key and with a valid key;
- message flood: authenticated sessions sending frames as fast as they can;
- oversized frames: just over the frame limit (error frame) and far over it (close 1009);
- decompression bomb: a frame with the compression bit set (compression is never negotiated,
  so the edge must refuse it without inflating anything);
- slow handshakes: upgrade requests trickled one byte at a time (slowloris);
- never-reading clients: sessions that ask for completions and never read their socket.

It prints the edge's memory before, at peak and after, how each attack was answered, and the
honest session's latency p50/p99 loaded vs unloaded (the target: loaded p50 within 2x). The
attacks share the machine's two cores with the whole stack; that is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import struct
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.keys import Keyring, provision
from bench.measure import percentile, rss_kib
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.codec import encode
from schemas.socket import CompletionRequest, DocChange, DocOpen, Hello, TextEdit
from ws_edge.client import EdgeClient, connect_edge

SOURCE = "import os\n\n\ndef read_config(path):\n    with open(path) as handle:\n        return "


@dataclass
class Outcomes:
    """How the edge answered each attack (counts by kind of answer)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)


    def add(self, attack: str, answer: str) -> None:
        self.counts.setdefault(attack, Counter())[answer] += 1


async def probe(settings: Settings, api_key: str, requests: int, pause_s: float = 0.05
                ) -> list[float]:
    """An honest developer: edit, ask, wait for the first token (ms), ``requests`` times."""
    latencies: list[float] = []
    async with connect_edge(settings.edge_url(0), api_key) as ws:
        client = EdgeClient(ws)
        await client.start()
        uri, version, text = "file:///probe.py", 1, SOURCE
        await client.send(DocOpen(uri, "python", version, text))
        for n in range(requests):
            version += 1
            edit = f"\n# step {n} {time.monotonic_ns()}\n"  # a new prompt: no cached answer
            await client.send(DocChange(uri, version, (TextEdit(0, 0, edit),)))
            text = edit + text
            completion = await client.complete(uri, version, len(text))
            await asyncio.wait_for(completion.done.wait(), 30)
            if completion.first_token_s is not None:
                latencies.append(completion.first_token_s * 1000)
            await asyncio.sleep(pause_s)
        await client.close()
    return latencies


async def connection_flood(settings: Settings, keys: Keyring, stop: asyncio.Event,
                           outcomes: Outcomes, parallel: int) -> None:
    async def one(n: int) -> None:
        while not stop.is_set():
            headers = {"Authorization": f"Bearer {keys.pools['free'][n].api_key}"} if n % 2 else {}
            try:
                async with connect(settings.edge_url(0), additional_headers=headers,
                                   open_timeout=10, compression=None) as ws:
                    with contextlib.suppress(ConnectionClosed, TimeoutError):
                        await asyncio.wait_for(ws.recv(), 0.2)
                    outcomes.add("connection flood", f"closed {ws.close_code or 'by us'}")
            except InvalidStatus as refused:
                outcomes.add("connection flood", f"HTTP {refused.response.status_code}")
            except (OSError, InvalidHandshake, TimeoutError) as error:
                outcomes.add("connection flood", type(error).__name__)

    await asyncio.gather(*(one(n) for n in range(parallel)))


async def message_flood(settings: Settings, api_key: str, stop: asyncio.Event,
                        outcomes: Outcomes) -> None:
    while not stop.is_set():
        try:
            async with connect_edge(settings.edge_url(0), api_key, max_queue=None) as ws:
                await ws.send(encode(Hello(1, "flood")).decode())
                frame = encode(DocOpen("file:///flood.py", "python", 1, "x = 1\n")).decode()
                while not stop.is_set():
                    await ws.send(frame)
        except ConnectionClosed as closed:
            outcomes.add("message flood", f"closed {closed.rcvd.code if closed.rcvd else '?'}")
        except OSError as error:
            outcomes.add("message flood", type(error).__name__)
        await asyncio.sleep(0.1)


async def oversized(settings: Settings, api_key: str, outcomes: Outcomes) -> None:
    for size, name in ((settings.max_frame_bytes + 10, "just over"),
                       (settings.max_frame_bytes * 5, "far over")):
        try:
            async with connect_edge(settings.edge_url(0), api_key, max_size=None) as ws:
                await ws.send(encode(Hello(1, "big")).decode())
                await ws.recv()
                await ws.send(encode(DocOpen("file:///big.py", "python", 1, "x" * size)).decode())
                answer = await asyncio.wait_for(ws.recv(), 10)
                outcomes.add("oversized frame", f"{name}: {str(answer)[:40]}")
        except Exception as error:  # noqa: BLE001 - the close may surface as another error
            closed = next((e for e in (error, error.__context__)
                           if isinstance(e, ConnectionClosed)), None)
            code = closed.rcvd.code if closed is not None and closed.rcvd else None
            outcomes.add("oversized frame", f"{name}: closed {code}" if code
                         else f"{name}: {type(error).__name__}")


def _handshake(port: int, api_key: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    request = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate\r\n"
               f"Authorization: Bearer {api_key}\r\n\r\n").encode()
    sock.sendall(request)
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(4096)
    return sock


def _masked_frame(opcode: int, payload: bytes, rsv1: bool) -> bytes:
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    mask = os.urandom(4)
    length = len(payload)
    header = (struct.pack("!BB", first, 0x80 | length) if length < 126
              else struct.pack("!BBH", first, 0x80 | 126, length) if length < 65536
              else struct.pack("!BBQ", first, 0x80 | 127, length))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def decompression_bomb(settings: Settings, api_key: str, outcomes: Outcomes) -> None:
    """A deflate stream of 64 KiB that would inflate to 64 MiB, sent with RSV1 set."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\x00" * (64 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with _handshake(settings.edge_port, api_key) as sock:
        sock.sendall(_masked_frame(0x1, bomb[:-4], rsv1=True))
        sock.settimeout(10)
        try:
            outcomes.add("decompression bomb", _answer_to_bomb(sock))
        except OSError as error:
            outcomes.add("decompression bomb", type(error).__name__)


def _answer_to_bomb(sock: socket.socket) -> str:
    """The edge's answer, read frame by frame: a ``slow_down`` the edge pushes to every session
    while it is loaded is no answer to the bomb, so it is skipped."""
    buffer = b""
    while True:
        while (bounds := _frame_bounds(buffer)) is None:
            chunk = sock.recv(65536)
            if not chunk:
                return "closed without a close frame"
            buffer += chunk
        start, end = bounds
        header, payload, buffer = buffer[:8], buffer[start:end], buffer[end:]
        if header[0] & 0x0F == 8:
            return f"closed {struct.unpack('!H', payload[:2])[0]}" if len(payload) >= 2 else "closed"
        if b'"type":"slow_down"' not in payload:
            return f"answered {header!r}"


def _frame_bounds(buffer: bytes) -> tuple[int, int] | None:
    """Where the payload of the (unmasked, server) frame at the start of ``buffer`` starts and
    ends, or None until the whole frame is in."""
    if len(buffer) < 2:
        return None
    length, start = buffer[1] & 0x7F, 2
    if length >= 126:
        start = 4 if length == 126 else 10
        if len(buffer) < start:
            return None
        length = int.from_bytes(buffer[2:start], "big")
    return (start, start + length) if len(buffer) >= start + length else None


async def slow_handshakes(settings: Settings, count: int, outcomes: Outcomes,
                          stop: asyncio.Event) -> None:
    async def one() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", settings.edge_port)
        request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        try:
            for byte in request:
                if stop.is_set():
                    outcomes.add("slow handshake", "still open at the end")
                    return
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
            outcomes.add("slow handshake", "never closed")
        except OSError:
            outcomes.add("slow handshake", "closed by the edge")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.gather(*(one() for _ in range(count)))


async def never_reader(settings: Settings, api_key: str, outcomes: Outcomes,
                       stop: asyncio.Event) -> None:
    """Asks for completion after completion and never reads a byte of the answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.edge_port)
    request = (f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {api_key}\r\n\r\n").encode()
    writer.write(request)
    await reader.readuntil(b"\r\n\r\n")
    writer.write(_masked_frame(0x1, encode(Hello(1, "mute")), rsv1=False))
    writer.write(_masked_frame(0x1, encode(DocOpen("file:///m.py", "python", 1, SOURCE)),
                               rsv1=False))
    n = 0
    try:
        while not stop.is_set():
            n += 1
            frame = encode(CompletionRequest(f"m{n}", "file:///m.py", 1, len(SOURCE)))
            writer.write(_masked_frame(0x1, frame, rsv1=False))
            await asyncio.wait_for(writer.drain(), 5)
            await asyncio.sleep(0.01)
        outcomes.add("never-reading client", f"still open after {n} requests")
    except (OSError, TimeoutError):
        outcomes.add("never-reading client", f"cut off after {n} requests")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _healthy(settings: Settings) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.edge_port}/healthz",
                                timeout=5) as response:
        return bool(response.status == 200)


@dataclass
class AbuseResult:
    unloaded_ms: list[float]
    loaded_ms: list[float]
    rss_before_kib: int
    rss_peak_kib: int
    rss_after_kib: int
    healthy_after: bool
    outcomes: Outcomes


async def attack(settings: Settings, keys: Keyring, seconds: float, scale: int) -> Outcomes:
    """Every attack at once for ``seconds``."""
    outcomes, stop = Outcomes(), asyncio.Event()
    attackers = [
        asyncio.create_task(connection_flood(settings, keys, stop, outcomes, 20 * scale)),
        *(asyncio.create_task(message_flood(settings, keys.take("free").api_key, stop, outcomes))
          for _ in range(2 * scale)),
        asyncio.create_task(slow_handshakes(settings, 10 * scale, outcomes, stop)),
        *(asyncio.create_task(never_reader(settings, keys.take("pro").api_key, outcomes, stop))
          for _ in range(2 * scale)),
    ]
    started = time.monotonic()
    await oversized(settings, keys.take("pro").api_key, outcomes)
    await asyncio.to_thread(decompression_bomb, settings, keys.take("pro").api_key, outcomes)
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    await asyncio.gather(*attackers, return_exceptions=True)
    return outcomes


def _attack_process(settings: Settings, keys: Keyring, seconds: float, scale: int,
                    results: multiprocessing.Queue[Outcomes]) -> None:
    try:
        results.put(asyncio.run(attack(settings, keys, seconds, scale)))
    except BaseException as error:
        broken = Outcomes()
        broken.add("attacker", f"crashed: {type(error).__name__}: {error}")
        results.put(broken)
        raise


async def abuse(settings: Settings, keys: Keyring, seconds: float, scale: int,
                probe_requests: int = 40) -> AbuseResult:
    """Probe alone, then probe while the attacks run in another process (so the probe's own
    event loop measures the server, not the attackers' client work)."""
    edge_pid = int((settings.run_dir / "edge-0.pid").read_text())
    honest = keys.take("pro").api_key
    attack_keys = Keyring({plan: [keys.take(plan) for _ in range(24 * scale)]
                           for plan in ("free", "pro")})
    await probe(settings, honest, 5)  # warm up
    unloaded = await probe(settings, honest, probe_requests)
    rss_before = rss_kib(edge_pid)
    peak = [rss_before]
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[Outcomes] = context.Queue()
    attacker = context.Process(target=_attack_process,
                               args=(settings, attack_keys, seconds, scale, results))
    attacker.start()

    async def watch_memory() -> None:
        while attacker.is_alive():
            peak[0] = max(peak[0], rss_kib(edge_pid))
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch_memory())
    await asyncio.sleep(min(2.0, seconds / 3))  # the attacks are under way
    loaded = await probe(settings, honest, probe_requests)
    outcomes = await asyncio.to_thread(results.get, True, seconds + 60)
    await asyncio.to_thread(attacker.join, 30)
    await watcher
    await asyncio.sleep(2)
    healthy = await asyncio.to_thread(_healthy, settings)
    return AbuseResult(unloaded, loaded, rss_before, peak[0], rss_kib(edge_pid), healthy,
                       outcomes)


#: The edge's memory may grow this much under the attacks (sockets come and go; a never-reading
#: client is cut off at a bounded outbox).
MEMORY_BOUND_MIB = 64


def broken_guarantees(result: AbuseResult) -> list[str]:
    """The guarantees that a run did not keep (empty: all kept)."""
    broken = []
    if not result.healthy_after:
        broken.append("the edge is not healthy after the attacks")
    if (result.rss_peak_kib - result.rss_before_kib) / 1024 > MEMORY_BOUND_MIB:
        broken.append(f"edge memory grew over {MEMORY_BOUND_MIB} MiB")
    if len(result.loaded_ms) < len(result.unloaded_ms):
        broken.append("the honest session lost completions under abuse")
    answers = result.outcomes.counts
    if "attacker" in answers:
        broken.append(f"the attacks did not run: {dict(answers['attacker'])}")
    expected = {"oversized frame": ("frame_too_large", "closed 1009"),
                "decompression bomb": ("closed 1002",), "slow handshake": ("closed by the edge",),
                "message flood": ("closed 1008",), "connection flood": ("HTTP 401",)}
    for attack, needles in expected.items():
        seen = " ".join(answers.get(attack, Counter()))
        if not all(needle in seen for needle in needles):
            broken.append(f"{attack}: expected {needles}, saw {dict(answers.get(attack, {}))}")
    return broken


def report(result: AbuseResult) -> None:
    unloaded_p50 = statistics.median(result.unloaded_ms)
    loaded_p50 = statistics.median(result.loaded_ms) if result.loaded_ms else float("nan")
    print(f"honest first token, unloaded: p50 {unloaded_p50:.1f} ms, "
          f"p99 {percentile(result.unloaded_ms, 0.99):.1f} ms ({len(result.unloaded_ms)} requests)")
    print(f"honest first token, under abuse: p50 {loaded_p50:.1f} ms, "
          f"p99 {percentile(result.loaded_ms, 0.99):.1f} ms ({len(result.loaded_ms)} requests) "
          f"-> p50 within 2x: {'met' if loaded_p50 <= 2 * unloaded_p50 else 'NOT met'} "
          f"({loaded_p50 / unloaded_p50:.2f}x)")
    print(f"edge memory: {result.rss_before_kib / 1024:.1f} MiB before, "
          f"{result.rss_peak_kib / 1024:.1f} MiB at peak, {result.rss_after_kib / 1024:.1f} MiB "
          f"after; healthy after: {result.healthy_after}")
    for attack, answers in result.outcomes.counts.items():
        print(f"  {attack}: " + ", ".join(f"{k} x{v}" for k, v in answers.most_common(6)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scale", type=int, default=1, help="multiplies every attack's size")
    args = parser.parse_args()
    settings = private_settings("bench-abuse").replace(hello_timeout_s=3.0)
    keys = provision(settings, 100 * args.scale, prefix="abuse")
    supervisor, running = up(settings)
    try:
        result = asyncio.run(abuse(running, keys, args.seconds, args.scale))
    finally:
        supervisor.stop_all()
    report(result)
    broken = broken_guarantees(result)
    if statistics.median(result.loaded_ms) > 2 * statistics.median(result.unloaded_ms):
        broken.append("honest first-token p50 under abuse is over 2x the unloaded figure")
    for line in broken:
        print(f"NOT KEPT: {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
