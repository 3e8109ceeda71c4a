"""One WebSocket session from the language server to the edge, kept open for the editor's life.

The asyncio adapter around the socket protocol: frames go out in the order they were posted (one
writer per connection), replies are routed to the request that is waiting for them, ``slow_down``
is honoured, and a dropped socket is opened again with backoff; on every new session ``reopen``
posts the editor's open documents first, so the edge's copy is whole before any edit or request
of the new session reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ide.options import Options
from ide.pacing import Backoff, Pacing
from schemas.codec import encode, parse_json
from schemas.errors import ProtocolError
from schemas.socket import (
    Cancel,
    ClientMessage,
    CompletionRequest,
    EditSuggestion,
    ErrorFrame,
    Feedback,
    Hello,
    Notice,
    SlowDown,
    TaskKind,
    TaskRequest,
    Welcome,
    decode_server_message,
)
from socket_client.answers import Answer, land

log = logging.getLogger("ide.edge")

#: A session that lasted this long resets the reconnection backoff (one the edge closes at once,
#: for a reason that will not go away, must not be retried every 0.25 s).
STABLE_SESSION_S = 5.0
#: Frames larger than this are refused by the edge; the real limit comes with ``welcome``.
DEFAULT_MAX_FRAME_BYTES = 1 << 20


class EdgeLink:
    """The session to the edge: ``run()`` keeps it connected; ``post`` and ``complete`` use it."""

    def __init__(self, options: Options, reopen: Callable[[], None],
                 notify: Callable[[str], None] = lambda _message: None,
                 on_refused: Callable[[ErrorFrame], None] = lambda _frame: None,
                 on_suggestion: Callable[[EditSuggestion], None] = lambda _frame: None) -> None:
        self.options = options
        self._reopen = reopen
        self._notify = notify
        self._on_refused = on_refused
        self._on_suggestion = on_suggestion
        self.welcome: Welcome | None = None
        self.pacing = Pacing()
        self.sessions = 0
        self._outbox: asyncio.Queue[str] | None = None
        self._pending: dict[str, Answer] = {}
        self._connected = asyncio.Event()
        self._stopping = False
        #: The last attempt to open a session failed: nothing to wait for until one opens.
        self.unreachable = False

    @property
    def connected(self) -> bool:
        return self._outbox is not None

    @property
    def max_frame_bytes(self) -> int:
        return self.welcome.max_frame_bytes if self.welcome else DEFAULT_MAX_FRAME_BYTES

    def post(self, message: ClientMessage) -> bool:
        """Queue ``message`` for the current session. False when there is none (the frame is not
        needed: the next session re-opens every document) or when it is larger than the edge takes."""
        if self._outbox is None:
            return False
        data = encode(message)
        if len(data) > self.max_frame_bytes:
            return False
        self._outbox.put_nowait(data.decode("utf-8"))
        return True

    async def wait_connected(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return self.connected

    async def pace(self) -> bool:
        """Wait for this request's turn under the edge's ``slow_down``; ``False`` when a newer
        request came meanwhile (it takes the turn: answer this one with nothing)."""
        now = time.monotonic()
        at, ticket = self.pacing.claim(now)
        if at > now:
            await asyncio.sleep(at - now)
        return self.pacing.current(ticket)

    async def complete(self, uri: str, version: int, offset: int, timeout_s: float = 10.0,
                       max_tokens: int | None = None) -> Answer:
        """Ask for a completion now (after :meth:`pace`) and wait for its ``end``. A cancelled
        caller (``$/cancelRequest``) cancels the request at the edge too."""
        return await self._ask(lambda request_id: CompletionRequest(
            request_id, uri, version, offset, max_tokens), timeout_s)

    async def task(self, kind: TaskKind, uri: str, version: int, start: int, end: int,
                   instruction: str | None = None, timeout_s: float = 30.0) -> Answer:
        """Run an assistant task and wait for its ``end`` (a cancelled caller cancels it)."""
        return await self._ask(lambda request_id: TaskRequest(
            request_id, kind, uri, version, start, end, instruction), timeout_s)

    async def _ask(self, request: Callable[[str], CompletionRequest | TaskRequest],
                   timeout_s: float) -> Answer:
        """Post ``request`` under a new id and wait for its ``end``; a cancelled caller or the
        timeout cancels it at the edge."""
        answer = Answer(uuid.uuid4().hex[:16], time.perf_counter())
        if not self.post(request(answer.request_id)):
            answer.give_up("not_connected")
            return answer
        self._pending[answer.request_id] = answer
        try:
            await asyncio.wait_for(answer.done.wait(), timeout_s)
        except asyncio.CancelledError:
            self.post(Cancel(answer.request_id))
            raise
        except TimeoutError:
            self.post(Cancel(answer.request_id))
            answer.give_up("timeout")
        finally:
            self._pending.pop(answer.request_id, None)
        return answer

    def feedback(self, request_id: str, kind: str, accepted_chars: int | None = None,
                 latency_ms: int | None = None) -> bool:
        """Report what the user did with a suggestion (a new event id each time)."""
        return self.post(Feedback(uuid.uuid4().hex, request_id, kind,  # type: ignore[arg-type]
                                  accepted_chars, latency_ms))

    async def run(self) -> None:
        """Connect, serve the session until it drops, wait, connect again; until :meth:`stop`."""
        backoff = Backoff()
        told_status = 0
        while not self._stopping:
            started, sessions = time.monotonic(), self.sessions
            try:
                await self._session()
            except InvalidStatus as error:
                self.unreachable = True
                status = error.response.status_code
                if status != told_status:  # once per kind of refusal, not every retry
                    told_status = status
                    self._notify(f"the edge at {self.options.url} refused the connection "
                                 f"(HTTP {status})"
                                 + ("; check the API key" if status in (401, 403) else ""))
            except (OSError, WebSocketException, ProtocolError, TimeoutError, ValueError) as error:
                self.unreachable = True
                if self.sessions == 0 and backoff.failures == 0:
                    self._notify(f"cannot reach the edge at {self.options.url}: {error}; "
                                 "retrying (is `make up` running?)")
                log.info("edge session ended: %s", type(error).__name__)
            if self._stopping:
                break
            if self.sessions > sessions and time.monotonic() - started >= STABLE_SESSION_S:
                backoff.reset()  # it had been working: back at the first delay
                told_status = 0
            await asyncio.sleep(backoff.next_delay_s())

    def stop(self) -> None:
        self._stopping = True

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.options.url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.options.ca_file)

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self.options.api_key}"}
        async with connect(self.options.url, additional_headers=headers, compression=None,
                           ssl=self._ssl(), open_timeout=5, max_size=4 * (1 << 20)) as connection:
            await connection.send(encode(Hello(protocol=1, client=self.options.client,
                                               capabilities=True,
                                               edit_suggestions=self.options.next_edits)
                                         ).decode())
            first = decode_server_message(parse_json(await asyncio.wait_for(connection.recv(), 5)))
            if not isinstance(first, Welcome):
                raise ProtocolError("no_welcome", f"the edge answered hello with {first.type}")
            self.welcome = first
            self.sessions += 1
            self.unreachable = False
            outbox: asyncio.Queue[str] = asyncio.Queue()
            self._outbox = outbox
            self._reopen()  # posts every open document before anything else of this session
            self._connected.set()
            log.info("edge session %s open (%s)", first.session_id, first.plan)
            writer = asyncio.create_task(self._write(connection, outbox))
            try:
                await self._read(connection)
            finally:
                self._outbox = None
                self._connected.clear()
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
                for answer in self._pending.values():
                    answer.give_up("disconnected")

    async def _write(self, connection: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.send(await outbox.get())

    async def _read(self, connection: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in connection:
                try:
                    frame = decode_server_message(parse_json(data))
                except ProtocolError as error:
                    log.warning("bad frame from the edge: %s", error.code)
                    continue
                self._route(frame)

    def _route(self, frame: Any) -> None:
        if land(self._pending, frame, time.perf_counter()) is not None:
            return
        if isinstance(frame, ErrorFrame):
            log.info("edge refused a frame: %s (field %s)", frame.code, frame.field)
            self._on_refused(frame)
        elif isinstance(frame, SlowDown):
            self.pacing.interval_ms = frame.request_interval_ms
        elif isinstance(frame, Notice):
            self._notify(f"code assistant: {frame.message}")
        elif isinstance(frame, EditSuggestion):
            self._on_suggestion(frame)
