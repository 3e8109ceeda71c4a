"""Keystroke latency through the language server, next to the socket's own in the same run.

``python -m bench.ide_latency [--keystrokes N]`` starts a private stack (as the tests do) and
types the same function twice, one character at a time, into two editors that run side by side:

- ``socket``: a WebSocket client speaking our protocol (``doc_change`` + ``complete``), timed
  from the keystroke to the first ``token`` frame and to the ``end``;
- ``lsp``: a real LSP client (pygls) driving ``python -m ide`` over stdio (``didChange`` +
  ``textDocument/inlineCompletion``), timed from the keystroke to the LSP response.

An inline completion is one LSP response, sent when the suggestion is complete, so the like-for-
like baseline is the socket's ``end``; the socket's first token is printed too. The two editors
type the same file under keys of two tenants (tenants never share cached generations), so each
keystroke costs both the same model work; which one goes first alternates. Then the server's
CPU and memory (RSS) of the language server process, idle for 20 s after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from bench.keys import provision
from bench.measure import cpu_seconds, percentile, rss_kib
from config.settings import Settings
from infra.stack import private_settings, up
from schemas.socket import DocChange, DocOpen, TextEdit
from ws_edge.client import EdgeClient, connect_edge

ROOT = Path(__file__).resolve().parent.parent
#: How long the server is watched idle after the typing, for its CPU and memory.
IDLE_S = 20.0

#: What the two editors type, character by character, after their header line.
TYPED = '''def moving_average(values, window):
    """The mean of each run of ``window`` consecutive values."""
    if window <= 0:
        raise ValueError("window must be positive")
    total = sum(values[:window])
    averages = [total / window]
    for index in range(window, len(values)):
        total += values[index] - values[index - window]
        averages.append(total / window)
    return averages
'''


def row(name: str, samples: list[float]) -> str:
    return (f"{name:34s} p50 {statistics.median(samples):7.2f}  p90 {percentile(samples, 0.9):7.2f}"
            f"  p99 {percentile(samples, 0.99):7.2f}  (n={len(samples)})")


class SocketEditor:
    """Types through the socket protocol; times keystroke -> first token and -> end."""

    def __init__(self, client: EdgeClient) -> None:
        self.client, self.text, self.version = client, "# editor\n", 1
        self.first_ms: list[float] = []
        self.end_ms: list[float] = []

    async def open(self) -> None:
        await self.client.send(DocOpen("file:///socket.py", "python", 1, self.text))

    async def keystroke(self, char: str) -> None:
        started = time.perf_counter()
        self.version += 1
        offset = len(self.text)
        await self.client.send(DocChange("file:///socket.py", self.version,
                                         (TextEdit(offset, offset, char),)))
        self.text += char
        completion = await self.client.complete("file:///socket.py", self.version, len(self.text))
        await asyncio.wait_for(completion.done.wait(), 30)
        self.end_ms.append((time.perf_counter() - started) * 1000)
        if completion.first_token_s is not None:
            self.first_ms.append((completion.sent_s + completion.first_token_s - started) * 1000)


class LspEditor:
    """Types through the language server; times keystroke -> inline completion response."""

    def __init__(self, client: LanguageClient) -> None:
        self.client, self.lines, self.version = client, ["# editor", ""], 1
        self.response_ms: list[float] = []
        self.answered = 0

    def open(self) -> None:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri="file:///lsp.py", language_id="python",
                                                 version=1, text="\n".join(self.lines))))

    async def keystroke(self, char: str) -> None:
        started = time.perf_counter()
        self.version += 1
        here = types.Position(line=len(self.lines) - 1,
                              character=len(self.lines[-1].encode("utf-16-le")) // 2)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri="file:///lsp.py",
                                                                version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=here, end=here), text=char)]))
        if char == "\n":
            self.lines.append("")
        else:
            self.lines[-1] += char
        at = types.Position(line=len(self.lines) - 1,
                            character=len(self.lines[-1].encode("utf-16-le")) // 2)
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri="file:///lsp.py"), position=at,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        self.response_ms.append((time.perf_counter() - started) * 1000)
        if isinstance(result, types.InlineCompletionList) and result.items:
            self.answered += 1


async def measure(settings: Settings, keys: list[str], keystrokes: int) -> None:
    lsp = LanguageClient("bench-ide-latency", "1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODE_ASSISTANT_API_KEY": keys[1]}
    await lsp.start_io(sys.executable, "-m", "ide", env=env)
    await lsp.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={
            "url": settings.edge_url(0), "client": "bench"}))
    lsp.initialized(types.InitializedParams())
    server_pid = lsp._server.pid if lsp._server else 0  # its process, for the RSS
    async with connect_edge(settings.edge_url(0), keys[0]) as connection:
        client = EdgeClient(connection)
        await client.start()
        socket_editor, lsp_editor = SocketEditor(client), LspEditor(lsp)
        await socket_editor.open()
        lsp_editor.open()
        typed = (TYPED * (keystrokes // len(TYPED) + 1))[:keystrokes]
        # Warm up both paths (connections, the model's first call) before timing.
        for char in "import os\n":
            await socket_editor.keystroke(char)
            await lsp_editor.keystroke(char)
        socket_editor.first_ms.clear()
        socket_editor.end_ms.clear()
        lsp_editor.response_ms.clear()
        lsp_editor.answered = 0
        for n, char in enumerate(typed):
            pair = [socket_editor.keystroke(char), lsp_editor.keystroke(char)]
            for step in (pair if n % 2 else pair[::-1]):
                await step
        await client.close()
    print(f"keystrokes: {len(typed)} per editor (one function typed character by character)")
    print(row("socket: keystroke -> first token", socket_editor.first_ms))
    print(row("socket: keystroke -> end", socket_editor.end_ms))
    print(row("lsp: keystroke -> inline response", lsp_editor.response_ms))
    slow = sorted(range(len(typed)), key=lambda i: lsp_editor.response_ms[i])[-5:]
    print("slowest lsp keystrokes: " + ", ".join(f"#{i} {typed[i]!r} {lsp_editor.response_ms[i]:.0f} ms"
                                                  f" (socket {socket_editor.end_ms[i]:.0f})"
                                                  for i in slow))
    print("slowest five: socket end " + ", ".join(f"{v:.0f}" for v in sorted(socket_editor.end_ms)[-5:])
          + "; lsp " + ", ".join(f"{v:.0f}" for v in sorted(lsp_editor.response_ms)[-5:]) + " ms")
    print(f"answered with a suggestion: socket {len(socket_editor.first_ms)}, "
          f"lsp {lsp_editor.answered} of {len(typed)}")
    paired = [lsp - sock for lsp, sock in zip(lsp_editor.response_ms, socket_editor.end_ms,
                                               strict=True)]
    print(f"per keystroke, lsp response - socket end: median {statistics.median(paired):+.2f} ms, "
          f"p90 {percentile(paired, 0.9):+.2f}, p99 {percentile(paired, 0.99):+.2f}")
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        added = percentile(lsp_editor.response_ms, q) - percentile(socket_editor.end_ms, q)
        over_first = percentile(lsp_editor.response_ms, q) - percentile(socket_editor.first_ms, q)
        print(f"bridge adds at {name}: {added:+.2f} ms over the socket's end, "
              f"{over_first:+.2f} ms over its first token")
    await asyncio.sleep(2)
    if server_pid:
        before = cpu_seconds(server_pid)
        await asyncio.sleep(IDLE_S)  # the editor open, nobody typing
        idle = cpu_seconds(server_pid) - before
        print(f"language server idle for {IDLE_S:.0f} s: {100 * idle / IDLE_S:.2f} % of one core, "
              f"RSS {rss_kib(server_pid) / 1024:.1f} MiB")
    await lsp.shutdown_async(None)
    lsp.exit(None)
    await lsp.stop()  # type: ignore[no-untyped-call]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ide_latency")
    parser.add_argument("--keystrokes", type=int, default=300)
    args = parser.parse_args()
    settings = private_settings("bench-ide")
    ring = provision(settings, 2, prefix="bench")
    keys = [ring.take("pro").api_key, ring.take("enterprise").api_key]
    supervisor, running = up(settings)
    try:
        asyncio.run(measure(running, keys, args.keystrokes))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
