"""The edge process: WebSocket sessions in, editor events to Kafka, reply frames back out.

Edge ``i`` owns partition ``i`` of the replies topic; every editor event it produces names that
partition, so workers send each session's frames only to the edge holding its socket. Each
socket has a bounded outbox drained by its own writer, so one slow client cannot stall the
reply consumer for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from http import HTTPStatus
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from infra.runtime import run_marking_ready
from infra.settings import Settings
from schemas.codec import encode
from schemas.errors import ProtocolError
from schemas.socket import ErrorFrame, SlowDown, TokenChunk
from schemas.topics import Reply, ResyncRequest, StageTimes, read_record, write_record
from streams.kafka import make_consumer, make_producer
from streams.metrics import Registry
from ws_edge.pressure import Pressure, PressureConfig
from ws_edge.session import EdgeLimits, EdgeSession, OutRecord

log = logging.getLogger("ws_edge")

#: Frames queued for one socket before the edge gives up on a client that does not read.
OUTBOX_FRAMES = 4096
#: Frames this many times over the limit close the connection instead of getting an error frame.
HARD_FRAME_FACTOR = 4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Socket:
    """A live session's socket and its outbox."""

    def __init__(self, connection: ServerConnection, session: EdgeSession) -> None:
        self.connection = connection
        self.session = session
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
            await self.connection.send(data.decode("utf-8"))


class Edge:
    """One edge process: the sockets it holds and its Kafka producer and reply consumer."""

    def __init__(self, settings: Settings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.limits = EdgeLimits(settings.max_frame_bytes, settings.max_open_documents,
                                 settings.max_document_chars)
        self.producer: AIOKafkaProducer = make_producer(settings)
        self.sockets: dict[str, _Socket] = {}
        self.dropped_replies = 0
        self.resyncs = 0
        self.pressure = Pressure(PressureConfig(
            high_ms=settings.overload_high_ms, low_ms=settings.overload_low_ms,
            request_interval_ms=settings.slow_down_interval_ms))
        self.metrics = Registry()
        self.metrics.gauge("edge_overloaded", "1 while clients are asked to slow down",
                           lambda: float(self.pressure.overloaded))
        self.metrics.gauge("edge_sessions", "open WebSocket sessions", lambda: len(self.sockets))
        self.metrics.gauge("edge_replies_dropped", "replies for sessions already closed",
                           lambda: self.dropped_replies)
        self.metrics.gauge("edge_replies_bad", "reply records that failed validation",
                           lambda: self.bad_replies)
        self.metrics.gauge("edge_resyncs", "document snapshots sent to workers",
                           lambda: self.resyncs)
        self._background: set[asyncio.Task[Any]] = set()  # closes and resyncs in flight
        self.bad_replies = 0

    async def run(self, ready: asyncio.Event | None = None) -> None:
        settings = self.settings
        await self.producer.start()
        consumer = make_consumer(settings, group_id=None)
        await consumer.start()
        partition = TopicPartition(settings.topic_replies, self.index)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        replies = asyncio.create_task(self._route_replies(consumer))
        try:
            async with serve(
                self._handle, settings.edge_host, settings.edge_port + self.index,
                max_size=settings.max_frame_bytes * HARD_FRAME_FACTOR,
                compression=None,  # per-message deflate costs memory per socket; off by default
                process_request=self._health,
                ping_interval=20, ping_timeout=20, open_timeout=10,
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
            replies.cancel()
            await asyncio.gather(replies, return_exceptions=True)
            await consumer.stop()
            await self.producer.stop()

    def _health(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if request.path == "/metrics":
            return connection.respond(HTTPStatus.OK, self.metrics.render())
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        session = EdgeSession(uuid.uuid4().hex, self.index, self.limits)
        sock = _Socket(connection, session)
        self.sockets[session.session_id] = sock
        writer = asyncio.create_task(sock.drain())
        hinted = False
        try:
            async for frame in connection:
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
                    if not sock.push(encode(message)):
                        await connection.close(1008, "client is not reading its frames")
                        return
                for record in records:
                    if not await self._produce(record):
                        await connection.close(1011, "an event could not be queued; reconnect")
                        return
        except ConnectionClosed:
            pass
        finally:
            del self.sockets[session.session_id]
            with contextlib.suppress(Exception):
                for record in session.end(now_ms()):
                    await self._produce(record)
            with contextlib.suppress(asyncio.QueueFull):
                sock.outbox.put_nowait(None)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def _produce(self, record: OutRecord) -> bool:
        """Queue ``record``; ``False`` if it cannot be (the session's documents would drift)."""
        settings = self.settings
        topic = settings.topic_editor_events if record.topic == "editor" else settings.topic_feedback
        try:
            delivery = await self.producer.send(topic, write_record(record.value),
                                                key=record.key.encode())
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
        task = asyncio.create_task(self._produce(record))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close_later(self, sock: _Socket, code: int, reason: str) -> None:
        task = asyncio.create_task(sock.connection.close(code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _route_replies(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batches.values():
                for record in records:
                    try:
                        self._deliver(record.value, record.offset)
                    except Exception:  # one reply must not stop routing for every session
                        self.bad_replies += 1
                        log.exception("failed to route the reply at offset %d", record.offset)

    def _deliver(self, value: bytes | None, offset: int) -> None:
        try:
            reply = read_record(Reply, value)
        except ProtocolError as error:
            self.bad_replies += 1
            log.warning("skipping bad reply at offset %d: %s (field %s)", offset, error.code,
                        error.field)
            return
        sock = self.sockets.get(reply.session_id)
        if sock is None:
            self.dropped_replies += 1  # the session closed; its tokens have no one to go to
            return
        frame = reply.frame
        if isinstance(frame, ResyncRequest):
            self._resync(sock, frame.uri)
            return
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


async def serve_edge(settings: Settings, ready_file: str | None, index: int = 0) -> None:
    last = settings.editor_events_partitions - 1
    if not 0 <= index <= last:
        raise SystemExit(f"edge: --index {index} must be in 0..{last}")
    edge = Edge(settings, index)
    ready = asyncio.Event()
    await run_marking_ready(edge.run(ready), ready, ready_file)
