"""The completion worker's loop: Kafka editor events in, actions carried out.

Records are opened with their session's key and validated; a bad or unreadable one is logged (by
offset, never by content) and skipped. The pure :class:`~workers.core.WorkerCore` turns events into
actions; completions and tasks run as answers of the one :class:`~workers.lifecycle.Lifecycle`.
Offsets are committed once a batch is applied to the in-memory state. A crash loses the documents
and the requests in flight: the next worker asks the edge for a snapshot of each document it
lacks (``resync``), and the edge ends the lost requests after ``REPLY_DEADLINE_MS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from config.settings import Settings
from config.task_routes import llm_route, task_routes
from next_edits import zeta
from next_edits.engine import Suggestion, configured, propose
from runtime.metrics import Registry
from schemas.errors import ProtocolError
from schemas.socket import CompletionEnd
from schemas.topics import EditorEvent, read_record
from sealing.cipher import SealError
from sealing.session_keys import SessionKeys
from streams.kafka import IDLE_WAIT_MS, make_consumer, make_producer
from workers.cache import CompletionCache
from workers.completions import Completions
from workers.core import (
    Action,
    ProposeEdits,
    Route,
    SendFrame,
    StartCompletion,
    StartTask,
    StopCompletion,
    WorkerCore,
    WorkerLimits,
    coalesce,
)
from workers.inference import InferenceBackend, InferenceError, TaskBackend
from workers.lifecycle import Lifecycle, now_ms
from workers.model_slots import ModelSlots
from workers.persistence import PersistenceTracker
from workers.publisher import EventPublisher, KafkaPublisher, fetch_keys
from workers.quality import QualityFollower
from workers.quota import QuotaGate
from workers.reuse import model_identity
from workers.tasks.answers import Tasks

log = logging.getLogger("workers")

CONSUMER_GROUP = "completion-workers"
#: How often accepted suggestions are looked for in the documents (persistence checkpoints).
PERSISTENCE_TICK_MS = 500
#: How often idle sessions are evicted.
EVICTION_TICK_MS = 10_000
#: Consumed offsets are committed at most this often.
COMMIT_INTERVAL_MS = 200


class CompletionWorker:
    """Owns one consumer-group member, its sessions' state and their requests."""

    def __init__(self, settings: Settings, backend: InferenceBackend,
                 quota: QuotaGate | None, cache: CompletionCache | None = None,
                 keys: SessionKeys | None = None, tasks: TaskBackend | None = None,
                 publisher: EventPublisher | None = None) -> None:
        self._settings = settings
        threshold = settings.model_threshold if settings.model_threshold >= 0 else None
        #: Part of every generation's cache key (``serve`` sets the revision it finds).
        served = settings.triton_model if settings.triton_model_interface == "items" else \
            f"{settings.triton_model}[{settings.triton_model_interface}:{settings.fim_template}]"
        #: Opens sessions' editor events (the publisher seals their replies with the same keys).
        self._keys = keys or SessionKeys(None, settings.code_retention_ms)
        self._kafka = KafkaPublisher(self._keys, settings.topic_replies)
        self.publisher: EventPublisher = publisher or self._kafka
        self._core = WorkerCore(WorkerLimits(
            max_documents=settings.max_open_documents,
            max_document_chars=settings.max_document_chars,
            max_completion_tokens=settings.max_completion_tokens,
            prompt_prefix_chars=settings.prompt_prefix_chars,
            prompt_suffix_chars=settings.prompt_suffix_chars,
            session_idle_ms=settings.session_idle_ms,
            request_deadline_ms=settings.request_deadline_ms,
            next_edit_rules=configured(settings.next_edit_rules),
            next_edit_model=bool(settings.next_edit_model.strip()),
        ))
        #: The next-edit model route (Zeta's format), if any, and how its answers went.
        self._next_edit_route = llm_route(settings.next_edit_model, "NEXT_EDIT_MODEL")
        self.next_edit_model_answers: Counter[str] = Counter()
        self.lifecycle = Lifecycle(self.publisher, quota, settings.topic_completions,
                                   self._core.finished)
        self.metrics = Registry()
        tracker = PersistenceTracker(settings.checkpoints())
        self.completions = Completions(
            self.lifecycle, backend, cache,
            ModelSlots(settings.worker_model_slots, settings.admission_wait_ms), tracker,
            self.metrics, settings.triton_model,
            model_identity(served, settings.model_revision, threshold),
            settings.reply_interval_ms)
        self.tasks = Tasks(self.lifecycle, tasks, task_routes(
            settings.task_models, settings.task_deadlines_ms, settings.task_slots))
        self._quality = QualityFollower(self._core, tracker, self.publisher,
                                        settings.topic_quality)
        self._partition_of: dict[str, int] = {}
        self.bad_records = 0
        self.unreadable_records = 0
        #: Next-edit engine runs in flight, and those that failed.
        self._proposals: set[asyncio.Task[None]] = set()
        self.next_edit_failures = 0
        self.reply_partitions = 0
        self.ready = asyncio.Event()

    @property
    def model_identity(self) -> str:
        return self.completions.model_identity

    @property
    def stats(self) -> Counter[str]:
        """Completion requests answered, by source."""
        return self.completions.stats

    @property
    def next_edit_too_large(self) -> int:
        """Pauses in documents too large for the next-edit engine."""
        return self._core.next_edit_too_large

    @property
    def session_count(self) -> int:
        return self._core.session_count

    async def run(self) -> None:
        settings = self._settings
        consumer = make_consumer(settings, group_id=CONSUMER_GROUP, auto_offset_reset="latest")
        consumer.subscribe([settings.topic_editor_events], listener=_Revocations(self, consumer))
        self._kafka.producer = producer = make_producer(settings)
        await producer.start()
        self.reply_partitions = len(await producer.partitions_for(settings.topic_replies))
        await consumer.start()
        next_eviction_ms = now_ms() + EVICTION_TICK_MS
        next_measure_ms = now_ms()
        next_commit_ms, uncommitted = now_ms(), False
        try:
            while True:
                deadline = min(self._core.next_deadline_ms() or next_measure_ms, next_measure_ms,
                               next_commit_ms if uncommitted else next_measure_ms)
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
                    self._quality.measure(now_ms())
                    next_measure_ms = now_ms() + PERSISTENCE_TICK_MS
                if now_ms() >= next_eviction_ms:
                    await self._evict_idle()
                    next_eviction_ms = now_ms() + EVICTION_TICK_MS
                uncommitted = uncommitted or bool(batches)
                if uncommitted and now_ms() >= next_commit_ms:
                    # Each commit is a write to the broker's offsets log: at most one per
                    # interval. A crash replays what came since (replays are harmless: events
                    # keep their ids, and what is too old is answered expired).
                    await consumer.commit()
                    uncommitted, next_commit_ms = False, now_ms() + COMMIT_INTERVAL_MS
        finally:
            if uncommitted:
                with contextlib.suppress(Exception):
                    await consumer.commit()
            await self.lifecycle.close()
            await self.publisher.drain()
            await self.completions.hub.close()
            await consumer.stop()
            await producer.stop()

    async def _evict_idle(self) -> None:
        for action in self._core.evict_idle(now_ms()):
            await self._execute(action)
        has = self._core.has_session
        self._partition_of = {sid: p for sid, p in self._partition_of.items() if has(sid)}
        self._keys.retain(self._quality.retain(has))

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
        await fetch_keys(self._keys,
                         {key.decode("utf-8", "replace") for key, _, _, _ in records if key})
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
            event = read_record(EditorEvent, value, sealed=bool(self._settings.code_encryption))
        except ProtocolError as error:
            self.bad_records += 1
            log.warning("skipping bad editor event at partition %d offset %d: %s (field %s)",
                        partition, offset, error.code, error.field)
            return []
        if not 0 <= event.reply_partition < self.reply_partitions:
            self.bad_records += 1
            log.warning("skipping editor event at partition %d offset %d: reply partition %d "
                        "does not exist", partition, offset, event.reply_partition)
            return []
        self._partition_of[event.session_id] = partition
        actions = self._core.handle(event, now_ms())
        route = Route(event.session_id, event.reply_partition, event.tenant_id, event.user_id,
                      event.plan, event.daily_limit, event.editor)
        self._quality.follow(event, route, now_ms())
        return actions

    async def _execute(self, action: Action) -> None:
        if isinstance(action, SendFrame) and isinstance(action.frame, CompletionEnd):
            # Every end the pure core decides is of a request that never started.
            await self.lifecycle.end_unstarted(action.route, action.frame, action.timing,
                                               action.received_ms, action.kind)
        elif isinstance(action, SendFrame):
            await self.publisher.send(action.route, action.frame, action.timing)
        elif isinstance(action, StopCompletion):
            await self.lifecycle.stop(action.route, action.request_id, action.reason)
        elif isinstance(action, StartCompletion):
            self.lifecycle.start(action.route, action.request_id,
                                 self.completions.answer(action))
        elif isinstance(action, StartTask):
            self.lifecycle.start(action.route, action.request_id, self.tasks.answer(action))
        elif isinstance(action, ProposeEdits):
            task = asyncio.create_task(self._propose(action))
            self._proposals.add(task)
            task.add_done_callback(self._proposals.discard)

    async def _propose(self, action: ProposeEdits) -> None:
        """The next-edit engine on a thread (it parses the document), then the model route if
        the rules found nothing; the core decides whether the answer is still current."""
        try:
            suggestions = await asyncio.to_thread(propose, action.before, action.after,
                                                  action.language_id, action.rules)
            if not suggestions and self._next_edit_route is not None:
                suggestions = await self._ask_model(action)
            for follow in self._core.proposed(action.route.session_id, action.uri,
                                              action.version, action.after, suggestions,
                                              f"ne-{uuid.uuid4().hex[:24]}"):
                await self._execute(follow)
        except Exception:  # a proposal must never stop the worker
            log.exception("the next-edit engine failed on a document")
            self.next_edit_failures += 1


    async def _ask_model(self, action: ProposeEdits) -> list[Suggestion]:
        """The next-edit model's rewrite of the region around the edit, as minimal changes;
        nothing when it fails, runs past its deadline or answers out of format (each counted
        in ``next_edit_model_answers``)."""
        assert self._next_edit_route is not None
        backend = self.tasks.backend  # the task routes' Triton client
        if backend is None:
            self.next_edit_model_answers["no_backend"] += 1
            return []
        # The diff and the excerpt take tens of ms on a large file: not on the event loop.
        asked = await asyncio.to_thread(zeta.ask, action.before, action.after,
                                        action.uri.rsplit("/", 1)[-1])
        if asked is None:
            return []
        interface, model = self._next_edit_route
        deadline_ms = self._settings.next_edit_deadline_ms
        pieces: list[str] = []
        try:
            async with asyncio.timeout(deadline_ms / 1000):
                async for piece in backend.stream_llm(
                        model, interface, asked.prompt, self._settings.next_edit_max_tokens,
                        f"ne-{uuid.uuid4().hex[:16]}", deadline_ms, (zeta.REGION_END,),
                        keep_stop=True):
                    pieces.append(piece)
        except TimeoutError:
            self.next_edit_model_answers["deadline"] += 1
            return []
        except InferenceError as error:
            log.warning("the next-edit model failed: %s", error)
            self.next_edit_model_answers["failed"] += 1
            return []
        # The end marker is kept in the answer: one cut short by the token limit lacks it and
        # is out of format (never the region's first lines as a rewrite of all of it).
        output = "".join(pieces)
        if zeta.rewritten_region(output) is None:
            self.next_edit_model_answers["unparsed"] += 1
            return []
        found = zeta.suggestion(output, action.after, asked)
        self.next_edit_model_answers["suggested" if found else "unchanged"] += 1
        return [found] if found is not None else []


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the worker when partitions move away (the consumer calls this during rebalances)."""

    def __init__(self, worker: CompletionWorker, consumer: AIOKafkaConsumer) -> None:
        self._worker = worker
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # What was applied here is committed before the partitions move (commits are otherwise
        # up to COMMIT_INTERVAL_MS apart): the next owner must not answer those requests again.
        if not revoked:
            return  # the first join: nothing was consumed yet
        try:
            await self._consumer.commit()
        except Exception as error:  # noqa: BLE001 - the group moved on: the next owner replays
            log.warning("offsets not committed before a rebalance: %s", type(error).__name__)
        await self._worker.partitions_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass
