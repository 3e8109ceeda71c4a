"""The next inline completion after a burst of edits, next to the same editor's idle latency.

``python -m bench.ls_burst [--bursts N] [--edits E] [--burst-s S]`` starts a private stack (as
the tests do) and one ``python -m ide`` driven by a real LSP client (pygls). First the idle
baseline: one keystroke, then an inline completion, ``--idle`` times. Then ``--bursts`` times:
``--edits`` ``didChange`` notifications spread over ``--burst-s`` seconds (a character typed and
deleted, so the document keeps its size: what a paste storm, a macro or a formatter that sends
one edit per line produces), then at once the inline completion, timed from its request to the
response. The target (issue 25): the completion after a burst within 2x the idle p99.
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
from bench.measure import percentile
from config.settings import Settings
from infra.stack import private_settings, up

ROOT = Path(__file__).resolve().parent.parent
URI = "file:///burst.py"
#: A document whose last line the model can finish from the document itself (``mit)``).
TEXT = ("def square_table(limit):\n    for index in range(limit):\n"
        "        print(index, index * index)\n\n\ndef cube_table(limit):\n"
        "    for index in range(li")


def change(version: int, line: int, character: int, end_character: int,
           text: str) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=line, character=character),
                              end=types.Position(line=line, character=end_character)),
            text=text)])


class Editor:
    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.version = 1
        lines = TEXT.split("\n")
        self.last_line, self.end = len(lines) - 1, len(lines[-1])

    def edit(self, character: int, end_character: int, text: str) -> None:
        self.version += 1
        self.client.text_document_did_change(change(self.version, self.last_line, character,
                                                    end_character, text))

    async def complete_ms(self) -> tuple[float, bool]:
        started = time.perf_counter()
        result = await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=types.Position(line=self.last_line, character=self.end),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        answered = isinstance(result, types.InlineCompletionList) and bool(result.items)
        return (time.perf_counter() - started) * 1000, answered

    async def burst(self, edits: int, seconds: float) -> None:
        """``edits`` notifications over ``seconds``: a character in, then out, at the end."""
        slices = max(1, int(seconds / 0.01))
        per_slice = -(-edits // slices)
        sent, started = 0, time.perf_counter()
        for index in range(slices):
            for _ in range(min(per_slice, edits - sent)):
                if sent % 2 == 0:
                    self.edit(self.end, self.end, "x")
                else:
                    self.edit(self.end, self.end + 1, "")
                sent += 1
            await asyncio.sleep(max(0.0, started + (index + 1) * seconds / slices
                                    - time.perf_counter()))
        if sent % 2:
            self.edit(self.end, self.end + 1, "")


async def measure(settings: Settings, key: str, idle: int, bursts: int, edits: int,
                  burst_s: float, server_log: str) -> None:
    client = LanguageClient("bench-ls-burst", "1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODE_ASSISTANT_API_KEY": key}
    # The server's log to a file (pygls' client pipes stderr and never reads it).
    await client.start_io("sh", "-c", 'exec "$0" -m ide 2>"$1"', sys.executable, server_log,
                          env=env)
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={
            "url": settings.edge_url(0), "client": "bench"}))
    client.initialized(types.InitializedParams())
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1,
                                             text=TEXT)))
    editor = Editor(client)
    for _ in range(5):  # warm-up: the session, the model's first calls
        await editor.complete_ms()
    idle_ms: list[float] = []
    idle_answered = 0
    for _ in range(idle):
        editor.edit(editor.end, editor.end, "x")
        editor.edit(editor.end, editor.end + 1, "")
        latency, ok = await editor.complete_ms()
        idle_ms.append(latency)
        idle_answered += ok
        await asyncio.sleep(0.2)
    after_ms: list[float] = []
    answered = 0
    for _ in range(bursts):
        started = time.perf_counter()
        await editor.burst(edits, burst_s)
        took = time.perf_counter() - started
        latency, ok = await editor.complete_ms()
        after_ms.append(latency)
        answered += ok
        print(f"burst of {edits} edits in {took:.2f} s -> next inline completion "
              f"{latency:.0f} ms ({'a suggestion' if ok else 'empty'})", flush=True)
        await asyncio.sleep(2.0)
    idle_p99 = percentile(idle_ms, 0.99)
    print(f"idle: p50 {statistics.median(idle_ms):.1f} ms, p99 {idle_p99:.1f} ms "
          f"(n={len(idle_ms)}, {idle_answered} with a suggestion)")
    print(f"after a burst: p50 {statistics.median(after_ms):.1f} ms, max {max(after_ms):.1f} ms "
          f"(n={len(after_ms)}, {answered} with a suggestion)")
    print(f"worst after a burst / idle p99: {max(after_ms) / idle_p99:.2f}x (target <= 2x)")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()  # type: ignore[no-untyped-call]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ls_burst")
    parser.add_argument("--idle", type=int, default=40)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--burst-s", type=float, default=1.5)
    parser.add_argument("--server-log", default="/dev/null",
                        help="where the language server's log goes (CODE_ASSISTANT_LOG sets its level)")
    args = parser.parse_args()
    settings = private_settings("bench-burst")
    key = provision(settings, 1, prefix="burst").take("pro").api_key
    supervisor, running = up(settings)
    try:
        asyncio.run(measure(running, key, args.idle, args.bursts, args.edits, args.burst_s,
                            args.server_log))
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
