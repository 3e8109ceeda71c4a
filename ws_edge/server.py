"""The edge process: WebSocket sessions in, editor events to Kafka, reply frames back out.

Edge ``i`` owns partition ``i`` of the replies topic; every editor event it produces names that
partition, so workers send each session's frames only to the edge holding its socket. Each
socket has a bounded outbox drained by its own writer, so one slow client cannot stall the
reply consumer for the others.

Admission happens at the handshake (:class:`~ws_edge.gate.Gate`): a refusal closes the socket at
once with a 44xx code and a reason. The tenants file is re-read every ``AUTH_RELOAD_MS``; a key
revoked or expired since closes its live sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from config.settings import Settings
from runtime.metrics import Registry
from runtime.metrics_http import serve_metrics
from runtime.service import run_marking_ready
from schemas.codec import encode
from schemas.errors import ProtocolError
from schemas.socket import CompletionEnd, EditSuggestion, ErrorFrame, SlowDown, TokenChunk
from schemas.topics import FrameBatch, Reply, ResyncRequest, StageTimes, read_record, write_record
from sealing.cipher import Cipher, SealError
from sealing.session_keys import REFRESH_MS, SessionKeyError, SessionKeys
from streams.kafka import IDLE_WAIT_MS, make_consumer, make_producer
from streams.redis_client import make_redis
from tenants.directory import DirectoryError, Principal, Refusal
from ws_edge.gate import Gate
from ws_edge.pressure import Pressure, PressureConfig
from ws_edge.session import EdgeLimits, EdgeSession, OutRecord

log = logging.getLogger("ws_edge")

#: How often the edge looks for requests past their answer deadline.
OVERDUE_CHECK_MS = 250
#: Frames queued for one socket before the edge gives up on a client that does not read.
OUTBOX_FRAMES = 4096
#: Frames this many times over the limit close the connection instead of getting an error frame.
HARD_FRAME_FACTOR = 4
#: Close codes (4000-4999 are the application's): see SECURITY.md.
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_IDLE = 4000
CLOSE_FLOOD = 1008


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Socket:
    """A live session's socket and its outbox."""

    def __init__(self, connection: ServerConnection, session: EdgeSession, cipher: Cipher) -> None:
        self.connection = connection
        self.session = session
        #: Seals this session's editor events and opens its replies (key only in memory/Redis).
        self.cipher = cipher
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue(OUTBOX_FRAMES)
        self.closing = False

    def push(self, data: bytes) -> bool:
        try:
            self.outbox.put_nowait(data)
        except asyncio.QueueFull:
            return False
        return True

    async def drain(self) -> None:
        while (data := await self.outbox.get()) is not None:
            await self.connection.send(data, text=True)  # encoded once, sent as a text frame


