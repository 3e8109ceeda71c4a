"""The completion worker process: Kafka editor events in, Triton streams, reply frames out.

Thin asyncio around :class:`workers.core.WorkerCore`. Every record is opened with its session's
key and validated; a bad or unreadable record is logged (by offset, never by content) and
skipped. Offsets are committed once a batch's records have been applied to the in-memory state;
generations they started may still be running. A crash loses the documents (they live in memory
only) and the requests in flight: the next worker asks the edge for a snapshot of each document
it lacks (``resync``), and the edge ends the lost requests after ``REPLY_DEADLINE_MS``.
Inference runs in a bounded number of model slots; what finds none in time is refused
``overloaded`` instead of queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener

from config.settings import Settings
from config.task_routes import TaskRoute, task_routes
from runtime.service import run_marking_ready
from schemas.errors import ProtocolError
from schemas.socket import CompletionEnd, DocChange, EndReason, ErrorFrame, Feedback, TokenChunk
from schemas.tasks import TaskText, read_item, write_item
from schemas.topics import (
    AuthorshipEvent,
    CompletionEvent,
    EditorEvent,
    FrameBatch,
    PersistenceEvent,
    Reply,
    ReplyFrame,
    SessionEnd,
    StageTimes,
    read_record,
    write_record,
)
from streams.kafka import IDLE_WAIT_MS, make_consumer, make_producer
from streams.metrics import Registry
from streams.redis_client import make_redis
from streams.sealing import SealError
from streams.session_keys import SessionKeys
from workers.admission import Admission
from workers.cache import CompletionCache
from workers.core import (
    Action,
    Route,
    SendFrame,
    StartCompletion,
    StartTask,
    StopCompletion,
    WorkerCore,
    WorkerLimits,
    coalesce,
)
from workers.generations import Generation, GenerationHub
from workers.inference import (
    InferenceBackend,
    InferenceError,
    LlmCompletions,
    TaskBackend,
    TritonBackend,
)
from workers.persistence import PersistenceTracker
from workers.quota import QuotaGate
from workers.reuse import (
    Suggestion,
    chunks_after,
    continues,
    generation_key,
    model_identity,
    typed_into,
)
from workers.task_items import TaskFrame, task_frame
from workers.task_prompts import task_prompt

log = logging.getLogger("workers")

CONSUMER_GROUP = "completion-workers"
#: How long a generation nobody follows keeps running, for a keystroke that matches it.
GENERATION_LINGER_MS = 150
MAX_REMEMBERED_SUGGESTIONS = 100_000
#: How long the worker waits for session keys from Redis before it gives up on those records.
KEY_FETCH_TIMEOUT_S = 1.0
#: How often accepted suggestions are looked for in the documents (persistence checkpoints).
PERSISTENCE_TICK_MS = 500
#: Token budget of each task kind on an LLM route.
LLM_TASK_TOKENS: dict[str, int] = {"explain": 512, "find_bugs": 512, "fix": 1024,
                                   "refactor": 1024, "tests": 1024, "docs": 256}
#: Frames of one task sent in one reply record at most.
MAX_TASK_BATCH = 64
#: A generation still streaming after this long is ended with an error (a hung model).
GENERATION_TIMEOUT_S = 30


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Request:
    """One request being answered: its task, how many chunks it has sent, and whether it was
    stopped (then it sends nothing more, even if a library swallowed the cancellation)."""

    task: asyncio.Task[None]

    def __init__(self) -> None:
        self.chunks = 0
        self.generated_chars = 0
        self.first_chunk_ms: int | None = None
        #: The streamed text, kept until the request ends (the persistence tracker needs it).
        self.text_parts: list[str] = []
        self.stopped = False
        self.stop_reason: EndReason = "cancelled"
        self.source: _Source | None = None
        #: The delivery of its CompletionEvent, which its end frame waits for.
        self.report: asyncio.Task[Any] | None = None


class CompletionWorker:
    """Owns one consumer-group member, its sessions' state and their generations."""

    def __init__(self, settings: Settings, backend: InferenceBackend,
                 quota: QuotaGate | None, cache: CompletionCache | None = None,
                 keys: SessionKeys | None = None, tasks: TaskBackend | None = None) -> None:
        self._settings = settings
        threshold = settings.model_threshold if settings.model_threshold >= 0 else None
        #: Part of every generation's cache key (``serve`` sets the revision it finds).
        served = settings.triton_model if settings.triton_model_interface == "items" else \
            f"{settings.triton_model}[{settings.triton_model_interface}:{settings.fim_template}]"
        self.model_identity = model_identity(served, settings.model_revision, threshold)
        self._tasks = tasks
        self._task_routes = task_routes(settings.task_models, settings.task_deadlines_ms,
                                        settings.task_slots)
        #: One lane per task kind, apart from the completions' model slots.
        self._task_lanes: dict[str, asyncio.Semaphore] = {}
        #: Opens sessions' editor events and seals their replies (``None``: plain records).
        self._keys = keys or SessionKeys(None, settings.code_retention_ms)
        self._backend = backend
        self._quota = quota
        self._core = WorkerCore(WorkerLimits(
            max_documents=settings.max_open_documents,
            max_document_chars=settings.max_document_chars,
            max_completion_tokens=settings.max_completion_tokens,
            prompt_prefix_chars=settings.prompt_prefix_chars,
            prompt_suffix_chars=settings.prompt_suffix_chars,
            session_idle_ms=settings.session_idle_ms,
            request_deadline_ms=settings.request_deadline_ms,
        ))
        self._producer: AIOKafkaProducer | None = None  # created in run(), inside the loop
        self._requests: dict[tuple[str, str], _Request] = {}
        self._hub = GenerationHub(linger_ms=GENERATION_LINGER_MS)
        self._cache = cache
        self._suggestions: OrderedDict[str, Suggestion] = OrderedDict()
        self.stats: Counter[str] = Counter()
        self.metrics = Registry()
        self._partition_of: dict[str, int] = {}
        self.bad_records = 0
        self.unreadable_records = 0
        self.lost_reports = 0
        self._tracker = PersistenceTracker(settings.checkpoints())
        self._routes: dict[str, Route] = {}
        self._reports: set[asyncio.Task[Any]] = set()
        self._reply_partitions = 0
        self.ready = asyncio.Event()
        self._admission = Admission(settings.worker_model_slots)
        self._slot_waiters: dict[str, asyncio.Future[None]] = {}

    async def run(self) -> None:
        settings = self._settings
        consumer = make_consumer(settings, group_id=CONSUMER_GROUP, auto_offset_reset="latest")
        consumer.subscribe([settings.topic_editor_events], listener=_Revocations(self))
        self._producer = producer = make_producer(settings)
        await producer.start()
        self._reply_partitions = len(await producer.partitions_for(settings.topic_replies))
        await consumer.start()
        next_eviction_ms = now_ms() + 10_000
        next_measure_ms = now_ms()
        try:
            while True:
                deadline = min(self._core.next_deadline_ms() or next_measure_ms, next_measure_ms)
                wait_ms = max(0, min(IDLE_WAIT_MS, deadline - now_ms()))
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=500)
                if not self.ready.is_set() and consumer.assignment():
                    self.ready.set()
                    log.info("worker ready: partitions %s",
                             sorted(p.partition for p in consumer.assignment()))
                await self.handle_batch(await self._open_batch(
                    [(r.key, r.value, tp.partition, r.offset)
                     for tp, records in batches.items() for r in records]))
                for action in self._core.due(now_ms()):
                    await self._execute(action)
                if now_ms() >= next_measure_ms:
                    self._measure_persistence()
                    next_measure_ms = now_ms() + PERSISTENCE_TICK_MS
                if now_ms() >= next_eviction_ms:
                    for action in self._core.evict_idle(now_ms()):
                        await self._execute(action)
                    self._partition_of = {sid: p for sid, p in self._partition_of.items()
                                          if self._core.has_session(sid)}
                    self._routes = {sid: r for sid, r in self._routes.items()
                                    if self._core.has_session(sid)}
                    self._tracker.retain(self._core.has_session)
                    self._keys.retain(set(self._routes))
                    next_eviction_ms = now_ms() + 10_000
                if batches:
                    await consumer.commit()
        finally:
            tasks = [g.task for g in self._requests.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*self._reports, return_exceptions=True)
            await self._hub.close()
            await consumer.stop()
            await producer.stop()

    @property
    def session_count(self) -> int:
        return self._core.session_count

    async def partitions_revoked(self, partitions: set[int]) -> None:
        """Another worker now owns these partitions: forget their sessions."""
        gone = [sid for sid, p in self._partition_of.items() if p in partitions]
        for session_id in gone:
            del self._partition_of[session_id]
        for action in self._core.forget(gone):
            await self._execute(action)
        if gone:
            log.info("partitions %s moved away: forgot %d sessions", sorted(partitions), len(gone))

    async def _open_batch(self, records: list[tuple[bytes | None, bytes | None, int, int]]
                          ) -> list[tuple[bytes | None, int, int]]:
        """Open sealed editor events (key, value, partition, offset) with their sessions' keys,
        fetching the keys not known yet in one round trip; unreadable ones are counted and
        skipped (their key expired, Redis lost it, or they were not sealed)."""
        await self._fetch_keys({key.decode("utf-8", "replace") for key, _, _, _ in records if key})
        opened: list[tuple[bytes | None, int, int]] = []
        for key, value, partition, offset in records:
            session_id = key.decode("utf-8", "replace") if key else ""
            cipher = self._keys.known(session_id)
            try:
                if cipher is None:
                    raise SealError("no key for its session (expired, or Redis lost it)")
                opened.append((cipher.open(value or b"", "editor", session_id), partition, offset))
            except SealError as error:
                self.unreadable_records += 1
                log.warning("skipping unreadable editor event at partition %d offset %d: %s",
                            partition, offset, error)
        return opened

    async def _fetch_keys(self, sessions: set[str]) -> None:
        """Load the sessions' keys not known yet; a Redis that fails or hangs leaves them
        unknown (their records are skipped, their replies dropped: the edge ends those requests
        in time) instead of stalling the consume loop."""
        try:
            async with asyncio.timeout(KEY_FETCH_TIMEOUT_S):
                await self._keys.fetch(sessions)
        except Exception as error:  # noqa: BLE001 - any Redis failure: the keys stay unknown
            log.warning("session keys unavailable (redis: %s)", type(error).__name__)

    async def handle_batch(self, records: list[tuple[bytes | None, int, int]]) -> None:
        """Apply a fetched batch (value, partition, offset) to the state, then act on it."""
        actions: list[Action] = []
        for value, partition, offset in records:
            try:
                actions += self._on_record(value, partition, offset)
            except Exception:  # one record must not stop the worker (or replay forever)
                self.bad_records += 1
                log.exception("failed to handle editor event at partition %d offset %d",
                              partition, offset)
        for action in coalesce(actions):
            await self._execute(action)

    def _on_record(self, value: bytes | None, partition: int, offset: int) -> list[Action]:
        """Apply one record to the state; the actions run once the whole batch is applied."""
        try:
            event = read_record(EditorEvent, value)
        except ProtocolError as error:
            self.bad_records += 1
            log.warning("skipping bad editor event at partition %d offset %d: %s (field %s)",
                        partition, offset, error.code, error.field)
            return []
        if not 0 <= event.reply_partition < self._reply_partitions:
            self.bad_records += 1
            log.warning("skipping editor event at partition %d offset %d: reply partition %d "
                        "does not exist", partition, offset, event.reply_partition)
            return []
        self._partition_of[event.session_id] = partition
        actions = self._core.handle(event, now_ms())
        route = Route(event.session_id, event.reply_partition, event.tenant_id, event.user_id,
                      event.plan, event.daily_limit)
        self._follow_quality(event, route)
        return actions

    async def _execute(self, action: Action) -> None:
        if isinstance(action, SendFrame):
            await self._send(action.route, action.frame, action.timing)
        elif isinstance(action, StopCompletion):
            request = self._requests.pop((action.route.session_id, action.request_id), None)
            if request is not None:
                request.stopped = True
                request.stop_reason = action.reason
                request.task.cancel()
                await asyncio.gather(request.task, return_exceptions=True)
                # Sent after the task is gone (no token of this request can follow its end) and
                # after its completion event is on the broker, without holding up this loop.
                ending = asyncio.create_task(self._end_stopped(action, request))
                self._reports.add(ending)
                ending.add_done_callback(self._stop_ended)
        elif isinstance(action, StartCompletion):
            request = _Request()
            request.task = asyncio.create_task(self._answer(action, request))
            self._requests[(action.route.session_id, action.request_id)] = request
        elif isinstance(action, StartTask):
            request = _Request()
            request.task = asyncio.create_task(self._answer_task(action, request))
            self._requests[(action.route.session_id, action.request_id)] = request

    async def _answer_task(self, start: StartTask, request: _Request) -> None:
        """Answer one assistant task from its route's model: each item checked and forwarded
        as it comes, then exactly one end (``expired`` past the route's deadline)."""
        route, request_id = start.route, start.request_id
        key = (route.session_id, request_id)
        task_route = self._task_routes[start.kind]
        reason: EndReason = "stop"
        detail: str | None = None
        admitted = False
        try:
            remaining_ms = task_route.deadline_ms - (now_ms() - start.arrived_ms)
            async with asyncio.timeout(max(0, remaining_ms) / 1000):
                lane = self._task_lanes.setdefault(start.kind,
                                                   asyncio.Semaphore(task_route.slots))
                async with lane:
                    if self._tasks is None:
                        raise InferenceError("this worker has no task backend")
                    if not await self._admit(route, request_id):
                        reason = "quota"
                    else:
                        admitted = True
                        left_ms = max(1, task_route.deadline_ms - (now_ms() - start.arrived_ms))
                        await self._forward_task(start, request, left_ms)
        except asyncio.CancelledError:
            self._report_task(start, request, request.stop_reason, admitted)
            raise  # StopCompletion sends the end frame
        except TimeoutError:
            reason = "expired"
            detail = f"the {start.kind} route's deadline of {task_route.deadline_ms} ms passed"
        except InferenceError as error:
            reason, detail = "error", str(error)
        except ProtocolError as error:
            reason = "error"
            detail = (f"model {task_route.model} sent an invalid item ({error.code}, field "
                      f"{error.field}): {error.message}")[:500]
            log.warning("task model %s sent an invalid item: %s", task_route.model, error.code)
        except Exception as error:
            log.exception("task failed")
            reason, detail = "error", f"internal error: {type(error).__name__}"
        finally:
            self._core.finished(route.session_id, request_id)
            if self._requests.get(key) is request:
                del self._requests[key]
        if request.stopped:
            self._report_task(start, request, request.stop_reason, admitted)
            return
        self._report_task(start, request, reason, admitted)
        if request.report is not None:
            await asyncio.wait({request.report})
        await self._send(route, CompletionEnd(request_id, reason, request.chunks, detail=detail))

    async def _forward_task(self, start: StartTask, request: _Request, left_ms: int) -> None:
        """Forward a route's items as frames: what arrived together goes in one record."""
        stream = self._task_stream(self._task_routes[start.kind], start, left_ms)
        async with contextlib.aclosing(drained(stream, MAX_TASK_BATCH)) as batches:
            async for batch in batches:
                frames: list[TaskFrame] = []
                for data in batch:
                    frames.append(task_frame(read_item(data), start.request_id,
                                             request.chunks + len(frames), start.version,
                                             len(start.text), start.uri))
                if request.stopped:
                    raise asyncio.CancelledError
                if request.chunks == 0:
                    # No stage times on task frames: the edge's first-token and pressure
                    # figures are the completions'.
                    request.first_chunk_ms = now_ms()
                await self._send(start.route, frames[0] if len(frames) == 1
                                 else FrameBatch(tuple(frames)))
                request.chunks += len(frames)
                request.generated_chars += sum(len(getattr(f, "text", "")) for f in frames)

    def _task_stream(self, route: TaskRoute, start: StartTask, left_ms: int
                     ) -> AsyncIterator[bytes]:
        """The route's answer as encoded items: our task models send items; an LLM's text
        becomes Markdown items (its edits stay in the text: not applied)."""
        assert self._tasks is not None
        if route.interface == "items":
            return self._tasks.stream_task(route.model, start, left_ms)
        prompt = task_prompt(start.kind, start.text, start.language_id, start.start, start.end,
                             start.instruction)
        text = self._tasks.stream_llm(route.model, route.interface, prompt,
                                      LLM_TASK_TOKENS[start.kind], start.request_id, left_ms)
        return _as_items(text)

    def _report_task(self, start: StartTask, request: _Request, reason: EndReason,
                     admitted: bool) -> None:
        """A task's :class:`CompletionEvent`: ``model`` names its route, so analytics and
        billing see tasks beside completions (each admitted task is one unit of quota)."""
        route = start.route
        event = CompletionEvent(
            event_id=_event_id(route.session_id, start.request_id),
            session_id=route.session_id, tenant_id=route.tenant_id, user_id=route.user_id,
            plan=route.plan,  # type: ignore[arg-type]
            request_id=start.request_id, model=self._task_routes[start.kind].model[:128],
            language_id=start.language_id[:64], source="inferred" if admitted else "none",
            admitted=admitted, reason=reason, chunks=request.chunks,
            generated_chars=request.generated_chars, received_ms=start.received_ms,
            ended_ms=now_ms(),
            first_chunk_latency_ms=(None if request.first_chunk_ms is None
                                    else request.first_chunk_ms - start.received_ms),
        )
        request.report = self._emit(self._settings.topic_completions, event, route)

    def _stop_ended(self, task: asyncio.Task[Any]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("end of a stopped request not sent: %s", type(task.exception()).__name__)

    async def _end_stopped(self, stop: StopCompletion, request: _Request) -> None:
        if request.report is not None:
            await asyncio.wait({request.report})
        await self._send(stop.route, CompletionEnd(stop.request_id, stop.reason, request.chunks))

    async def _send(self, route: Route, frame: ReplyFrame, timing: StageTimes | None = None
                    ) -> None:
        assert self._producer is not None, "replies are sent only while run() runs"
        session_id = route.session_id
        cipher = self._keys.known(session_id)
        if cipher is None:
            await self._fetch_keys({session_id})
            cipher = self._keys.known(session_id)
        if cipher is None:
            log.warning("reply dropped: the session's key is gone")
            return
        value = cipher.seal(write_record(Reply(session_id, frame, timing)), "reply", session_id)
        await self._producer.send(self._settings.topic_replies, value,
                                  key=session_id.encode(), partition=route.reply_partition)

    async def _send_chunk(self, start: StartCompletion, request: _Request, text: str,
                          source: str) -> None:
        """Send one chunk; the first carries the request's stage times."""
        if request.stopped:
            raise asyncio.CancelledError  # its end was sent: nothing may follow it
        timing = None
        if request.chunks == 0:
            first_ms = now_ms()
            timing = StageTimes(start.received_ms, start.arrived_ms, start.fired_ms, first_ms,
                                first_ms)
            self.metrics.observe("worker_first_chunk_seconds",
                                 "debounce release to first chunk, by where it came from",
                                 (first_ms - start.fired_ms) / 1000, source=source)
        await self._send(start.route, TokenChunk(start.request_id, request.chunks, text), timing)
        if request.chunks == 0:
            request.first_chunk_ms = now_ms()
        request.chunks += 1
        request.generated_chars += len(text)
        request.text_parts.append(text)

    async def _answer(self, start: StartCompletion, request: _Request) -> None:
        """Answer one request: from the suggestion being typed, a shared or cached generation,
        or a new one; tokens are forwarded as they come, then exactly one end frame."""
        route, request_id = start.route, start.request_id
        key = (route.session_id, request_id)
        reason: EndReason = "stop"
        detail: str | None = None
        try:
            source = request.source = await self._source(start)
            if source is None:
                reason = "quota"
            elif source.generation is not None:
                generation = source.generation
                self._hub.attach(generation)
                try:
                    async for text in generation.follow(source.skip_chars):
                        await self._send_chunk(start, request, text, source.kind)
                finally:
                    self._hub.detach(generation)
                reason, detail = generation.reason, generation.detail
            else:
                for text in source.chunks:
                    await self._send_chunk(start, request, text, source.kind)
                reason = source.reason
        except asyncio.CancelledError:
            self._report(start, request, request.stop_reason)
            raise  # StopCompletion sends the end frame
        except Exception as error:
            log.exception("completion failed")
            reason, detail = "error", f"internal error: {type(error).__name__}"
        finally:
            self._core.finished(route.session_id, request_id)
            if self._requests.get(key) is request:
                del self._requests[key]
        if request.stopped:
            self._report(start, request, request.stop_reason)
            return  # the stop already sent this request's end
        self._report(start, request, reason)
        if request.report is not None:
            await asyncio.wait({request.report})
        timing = None
        if request.chunks == 0:  # no chunk carried the stage times: the end does
            ended_ms = now_ms()
            timing = StageTimes(start.received_ms, start.arrived_ms, start.fired_ms, ended_ms,
                                ended_ms)
        await self._send(route, CompletionEnd(request_id, reason, request.chunks, detail=detail),
                         timing)

    def _report(self, start: StartCompletion, request: _Request, reason: EndReason) -> None:
        """Emit the request's :class:`CompletionEvent` (in the background: this may run while
        the request's task is being cancelled); its end frame waits for it (``request.report``),
        so a client never sees the end of a request whose event a crash could still lose."""
        if self._producer is None:
            return
        route, source = start.route, request.source
        event = CompletionEvent(
            event_id=_event_id(route.session_id, start.request_id),
            session_id=route.session_id, tenant_id=route.tenant_id, user_id=route.user_id,
            plan=route.plan,  # type: ignore[arg-type]
            request_id=start.request_id, model=self._settings.triton_model,
            language_id=start.prompt.language_id[:64],
            source=source.kind if source is not None else "none",  # type: ignore[arg-type]
            admitted=source is not None and source.admitted, reason=reason,
            chunks=request.chunks, generated_chars=request.generated_chars,
            received_ms=start.received_ms, ended_ms=now_ms(),
            first_chunk_latency_ms=(None if request.first_chunk_ms is None
                                    else request.first_chunk_ms - start.received_ms),
        )
        request.report = self._emit(self._settings.topic_completions, event, route)
        if request.text_parts and not request.stopped:
            self._tracker.suggested(route.session_id, start.request_id, start.uri, start.offset,
                                    "".join(request.text_parts), start.prompt.language_id)

    def _emit(self, topic: str, record: object, route: Route) -> asyncio.Task[Any] | None:
        """Produce a metadata record in the background (this may run while a task is being
        cancelled); the task ends when the broker has it. Failures are counted and logged,
        never raised."""
        if self._producer is None:
            return None
        producer = self._producer

        async def deliver() -> None:
            delivery = await producer.send(topic, write_record(record),
                                           key=f"{route.tenant_id}/{route.user_id}".encode())
            await delivery

        task = asyncio.create_task(deliver())
        self._reports.add(task)
        task.add_done_callback(self._reported)
        return task

    def _follow_quality(self, event: EditorEvent, route: Route) -> None:
        """Feed the persistence tracker: suggestions accepted, edits, sessions ending."""
        body, session_id = event.body, event.session_id
        if isinstance(body, Feedback):
            uri = self._tracker.uri_of(session_id, body.request_id)
            doc = self._core.document(session_id, uri) if uri is not None else None
            self._tracker.accepted(session_id, body.request_id, body.accepted_chars,
                                   doc.text if doc is not None else None, now_ms())
        elif isinstance(body, DocChange):
            doc = self._core.document(session_id, body.uri)
            if doc is not None:
                self._tracker.edited(session_id, body.uri, doc.language_id, body.changes)
        elif isinstance(body, SessionEnd):
            for authorship in self._tracker.forget(session_id):
                self._emit(self._settings.topic_quality, AuthorshipEvent(
                    event_id=_event_id(session_id, "authorship", authorship.language_id),
                    session_id=session_id, tenant_id=route.tenant_id, user_id=route.user_id,
                    plan=route.plan,  # type: ignore[arg-type]
                    language_id=authorship.language_id[:64],
                    typed_chars=authorship.typed_chars,
                    completion_chars=authorship.completion_chars, ended_ms=now_ms()), route)
            self._routes.pop(session_id, None)
            return
        self._routes[session_id] = route

    def _measure_persistence(self) -> None:
        texts = {}
        for session_id, uri in self._tracker.tracked_uris():
            doc = self._core.document(session_id, uri)
            if doc is not None:
                texts[(session_id, uri)] = doc.text
        for checkpoint in self._tracker.due(now_ms(), texts):
            route = self._routes.get(checkpoint.session_id)
            if route is None:
                continue
            self._emit(self._settings.topic_quality, PersistenceEvent(
                event_id=_event_id(checkpoint.session_id, checkpoint.request_id,
                                   str(checkpoint.checkpoint_s)),
                session_id=checkpoint.session_id, tenant_id=route.tenant_id,
                user_id=route.user_id, plan=route.plan,  # type: ignore[arg-type]
                request_id=checkpoint.request_id, language_id=checkpoint.language_id[:64],
                checkpoint_s=checkpoint.checkpoint_s, accepted_chars=checkpoint.accepted_chars,
                surviving_chars=checkpoint.surviving_chars, accepted_ms=checkpoint.accepted_ms),
                route)

    def _reported(self, task: asyncio.Task[Any]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.lost_reports += 1
            log.warning("completion event not produced: %s", type(task.exception()).__name__)

    async def _source(self, start: StartCompletion) -> _Source | None:
        """Where the answer comes from, cheapest first; ``None`` if the quota refused it."""
        session_id = start.route.session_id
        suggestion = self._suggestions.get(session_id)
        if suggestion is not None:
            typed = typed_into(suggestion, start.uri, start.offset, start.prompt.prefix)
            if typed:
                live = self._hub.live(suggestion.key)
                if live is not None and continues(live.text, typed, live.finished):
                    return self._count(_Source("typed_as_suggested", generation=live,
                                               skip_chars=len(typed)))
                cached = await self._cached(suggestion.key)
                if cached is not None and continues("".join(cached[0]), typed, True):
                    return self._count(_Source("typed_as_suggested",
                                               chunks=chunks_after(cached[0], len(typed)),
                                               reason=cached[1]))
        key = generation_key(start.route.tenant_id, self.model_identity, start.prompt,
                             start.max_tokens)
        fresh = Suggestion(start.uri, start.offset, key)
        live = self._hub.live(key)
        if live is not None:
            self._remember(session_id, fresh)
            return self._count(_Source("shared", generation=live))
        cached = await self._cached(key)
        if cached is not None:
            self._remember(session_id, fresh)
            return self._count(_Source("cached", chunks=cached[0], reason=cached[1]))
        if not await self._slot(f"{session_id}/{start.request_id}"):
            return self._count(_Source("none", reason="overloaded"))  # shed: no model slot
        try:
            if not await self._admit(start.route, start.request_id):
                self._release_slot()
                return None
            self._remember(session_id, fresh)
            live = self._hub.live(key)  # an identical request may have started while we awaited
            if live is not None:
                self._release_slot()
                return self._count(_Source("shared", generation=live, admitted=True))
            return self._count(_Source("inferred", generation=self._hub.start(
                key, functools.partial(self._infer, start=start)), admitted=True))
        except BaseException:
            self._release_slot()  # cancelled or failed before the model had it
            raise

    async def _slot(self, request_id: str) -> bool:
        """A model slot for this request (``session/request`` id), waiting
        ``ADMISSION_WAIT_MS`` at most."""
        if self._admission.arrive(request_id):
            return True
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slot_waiters[request_id] = granted
        try:
            async with asyncio.timeout(self._settings.admission_wait_ms / 1000):
                await granted
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release_slot()  # granted as the request was cancelled: pass it on
            else:
                self._admission.leave(request_id)
            raise
        finally:
            self._slot_waiters.pop(request_id, None)
        if granted.done() and not granted.cancelled():
            return True  # (also when the grant and the timeout came together)
        self._admission.leave(request_id)
        return False

    def _release_slot(self) -> None:
        """An inference ended: its slot passes to the longest-waiting request, if any."""
        while (next_id := self._admission.release()) is not None:
            waiter = self._slot_waiters.get(next_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
                return

    async def _cached(self, key: str) -> tuple[list[str], EndReason] | None:
        """The cached generation, or ``None`` (also when the cache is down: then infer)."""
        if self._cache is None:
            return None
        try:
            return await self._cache.get(key)
        except Exception:
            log.warning("completion cache unavailable", exc_info=True)
            return None

    def _count(self, source: _Source) -> _Source:
        self.stats[source.kind] += 1
        self.metrics.inc("worker_requests_total", "completion requests answered, by source",
                         source=source.kind)
        return source

    def _remember(self, session_id: str, suggestion: Suggestion) -> None:
        self._suggestions[session_id] = suggestion
        self._suggestions.move_to_end(session_id)
        while len(self._suggestions) > MAX_REMEMBERED_SUGGESTIONS:
            self._suggestions.popitem(last=False)

    async def _admit(self, route: Route, request_id: str) -> bool:
        """Take one unit of quota; on refusal tell the client why (no inference is spent)."""
        if self._quota is None:
            return True
        decision = await self._quota.take(route.tenant_id, route.user_id, route.daily_limit,
                                          now_ms())
        if decision.allowed:
            return True
        resets = datetime.fromtimestamp(decision.resets_at_ms / 1000, UTC)
        limit = (f"the {route.plan} plan allows {decision.limit} completions per UTC day"
                 if not decision.degraded else
                 f"the quota service is unavailable, so the {route.plan} plan is limited to "
                 f"{decision.limit} completions per UTC day on this server until it is back")
        await self._send(route, ErrorFrame(
            code="quota_exceeded",
            message=f"{limit}; the quota resets at {resets.isoformat()}",
            request_id=request_id))
        return False

    async def _infer(self, generation: Generation, start: StartCompletion) -> None:
        """Fill ``generation`` from the model (in the slot its request took); cache it when it
        ended normally."""
        try:
            await self._infer_in_slot(generation, start)
        finally:
            self._release_slot()

    async def _infer_in_slot(self, generation: Generation, start: StartCompletion) -> None:
        try:
            async with asyncio.timeout(GENERATION_TIMEOUT_S):
                async for text in self._backend.stream(start.prompt, start.max_tokens,
                                                       start.request_id):
                    await generation.append(text)
            generation.reason = "length" if len(generation.chunks) >= start.max_tokens else "stop"
        except InferenceError as error:
            generation.reason, generation.detail = "error", str(error)
            return
        except TimeoutError:
            generation.reason = "error"
            generation.detail = f"the model did not finish within {GENERATION_TIMEOUT_S} s"
            return
        if self._cache is not None:
            try:
                await self._cache.put(generation.key, generation.chunks, generation.reason)
            except Exception:
                log.warning("could not cache a generation", exc_info=True)


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the worker when partitions move away (the consumer calls this during rebalances)."""

    def __init__(self, worker: CompletionWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._worker.partitions_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass


@dataclass(frozen=True)
class _Source:
    """A request's answer: a generation to follow from ``skip_chars``, or ready chunks."""

    kind: str  # inferred, shared, cached or typed_as_suggested
    generation: Generation | None = None
    skip_chars: int = 0
    chunks: list[str] = field(default_factory=list)
    reason: EndReason = "stop"
    #: It took a unit of quota (what ``CompletionEvent.admitted`` reports).
    admitted: bool = False


async def _as_items(text: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for piece in text:
        yield write_item(TaskText(piece[:65_536]))


async def drained(stream: AsyncIterator[bytes], most: int
                  ) -> AsyncGenerator[list[bytes], None]:
    """The stream's items in lists: each list holds what had arrived by the time the previous
    one was handled (at most ``most``), so a burst travels as one record and a trickle item by
    item, without waiting for anything."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    failure: list[BaseException] = []

    async def pump() -> None:
        try:
            async for item in stream:
                queue.put_nowait(item)
        except Exception as error:  # noqa: BLE001 - re-raised by the consumer, in order
            failure.append(error)
        finally:
            queue.put_nowait(None)

    reader = asyncio.create_task(pump())
    try:
        while True:
            first = await queue.get()
            batch: list[bytes] = []
            finished = first is None
            if first is not None:
                batch.append(first)
            while not finished and len(batch) < most and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    finished = True
                else:
                    batch.append(item)
            if batch:
                yield batch
            if finished:
                if failure:
                    raise failure[0]
                return
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def _event_id(*parts: str) -> str:
    """A deterministic id for a derived event: a replay produces the same one."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


async def serve(settings: Settings, ready_file: str | None, index: int = 0) -> None:
    threshold = settings.model_threshold if settings.model_threshold >= 0 else None
    backend = (TritonBackend(settings.triton_grpc, settings.triton_model, threshold)
               if settings.triton_model_interface == "items" else
               LlmCompletions(settings.triton_grpc, settings.triton_model,
                              settings.triton_model_interface, settings.fim_template))
    redis_client = make_redis(settings.redis_url)
    cache = CompletionCache(redis_client, settings.completion_cache_ttl_s)
    keys = SessionKeys(redis_client if settings.code_encryption else None,
                       settings.code_retention_ms)
    if not settings.model_revision:
        settings = settings.replace(model_revision=await model_revision(settings, backend))
    worker = CompletionWorker(settings, backend, QuotaGate(redis_client), cache, keys,
                              tasks=backend)
    log.info("model identity: %s", worker.model_identity)
    worker.metrics.gauge("worker_sessions", "sessions whose state this worker holds",
                         lambda: worker.session_count)
    worker.metrics.gauge("worker_bad_records", "editor events skipped as invalid",
                         lambda: worker.bad_records)
    worker.metrics.gauge("worker_unreadable_records", "editor events skipped because their "
                         "session's key was missing or did not open them",
                         lambda: worker.unreadable_records)
    metrics = await serve_metrics(worker.metrics, settings.worker_metrics_port + index)
    try:
        await run_marking_ready(worker.run(), worker.ready, ready_file)
    finally:
        await metrics.cleanup()
        await backend.close()
        await redis_client.aclose()


async def model_revision(settings: Settings, backend: TritonBackend) -> str:
    """The served model's revision when ``MODEL_REVISION`` is not set: a digest of its files
    when the repository is here (the embedded Triton), else of the configuration and versions
    Triton reports (set ``MODEL_REVISION`` when weights change under the same configuration)."""
    directory = settings.triton_model_repository / settings.triton_model
    if settings.embedded_triton and directory.is_dir():
        return await asyncio.to_thread(directory_digest, directory)
    try:
        return await backend.config_digest()
    except InferenceError as error:
        log.warning("model revision unknown (%s): set MODEL_REVISION", error)
        return ""


def directory_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()
                       and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(directory)).encode())
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:16]


async def serve_metrics(registry: Registry, port: int) -> web.AppRunner:
    """``GET /metrics`` on loopback ``port`` (Prometheus text format)."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(text=registry.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner
