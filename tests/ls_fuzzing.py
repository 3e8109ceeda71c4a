"""Fuzzing of the language server's stdio: random and mutated JSON-RPC on a live ``python -m ide``.

Each batch mixes well-formed LSP messages, the same with their JSON mutated (a field dropped,
retyped, replaced by an extreme, the method switched, the id made a float, the envelope broken)
and frames mutated in their bytes (cut, bit-flipped, spliced, a wrong ``Content-Length``, a
lowercase or LF-only header, no header at all, garbage between frames). After each batch a
well-formed completion request must be answered (the server is alive and in step); at the end,
every request whose frame was intact must have had an answer with its id (a result or an
error), the process must exit 0 on ``shutdown``/``exit``, and its log must hold no traceback
and no document text (the canary identifier).

``python -m tests.ls_fuzzing --messages N --seed S [--stack | --url ws://...]`` runs more;
``--stack`` starts a private stack (the probes are then real completions), without either the
edge's address refuses connections (the protocol, not the answers, is under test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import rss_kib
from ide import envelope
from ide.framing import frame
from tests.fuzzing import mutate_bytes, mutate_value
from tests.lsp_wire import Wire, framed, message, refused_url

CANARY = "zqx_canary_fuzz_identifier"
PROBE_URI = "file:///w/probe.py"
#: A document whose end the model finishes from the document itself (``mit)``).
PROBE_TEXT = ("def square_table(limit):\n    for index in range(limit):\n"
              "        print(index, index * index)\n\n\ndef cube_table(limit):\n"
              "    for index in range(li")
URIS = ["file:///w/a.py", "file:///w/b.ts", "untitled:Untitled-1"]
#: Methods a mutation may switch to (never shutdown or exit: the session must go on).
METHODS = ["initialize", "initialized", "textDocument/didOpen", "textDocument/didChange",
           "textDocument/didClose", "textDocument/completion", "textDocument/inlineCompletion",
           "textDocument/codeAction", "workspace/executeCommand", "$/cancelRequest",
           "textDocument/hover", "acme/unknown", "$/setTrace"]


def _position(rng: random.Random) -> dict[str, int]:
    return {"line": rng.randrange(0, 4), "character": rng.randrange(0, 12)}


def valid_message(rng: random.Random, msg_id: int) -> dict[str, Any]:
    """A well-formed LSP message about one of a few documents."""
    uri = rng.choice(URIS)
    doc = {"uri": uri}
    here = _position(rng)
    roll = rng.randrange(9)
    if roll == 0:
        return message("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": msg_id,
            "text": f"def {CANARY}(a):\n    return a + 1\n\nx = {CANARY}(2)\n"}})
    if roll == 1:
        return message("textDocument/didChange", {
            "textDocument": {**doc, "version": msg_id},
            "contentChanges": [{"range": {"start": here, "end": here}, "text": "y"}]})
    if roll == 2:
        return message("textDocument/didClose", {"textDocument": doc})
    if roll == 3:
        return message("textDocument/inlineCompletion", {
            "textDocument": doc, "position": here, "context": {"triggerKind": 2}}, msg_id)
    if roll == 4:
        return message("textDocument/codeAction", {
            "textDocument": doc, "range": {"start": here, "end": _position(rng)},
            "context": {"diagnostics": []}}, msg_id)
    if roll == 5:
        return message("workspace/executeCommand", {
            "command": "codeAssistant.runTask", "arguments": [{
                "kind": rng.choice(["explain", "find_bugs", "docs"]), "uri": uri,
                "range": {"start": here, "end": here}}]}, msg_id)
    if roll == 6:
        return message("$/cancelRequest", {"id": msg_id - rng.randrange(1, 5)})
    return message("textDocument/completion", {"textDocument": doc, "position": here}, msg_id)


def mutated(rng: random.Random, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with one to three structural changes (the method switched now and then)."""
    value: Any = data
    for _ in range(rng.randrange(1, 4)):
        if isinstance(value, dict) and rng.random() < 0.15:
            value = {**value, "method": rng.choice(METHODS)}
        else:
            value = mutate_value(value, rng, [])
    return value if isinstance(value, dict) else {"jsonrpc": "2.0", "v": value}


def broken_frame(rng: random.Random, body: bytes) -> bytes:
    """``body`` in a frame that is wrong in its bytes."""
    roll = rng.randrange(8)
    if roll == 0:
        return body  # no header
    if roll == 1:
        return b"Content-Length: %d\r\n\r\n%s" % (max(0, len(body) + rng.randrange(-20, 40)),
                                                   body)
    if roll == 2:
        return b"content-length:%d\n\n%s" % (len(body), body)  # well formed, unusual
    if roll == 3:
        return frame(bytes(b ^ 0x80 for b in body[:8]) + body[8:])  # not UTF-8
    if roll == 4:
        return b"Content-Length: %d\r\n" % len(body) + bytes(rng.randrange(256)
                                                              for _ in range(rng.randrange(9)))
    return mutate_bytes(frame(body), rng)


@dataclass
class Report:
    messages: int = 0
    intact_requests: int = 0
    unanswered: list[str] = field(default_factory=list)
    probes: int = 0
    probes_with_items: int = 0
    probe_p99_ms: float = 0.0
    seconds: float = 0.0
    exit_code: int | None = None
    rss_mb: float = 0.0
    problems: list[str] = field(default_factory=list)