class Edge:
    """One edge process: the sockets it holds and its Kafka producer and reply consumer."""

    def __init__(self, settings: Settings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.limits = EdgeLimits(settings.max_frame_bytes, settings.max_open_documents,
                                 settings.max_document_chars, settings.session_messages_per_second,
                                 settings.reply_deadline_ms, settings.user_bytes_per_second,
                                 settings.slow_down_interval_ms)
        self.producer: AIOKafkaProducer = make_producer(settings)
        self.redis = (make_redis(settings.redis_url, bool(settings.redis_cluster))
                      if settings.code_encryption else None)
        self.keys = SessionKeys(self.redis, settings.code_retention_ms)
        self.sockets: dict[str, _Socket] = {}
        self.gate = Gate(settings)
        self.dropped_replies = 0
        self.resyncs = 0
        self.pressure = Pressure(PressureConfig(
            high_ms=settings.overload_high_ms, low_ms=settings.overload_low_ms,
            request_interval_ms=settings.slow_down_interval_ms))
        self._background: set[asyncio.Task[Any]] = set()  # closes and resyncs in flight
        self.bad_replies = 0
        self.unanswered = 0
        self.late_replies = 0
        #: Requests ended ``reply_lost``: a frame of theirs never came (its record was dropped).
        self.lost_replies = 0
        self.metrics = _gauges(self)

    async def run(self, ready: asyncio.Event | None = None) -> None:
        settings = self.settings
        await self.producer.start()
        consumer = make_consumer(settings, group_id=None)
        await consumer.start()
        partition = TopicPartition(settings.topic_replies, self.index)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        replies = asyncio.create_task(self._route_replies(consumer))
        loops = [asyncio.create_task(loop) for loop in (
            self._watch_directory(), _keep_keys_fresh(self.keys), self._end_overdue())]
        metrics_port = settings.edge_metrics_listen_port(self.index)
        metrics: web.AppRunner | None = None
        try:
            if metrics_port is not None:
                metrics = await serve_metrics(self.metrics, metrics_port, settings.metrics_host)
            async with serve(
                self._handle, settings.edge_host, settings.edge_listen_port(self.index),
                max_size=settings.max_frame_bytes * HARD_FRAME_FACTOR,
                # Per-message deflate costs memory per socket and opens the door to decompression
                # bombs: off (the server never negotiates it).
                compression=None,
                process_request=self._admit,
                ping_interval=20, ping_timeout=20, open_timeout=settings.hello_timeout_s,
                ssl=_tls(settings),
            ) as server:
                log.info("edge %d listening on %s", self.index, settings.edge_url(self.index))
                if ready is not None:
                    ready.set()
                serving = asyncio.create_task(server.serve_forever())
                await asyncio.wait({serving, replies}, return_when=asyncio.FIRST_COMPLETED)
                if replies.done():
                    # Without reply routing the edge would accept sockets and answer none of them:
                    # stop, so the supervisor (or the orchestrator) sees it and restarts it.
                    serving.cancel()
                    replies.result()
                    raise RuntimeError("reply routing stopped")
                await serving
        finally:
            for task in (replies, *loops):
                task.cancel()
            await asyncio.gather(replies, *loops, return_exceptions=True)
            if metrics is not None:
                await metrics.cleanup()
            await consumer.stop()
            await self.producer.stop()
            if self.redis is not None:
                await self.redis.aclose()

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Health and metrics over plain HTTP; for a WebSocket upgrade, the gate's verdict."""
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if request.path == "/metrics":
            if self.settings.edge_metrics_port:
                return connection.respond(HTTPStatus.NOT_FOUND, "metrics are served apart\n")
            return connection.respond(HTTPStatus.OK, self.metrics.render())
        return self.gate.handshake(connection, request, now_ms())

    async def _handle(self, connection: ServerConnection) -> None:
        verdict = self.gate.enter(connection)
        if isinstance(verdict, Refusal):
            await connection.close(verdict.code, verdict.reason)
            return
        try:
            await self._serve_session(connection, verdict)
        finally:
            self.gate.leave(verdict)

    async def _serve_session(self, connection: ServerConnection, principal: Principal) -> None:
        session_id = uuid.uuid4().hex
        try:
            cipher = await self.keys.create(session_id)
        except SessionKeyError as error:
            log.error("session not started: no session key (%s)", error)
            await connection.close(1011, "the edge cannot protect this session's code: its key "
                                   "store (Redis) is unavailable; reconnect in a few seconds")
            return
        session = EdgeSession(session_id, self.index, self.limits, principal,
                              self.gate.tenant_bucket(principal, now_ms()), now_ms(),
                              self.gate.user_budget(principal, self.limits, now_ms()))
        sock = _Socket(connection, session, cipher)
        self.sockets[session.session_id] = sock
        writer = asyncio.create_task(sock.drain())
        hinted = False
        try:
            while True:
                waited = (self.settings.hello_timeout_s if session.hello is None
                          else self.settings.session_idle_timeout_s)
                try:
                    async with asyncio.timeout(waited):
                        frame = await connection.recv()
                except TimeoutError:
                    code, why = ((CLOSE_HELLO_TIMEOUT, "no hello in time") if session.hello is None
                                 else (CLOSE_IDLE, "idle for too long; reconnect when needed"))
                    await connection.close(code, why)
                    return
                try:
                    frames, records = session.receive(frame, now_ms())
                except Exception:  # a bug must cost one frame, not the session
                    log.exception("internal error while handling a frame")
                    frames, records = [ErrorFrame("internal_error", "the edge failed to handle "
                                                  "this frame; it was dropped")], []
                if not hinted and session.hello is not None:
                    hinted = True  # a session that starts during overload hears of it at once
                    if self.pressure.overloaded:
                        frames.append(self._slow_down())
                for message in frames:
                    if isinstance(message, SlowDown) and self.pressure.overloaded:
                        message = self._slow_down()  # the edge's own slow-down still holds
                    if not sock.push(encode(message)):
                        await connection.close(1008, "client is not reading its frames")
                        return
                if session.flooding:
                    await connection.close(CLOSE_FLOOD, "too many refused frames in a row")
                    return
                for record in records:
                    if not await self._produce(record, cipher):
                        await connection.close(1011, "an event could not be queued; reconnect")
                        return
        except ConnectionClosed:
            pass
        finally:
            sock.closing = True
            del self.sockets[session.session_id]
            with contextlib.suppress(Exception):
                for record in session.end(now_ms()):
                    await self._produce(record, cipher)
            with contextlib.suppress(Exception):
                await self.keys.retire(session_id)
            with contextlib.suppress(asyncio.QueueFull):
                sock.outbox.put_nowait(None)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _end_overdue(self) -> None:
        """End requests that got no answer in time (a worker died, a record was lost)."""
        while True:
            await asyncio.sleep(OVERDUE_CHECK_MS / 1000)
            now = now_ms()
            for sock in list(self.sockets.values()):
                for end in sock.session.overdue(now):
                    self.unanswered += 1
                    if not sock.push(encode(end)) and not sock.closing:
                        sock.closing = True
                        self._close_later(sock, 1008, "client is not reading its frames")

    async def _watch_directory(self) -> None:
        """Re-read the tenants file when it changes; re-check every live session's key."""
        while True:
            await asyncio.sleep(self.settings.auth_reload_ms / 1000)
            directory, at_ms = self.gate.reload(), now_ms()
            for sock in list(self.sockets.values()):
                verdict = directory.recheck(sock.session.principal, at_ms)
                if isinstance(verdict, Principal):
                    sock.session.principal = verdict
                elif not sock.closing:
                    sock.closing = True
                    self._close_later(sock, verdict.code, verdict.reason)

    async def _produce(self, record: OutRecord, cipher: Cipher) -> bool:
        """Queue ``record`` (an editor event sealed with its session's key); ``False`` if it
        cannot be (the session's documents would drift)."""
        settings = self.settings
        value = write_record(record.value)
        if record.topic == "editor":
            topic = settings.topic_editor_events
            value = cipher.seal(value, "editor", record.value.session_id)
        elif record.topic == "completions":
            topic = settings.topic_completions
        elif record.topic == "quality":
            topic = settings.topic_quality
        else:
            topic = settings.topic_feedback
        try:
            delivery = await self.producer.send(topic, value, key=record.key.encode())
        except Exception as error:  # noqa: BLE001 - e.g. a record over the broker's size limit
            log.warning("could not produce to %s: %s", topic, type(error).__name__)
            if self.pressure.produce_failed(now_ms()):
                self._broadcast(self._slow_down())
            return False
        session_id = record.value.session_id
        delivery.add_done_callback(lambda done: self._delivered(done, session_id))
        return True

    def _delivered(self, delivery: asyncio.Future[object], session_id: str) -> None:
        """A record the broker refused means the workers' copy of the session is incomplete."""
        if delivery.cancelled() or delivery.exception() is None:
            return
        log.warning("delivery failed for a session's event: %s",
                    type(delivery.exception()).__name__)
        sock = self.sockets.get(session_id)
        if sock is not None:
            self._close_later(sock, 1011, "an event was lost on its way to the workers; reconnect")

    def _resync(self, sock: _Socket, uri: str) -> None:
        """A worker lost a document of this session: send it our copy."""
        record = sock.session.snapshot(uri, now_ms())
        if record is None:
            return
        self.resyncs += 1
        task = asyncio.create_task(self._produce(record, sock.cipher))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close_later(self, sock: _Socket, code: int, reason: str) -> None:
        task = asyncio.create_task(sock.connection.close(code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _route_replies(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=IDLE_WAIT_MS, max_records=1000)
            for records in batches.values():
                for record in records:
                    try:
                        self._deliver(record.key, record.value, record.offset)
                    except Exception:  # one reply must not stop routing for every session
                        self.bad_replies += 1
                        log.exception("failed to route the reply at offset %d", record.offset)

    def _deliver(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """Route one reply record (key = session id, value sealed with the session's key)."""
        sock = self.sockets.get(key.decode("utf-8", "replace")) if key else None
        if sock is None:
            self.dropped_replies += 1  # the session closed; its tokens have no one to go to
            return
        try:
            reply = read_record(Reply, sock.cipher.open(value or b"", "reply",
                                                        sock.session.session_id),
                                sealed=bool(self.settings.code_encryption))
        except SealError as error:
            self.bad_replies += 1
            log.warning("skipping unreadable reply at offset %d: %s", offset, error)
            return
        except ProtocolError as error:
            self.bad_replies += 1
            log.warning("skipping bad reply at offset %d: %s (field %s)", offset, error.code,
                        error.field)
            return
        if reply.session_id != sock.session.session_id:
            self.bad_replies += 1
            log.warning("skipping reply at offset %d: its key names another session", offset)
            return
        if isinstance(reply.frame, FrameBatch):
            for part in reply.frame.frames:
                self._push(sock, part)
            return
        frame = reply.frame
        if isinstance(frame, EditSuggestion):
            deliver, records = sock.session.on_suggestion(frame, now_ms())
            for record in records:
                task = asyncio.create_task(self._produce(record, sock.cipher))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            if deliver and not sock.push(encode(frame)) and not sock.closing:
                sock.closing = True
                self._close_later(sock, 1008, "client is not reading its frames")
            return
        delivered = sock.session.on_reply(frame, now_ms())
        if delivered is None:
            self.late_replies += 1  # its request was ended here already: nothing may follow
            return
        if delivered is not frame:  # an earlier frame of its request never came
            self.lost_replies += 1
            self._push_frame(sock, delivered)
            return
        if isinstance(frame, ResyncRequest):
            self._resync(sock, frame.uri)
            return
        if (isinstance(frame, CompletionEnd) and frame.reason == "overloaded"
                and self.pressure.produce_failed(now_ms())):
            self._broadcast(self._slow_down())
        if not sock.push(encode(frame)) and not sock.closing:
            sock.closing = True
            self._close_later(sock, 1008, "client is not reading its frames")
        if reply.timing is not None:
            queued_ms = now_ms()
            if isinstance(frame, TokenChunk):
                observe_first_token(self.metrics, reply.timing, queued_ms)
            transit = stage_split(reply.timing, queued_ms)
            if self.pressure.observe(transit["edge_to_worker"] + transit["worker_to_edge"],
                                     queued_ms):
                self._broadcast(self._slow_down())

    def _push(self, sock: _Socket, frame: object) -> None:
        """One frame of a batch to its socket (unless its request has ended here)."""
        delivered = sock.session.on_reply(frame, now_ms())
        if delivered is None:
            self.late_replies += 1
            return
        if delivered is not frame:
            self.lost_replies += 1
        self._push_frame(sock, delivered)

    def _push_frame(self, sock: _Socket, frame: object) -> None:
        if not sock.push(encode(frame)) and not sock.closing:
            sock.closing = True
            self._close_later(sock, 1008, "client is not reading its frames")

    def _slow_down(self) -> SlowDown:
        interval = self.pressure.request_interval_ms
        return SlowDown(interval, "overloaded" if interval else "recovered")

    def _broadcast(self, frame: SlowDown) -> None:
        """Tell every session of this edge (the backend behind it is shared)."""
        log.warning("backend %s: asking clients for %d ms between requests",
                    frame.reason, frame.request_interval_ms)
        data = encode(frame)
        for sock in self.sockets.values():
            sock.push(data)


async def _keep_keys_fresh(keys: SessionKeys) -> None:
    """Keep live sessions' keys in Redis (and put them back after a Redis restart)."""
    while True:
        await asyncio.sleep(REFRESH_MS / 1000)
        try:
            await keys.refresh()
        except Exception as error:  # noqa: BLE001 - Redis away: try again next time
            log.warning("session keys not refreshed (redis: %s); retrying in %d ms",
                        type(error).__name__, REFRESH_MS)


def _gauges(edge: Edge) -> Registry:
    """The edge's gauges, read at each scrape of ``/metrics``."""
    metrics = Registry()
    for name, meaning, read in (
        ("edge_overloaded", "1 while clients are asked to slow down",
         lambda: float(edge.pressure.overloaded)),
        ("edge_sessions", "open WebSocket sessions", lambda: len(edge.sockets)),
        ("edge_replies_dropped", "replies for sessions already closed",
         lambda: edge.dropped_replies),
        ("edge_replies_bad", "reply records that failed validation", lambda: edge.bad_replies),
        ("edge_resyncs", "document snapshots sent to workers", lambda: edge.resyncs),
        ("edge_refused_handshakes", "sockets closed at admission (key, origin, session cap)",
         lambda: edge.gate.refused_handshakes),
        ("edge_requests_unanswered", "requests the edge ended itself (no frame within "
         "REPLY_DEADLINE_MS)", lambda: edge.unanswered),
        ("edge_replies_late", "frames for requests the edge had ended", lambda: edge.late_replies),
        ("edge_requests_reply_lost", "requests ended with error because a frame of theirs never "
         "came (its record was unreadable)", lambda: edge.lost_replies),
    ):
        metrics.gauge(name, meaning, read)
    return metrics


def stage_split(timing: StageTimes, queued_ms: int) -> dict[str, int]:
    """The first-token latency of one request, split by stage (milliseconds)."""
    return {
        "edge_to_worker": timing.consumed_ms - timing.received_ms,
        "debounce": timing.fired_ms - timing.consumed_ms,
        "first_chunk": timing.first_chunk_ms - timing.fired_ms,
        "worker_to_edge": queued_ms - timing.produced_ms,
        "total": queued_ms - timing.received_ms,
        # Everything but the model (or cache) producing the first chunk: what the pipeline costs.
        "overhead": (queued_ms - timing.received_ms) - (timing.first_chunk_ms - timing.fired_ms),
    }


def observe_first_token(metrics: Registry, timing: StageTimes, queued_ms: int) -> None:
    for stage, ms in stage_split(timing, queued_ms).items():
        metrics.observe("completion_first_token_stage_seconds",
                        "keystroke-to-first-token latency by stage (total = edge receipt of the "
                        "request to its first token queued on the socket)",
                        max(0, ms) / 1000, stage=stage)


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if not settings.edge_tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.edge_tls_cert, settings.edge_tls_key)
    except (OSError, ssl.SSLError) as error:
        raise SystemExit(f"edge: cannot load EDGE_TLS_CERT / EDGE_TLS_KEY: {error}") from None
    return context


async def serve_edge(settings: Settings, ready_file: str | None, index: int = 0) -> None:
    last = settings.editor_events_partitions - 1
    if not 0 <= index <= last:
        raise SystemExit(f"edge: --index {index} must be in 0..{last}")
    try:
        edge = Edge(settings, index)
    except DirectoryError as error:
        raise SystemExit(f"edge: {error}") from None
    ready = asyncio.Event()
    await run_marking_ready(edge.run(ready), ready, ready_file)
