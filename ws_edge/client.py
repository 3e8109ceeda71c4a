"""A client a person can run: types a source file into the edge and shows completions as they stream.

``python -m ws_edge.client FILE [--url ws://127.0.0.1:8765] [--api-key KEY]`` opens an empty
document, types FILE
keystroke by keystroke, asks for a completion at the end of each word and line, prints the
suggestion as its tokens arrive, and accepts it when it matches what the file really says next
(then types the accepted text in one edit, as an editor would) or rejects it otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from config.settings import Settings
from schemas.codec import encode, parse_json
from schemas.socket import (
    CompletionRequest,
    DocChange,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    ServerMessage,
    TaskKind,
    TaskRequest,
    TextEdit,
    TokenChunk,
    Welcome,
    decode_server_message,
)
from socket_client.answers import Answer, land

LANGUAGE_BY_SUFFIX = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go",
                      ".rs": "rust", ".java": "java", ".c": "c", ".cpp": "cpp", ".rb": "ruby"}


class EdgeClient:
    """A minimal protocol client: sends messages, routes frames to the request they belong to."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pending: dict[str, Answer] = {}
        self.errors: list[ErrorFrame] = []
        self.frames: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self.on_chunk: Callable[[Answer, str], None] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, client: str = "demo-client/0.1", edit_suggestions: bool = False
                    ) -> Welcome:
        await self.send(Hello(protocol=1, client=client, edit_suggestions=edit_suggestions))
        first = decode_server_message(parse_json(await self.connection.recv()))
        if not isinstance(first, Welcome):
            raise RuntimeError(f"expected welcome, got {first}")
        self._reader = asyncio.create_task(self._read())
        return first

    async def send(self, message: Any) -> None:
        await self.connection.send(encode(message).decode("utf-8"))

    async def complete(self, uri: str, version: int, offset: int,
                       max_tokens: int | None = None) -> Answer:
        request_id = uuid.uuid4().hex[:16]
        completion = Answer(request_id, time.perf_counter())
        self.pending[request_id] = completion
        await self.send(CompletionRequest(request_id, uri, version, offset, max_tokens))
        return completion

    async def task(self, kind: TaskKind, uri: str, version: int, start: int, end: int,
                   instruction: str | None = None) -> Answer:
        """Ask for an assistant task; its answer arrives like a completion's, plus results."""
        request_id = uuid.uuid4().hex[:16]
        answer = Answer(request_id, time.perf_counter())
        self.pending[request_id] = answer
        await self.send(TaskRequest(request_id, kind, uri, version, start, end, instruction))
        return answer

    async def _read(self) -> None:
        """Route frames until the connection closes (a close is how the reader ends, not an
        error: callers see the connection's state)."""
        with contextlib.suppress(ConnectionClosed):
            await self._route_frames()

    async def _route_frames(self) -> None:
        async for data in self.connection:
            frame = decode_server_message(orjson.loads(data))
            await self.frames.put(frame)
            answer = land(self.pending, frame, time.perf_counter())
            if answer is None:
                if isinstance(frame, ErrorFrame):
                    self.errors.append(frame)
            elif answer.end is not None:
                del self.pending[answer.request_id]
            elif isinstance(frame, TokenChunk) and self.on_chunk:
                self.on_chunk(answer, frame.text)

    async def close(self) -> None:
        if self.connection.state is not State.CLOSED:  # closing twice trips over a dead transport
            await self.connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def connect_edge(url: str, api_key: str, **options: Any) -> connect:
    """Open a socket to the edge, authenticated as the API key's user (the key goes in a header,
    never in the URL, so it stays out of proxies' access logs)."""
    return connect(url, additional_headers={"Authorization": f"Bearer {api_key}"},
                   compression=None, **options)


def dev_api_key(settings: Settings) -> str:
    """The local tenant's developer key that ``make up`` created (embedded setup only)."""
    return settings.tenants_path.with_suffix(".dev-key").read_text().strip()


#: Reconnection backoff of the demo client (doubling, capped).
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 8.0


@dataclass
class Typing:
    """How far the replay got: survives a reconnection."""

    source: str
    typed: int = 0
    version: int = 0
    accepted: int = 0
    rejected: int = 0