def expected_id(data: Any) -> tuple[bool, envelope.MsgId | None]:
    """Whether an intact frame holding ``data`` must be answered, and under which id."""
    read = envelope.classify(data)
    if isinstance(read, envelope.Message):
        return read.kind == "request", read.id
    return read.reply, read.id


async def _probe(wire: Wire, n: int, live: bool) -> dict[str, Any]:
    """A completion at the end of a document the fuzz never touches (opened again each time).
    Against a live edge an empty answer is asked again after a pause, up to three times: the
    batch before may have spent the user's rate."""
    await wire.send(framed(message("textDocument/didOpen", {"textDocument": {
        "uri": PROBE_URI, "languageId": "python", "version": n, "text": PROBE_TEXT}})))
    lines = PROBE_TEXT.split("\n")
    here = {"line": len(lines) - 1, "character": len(lines[-1])}
    reply: dict[str, Any] = {}
    for attempt in range(3 if live else 1):
        reply = await wire.ask("textDocument/completion", {
            "textDocument": {"uri": PROBE_URI}, "position": here}, f"probe-{n}-{attempt}",
            timeout_s=30)
        if "error" in reply or (reply.get("result") or {}).get("items"):
            break
        await asyncio.sleep(0.5)
    return reply


async def run(messages: int, seed: int, url: str, batch: int = 250,
              log_level: str = "info", api_key: str = "k", live: bool = False) -> Report:
    """``live``: the edge at ``url`` runs (probes should get suggestions)."""
    rng = random.Random(seed)
    report = Report()
    expected: Counter[envelope.MsgId | None] = Counter()
    bodies: dict[envelope.MsgId | None, bytes] = {}
    probe_ms: list[float] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        wire = await Wire.start(Path(tmp) / "stderr", url, api_key, log_level)
        await wire.initialize({"url": url})
        next_id = 1
        while report.messages < messages:
            data = bytearray()
            for _ in range(min(batch, messages - report.messages)):
                report.messages += 1
                next_id += 1
                value: Any = valid_message(rng, next_id)
                roll = rng.random()
                if roll < 0.45:
                    value = mutated(rng, value)
                try:
                    body = json.dumps(value).encode()
                except (TypeError, ValueError, RecursionError):
                    body = json.dumps(valid_message(rng, next_id)).encode()
                    value = json.loads(body)
                if roll > 0.8:
                    data += broken_frame(rng, body)
                    continue
                must, msg_id = expected_id(value)
                if must:
                    expected[msg_id] += 1
                    bodies[msg_id] = bodies.get(msg_id, b"") + b"\n    " + body
                    report.intact_requests += 1
                data += frame(body)
            await wire.send(bytes(data))
            report.probes += 1
            asked = time.perf_counter()
            try:
                reply = await _probe(wire, report.probes, live)
            except TimeoutError:
                report.problems.append(f"probe {report.probes} not answered in 30 s: the "
                                       "server is stuck")
                break
            probe_ms.append((time.perf_counter() - asked) * 1000)
            if "result" not in reply:
                report.problems.append(f"probe {report.probes}: {reply}")
            elif (reply.get("result") or {}).get("items"):
                report.probes_with_items += 1
        await asyncio.sleep(1.0)  # answers of the last batch still on their way
        for msg_id, count in expected.items():
            got = len(wire.replies.get(msg_id, []))
            if got < count:
                report.unanswered.append(f"id {msg_id!r}: {count} sent, {got} answered: "
                                         f"{bodies[msg_id][:300]!r}")
        report.rss_mb = rss_kib(wire.process.pid) / 1024
        report.exit_code = await wire.stop(timeout_s=30)
        log = wire.stderr.read_text(errors="replace")
    if "Traceback" in log:
        report.problems.append("a traceback in the log: " + log[log.index("Traceback"):][:600])
    if CANARY in log:
        report.problems.append("the canary identifier is in the log")
    probe_ms.sort()
    report.probe_p99_ms = probe_ms[int(0.99 * (len(probe_ms) - 1))] if probe_ms else 0.0
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ls_fuzzing")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--url", default="", help="a running edge (default: none, refused)")
    parser.add_argument("--log", default="info", help="the server's log level")
    parser.add_argument("--api-key", default="k", help="a key the edge at --url takes")
    parser.add_argument("--stack", action="store_true",
                        help="start a private stack and fuzz against its edge")
    args = parser.parse_args()
    if args.stack:
        from bench.keys import provision
        from infra.stack import private_settings, up

        settings = private_settings("ls-fuzz")
        key = provision(settings, 1, prefix="lsfuzz").take("pro").api_key
        supervisor, running = up(settings)
        try:
            report = asyncio.run(run(args.messages, args.seed, running.edge_url(0),
                                     log_level=args.log, api_key=key, live=True))
        finally:
            supervisor.stop_all()
    else:
        report = asyncio.run(run(args.messages, args.seed, args.url or refused_url(),
                                 log_level=args.log, api_key=args.api_key, live=bool(args.url)))
    print(f"{report.messages} messages (seed {args.seed}) in {report.seconds:.1f} s: "
          f"{report.intact_requests} intact requests, {len(report.unanswered)} ids unanswered; "
          f"{report.probes} probes ({report.probes_with_items} with a suggestion), p99 "
          f"{report.probe_p99_ms:.1f} ms; exit code "
          f"{report.exit_code}; RSS {report.rss_mb:.0f} MiB")
    for line in report.unanswered[:10] + report.problems:
        print("  " + line)
    return 0 if not report.unanswered and not report.problems and report.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