async def replay(url: str, api_key: str, path: Path, delay_ms: float, max_chars: int,
                 max_reconnects: int = 20) -> int:
    """Type ``path`` into the edge; if the connection drops (an edge or stack restart), connect
    again with backoff, re-open the document as typed so far, and go on."""
    state = Typing(path.read_text(encoding="utf-8")[:max_chars])  # noqa: ASYNC240 - read once at start
    backoff, reconnects = RECONNECT_FIRST_S, 0
    while True:
        try:
            await _type_session(url, api_key, path, delay_ms, state)
            break
        except (ConnectionClosed, OSError) as error:
            if state.version == 0 or reconnects >= max_reconnects:
                raise  # never connected (no stack there), or it does not come back
            reconnects += 1
            print(f"\n[connection lost: {type(error).__name__}; reconnecting in {backoff:.1f} s, "
                  f"{state.typed} of {len(state.source)} characters typed]", flush=True)
            await asyncio.sleep(backoff)
            backoff = min(RECONNECT_MAX_S, backoff * 2)
    print(f"\ndone: {state.accepted} accepted, {state.rejected} rejected"
          + (f", {reconnects} reconnection(s)" if reconnects else ""))
    return 0


async def _type_session(url: str, api_key: str, path: Path, delay_ms: float,
                        state: Typing) -> None:
    """One connection: open the document as typed so far, type the rest."""
    source = state.source
    uri = path.resolve().as_uri()  # noqa: ASYNC240
    language = LANGUAGE_BY_SUFFIX.get(path.suffix, "plaintext")
    async with connect_edge(url, api_key) as connection:
        client = EdgeClient(connection)
        welcome = await client.start()
        print(f"session {welcome.session_id} on {url} as {welcome.user_id} ({welcome.tenant_id}, "
              f"{welcome.plan}); typing {len(source) - state.typed} characters of {path}")
        client.on_chunk = lambda _c, text: print(text, end="", flush=True)
        state.version += 1
        await client.send(DocOpen(uri, language, state.version, source[:state.typed]))
        while state.typed < len(source):
            typed = state.typed
            char = source[typed]
            state.version += 1
            await client.send(DocChange(uri, state.version, (TextEdit(typed, typed, char),)))
            typed = state.typed = typed + 1
            await asyncio.sleep(delay_ms / 1000)
            if not (char == "\n" or (char in " (.:" and typed < len(source))):
                continue
            line_no = source.count("\n", 0, typed) + 1
            print(f"\n[line {line_no}] ", end="")
            completion = await client.complete(uri, state.version, typed)
            try:
                await asyncio.wait_for(completion.done.wait(), 10)
            except TimeoutError:
                if connection.state is State.CLOSED:
                    raise ConnectionClosed(None, None) from None
                print("(no answer in 10 s)")
                continue
            text = completion.text
            expected = source[typed:typed + len(text)]
            first = f"{completion.first_token_s * 1000:.1f} ms" if completion.first_token_s else "-"
            if completion.error:
                print(f"<error {completion.error.code}: {completion.error.message}>")
                continue
            if not text:
                print(f"<nothing> ({completion.end.reason if completion.end else '?'})")
                continue
            kind = "accepted" if text == expected else "rejected"
            print(f"  <- {kind}, first token {first}")
            await client.send(Feedback(uuid.uuid4().hex, completion.request_id, kind,  # type: ignore[arg-type]
                                       latency_ms=int((completion.first_token_s or 0) * 1000)))
            if kind == "accepted":
                state.accepted += 1
                state.version += 1
                await client.send(DocChange(uri, state.version, (TextEdit(typed, typed, text),)))
                state.typed = typed + len(text)
            else:
                state.rejected += 1
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m ws_edge.client")
    parser.add_argument("file", type=Path)
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--delay-ms", type=float, default=30.0, help="pause between keystrokes")
    parser.add_argument("--max-chars", type=int, default=2000)
    parser.add_argument("--api-key", default=os.environ.get("API_KEY"),
                        help="default: $API_KEY, else the embedded stack's developer key")
    args = parser.parse_args()
    try:
        api_key = args.api_key or dev_api_key(Settings.from_env())
    except OSError:
        print("no API key: pass --api-key, set API_KEY, or start the embedded stack (`make up`) "
              "which creates a developer key", file=sys.stderr)
        return 2
    try:
        return asyncio.run(replay(args.url, api_key, args.file, args.delay_ms, args.max_chars))
    except OSError as error:
        print(f"cannot reach the edge at {args.url}: {error}; is the stack up (`make up`)?",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
