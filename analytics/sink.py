"""The analytics process: feedback and completion events from Kafka into ClickHouse, read-only
SQL for analysts, and erasure of one user's rows for the operator.

Order per flush (as in quix-streams' checkpointing): record where the batch ends in the commit
metadata, write the batch, then commit its offsets. A crash in between replays the batch cut at
the same end (``analytics.batcher``), so its dedup token matches and ClickHouse drops the copy;
the ReplacingMergeTree key is the second line.

In the embedded setup the chDB directory belongs to this one process, so analysts reach the
data through its loopback query endpoint (``python -m analytics.query``); against a ClickHouse
server the same command queries the server directly. All ClickHouse calls run on one thread
because the chDB client is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from clickhouse_connect.driver.client import Client

from analytics.batcher import Batch, Batcher, plan_metadata, planned_end
from analytics.dashboard import dashboard_app
from analytics.erasure import Erasure
from analytics.schema import (
    AUTHORSHIP_COLUMNS,
    AUTHORSHIP_TABLE,
    COMPLETION_COLUMNS,
    COMPLETIONS_TABLE,
    FEEDBACK_COLUMNS,
    FEEDBACK_TABLE,
    PERSISTENCE_COLUMNS,
    PERSISTENCE_TABLE,
    SUGGESTION_COLUMNS,
    SUGGESTIONS_TABLE,
    create_tables,
    erase_and_record,
)
from analytics.scope import (
    OPERATOR_READS,
    TENANT_READS,
    refusal,
    scoped_settings,
    statement_refusal,
)
from config.settings import Settings
from runtime.service import run_marking_ready
from schemas.errors import ProtocolError
from schemas.topics import (
    AuthorshipEvent,
    CompletionEvent,
    FeedbackEvent,
    PersistenceEvent,
    SuggestionEvent,
    read_quality,
    read_record,
)
from streams.kafka import IDLE_WAIT_MS, make_consumer
from tenants.directory import DirectoryError, Principal, load_directory

log = logging.getLogger("analytics")

def now_ms() -> int:
    return time.time_ns() // 1_000_000


def feedback_row(event: FeedbackEvent) -> tuple[Any, ...]:
    """The table row for one event, in ``FEEDBACK_COLUMNS`` order."""
    return (
        event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
        event.request_id, event.kind, event.language_id or "", event.accepted_chars,
        event.latency_ms, _time(event.received_ms), event.editor, event.request_kind,
    )


def completion_row(event: CompletionEvent) -> tuple[Any, ...]:
    """The table row for one event, in ``COMPLETION_COLUMNS`` order."""
    return (
        event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
        event.request_id, event.model, event.language_id, event.source, event.admitted,
        event.reason, event.chunks, event.generated_chars, _time(event.received_ms),
        _time(event.ended_ms), event.first_chunk_latency_ms, event.kind, event.editor,
    )


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class Flow:
    """One topic into one table: how a record becomes a row (``None``: a record of the topic
    that belongs to another table; raising: a bad record, skipped and counted)."""

    topic: str
    table: str
    columns: tuple[str, ...]
    row: Callable[[bytes | None], tuple[Any, ...] | None]


def flows(settings: Settings) -> list[Flow]:
    return [
        Flow(settings.topic_feedback, FEEDBACK_TABLE, FEEDBACK_COLUMNS,
             lambda value: feedback_row(read_record(FeedbackEvent, value))),
        Flow(settings.topic_completions, COMPLETIONS_TABLE, COMPLETION_COLUMNS,
             lambda value: completion_row(read_record(CompletionEvent, value))),
        Flow(settings.topic_quality, PERSISTENCE_TABLE, PERSISTENCE_COLUMNS,
             lambda value: quality_row(read_quality(value), PersistenceEvent)),
        Flow(settings.topic_quality, AUTHORSHIP_TABLE, AUTHORSHIP_COLUMNS,
             lambda value: quality_row(read_quality(value), AuthorshipEvent)),
        Flow(settings.topic_quality, SUGGESTIONS_TABLE, SUGGESTION_COLUMNS,
             lambda value: quality_row(read_quality(value), SuggestionEvent)),
    ]


def quality_row(event: PersistenceEvent | AuthorshipEvent | SuggestionEvent, wanted: type
                ) -> tuple[Any, ...] | None:
    """The row of ``event`` if it is of the ``wanted`` kind (one topic feeds three tables)."""
    if not isinstance(event, wanted):
        return None
    if isinstance(event, SuggestionEvent):
        return (event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
                event.suggestion_id, event.rule, event.language_id, event.kind, event.changes,
                event.accepted_changes, _time(event.received_ms))
    if isinstance(event, PersistenceEvent):
        return (event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
                event.request_id, event.language_id, event.checkpoint_s, event.accepted_chars,
                event.surviving_chars, _time(event.accepted_ms + event.checkpoint_s * 1000))
    return (event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
            event.language_id, event.typed_chars, event.completion_chars,
            _time(event.ended_ms))


#: Tries at reading a partition's committed offset and plan before the flow gives up.
PLAN_LOOKUPS = 8


class _Forget(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition taken away drops its open batch and pending replay plan here; when it comes
    back, its plan is read again (another member may have written one)."""

    def __init__(self, batcher: Batcher, seen: set[int]) -> None:
        self.batcher, self.seen = batcher, seen

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.batcher.forget(tp.partition)
            self.seen.discard(tp.partition)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


def open_client(settings: Settings) -> Client:
    dsn = settings.clickhouse_dsn
    if dsn.startswith("chdb://"):
        settings.stack_home.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn)


class AnalyticsSink:
    """Consumes each flow's topic and writes its rows to its table in batches."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        #: Analysts' reads (SQL, the dashboard) run apart from the writer, two at a time: a
        #: dashboard's dozen queries neither wait for each other one by one nor hold the
        #: sink's inserts back.
        self.reads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="clickhouse-read")
        self.rows_written = 0
        self.bad_records = 0
        #: Each read thread's engine handle (``query``), kept between its queries.
        self._local = threading.local()
        self._readers: set[Client] = set()
        self._readers_lock = threading.Lock()
        self.ready = asyncio.Event()

    async def on_db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.db, lambda: fn(*args, **kwargs))

    async def read(self, sql: str, tenant_id: str | None = None) -> dict[str, Any]:
        """:meth:`query` on a read thread."""
        result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(
            self.reads, self.query, sql, tenant_id)
        return result

    async def run(self) -> None:
        await self.on_db(create_tables, self.client, self.settings.analytics_retention_days)
        started: list[asyncio.Event] = []
        tasks = []
        for flow in flows(self.settings):
            started.append(asyncio.Event())
            tasks.append(asyncio.create_task(self._run_flow(flow, started[-1])))
        waiting: asyncio.Future[Any] = asyncio.gather(*(e.wait() for e in started))
        pending: set[asyncio.Future[Any]] = {waiting, *tasks}
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done():
            self.ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            waiting.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(waiting, *tasks, return_exceptions=True)

    async def _run_flow(self, flow: Flow, started: asyncio.Event) -> None:
        batcher = Batcher(flow.topic, self.settings.sink_batch_rows, self.settings.sink_batch_ms)
        group = f"{self.settings.analytics_consumer_group}.{flow.table}"
        consumer = make_consumer(self.settings, group_id=group,
                                 auto_offset_reset="earliest", batch=True)
        seen: set[int] = set()
        consumer.subscribe([flow.topic], listener=_Forget(batcher, seen))
        await consumer.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap,
                                    request_timeout_ms=10_000)
        await admin.start()
        started.set()
        try:
            while True:
                deadline = batcher.next_deadline_ms()
                wait_ms = (IDLE_WAIT_MS if deadline is None
                           else max(0, min(IDLE_WAIT_MS, deadline - now_ms())))
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=5000)
                for tp, records in batches.items():
                    if tp.partition not in seen:
                        await self._resume(admin, group, tp, batcher)
                        seen.add(tp.partition)
                    for record in records:
                        batcher.add(tp.partition, record.offset,
                                    self._row(flow, record.value, tp.partition, record.offset),
                                    now_ms(), record.timestamp)
                await self._flush(flow, consumer, batcher.due(now_ms()))
        finally:
            try:
                await self._flush(flow, consumer, batcher.due(now_ms(), force=True))
            finally:
                await consumer.stop()
                await admin.close()

    @staticmethod
    async def _resume(admin: AIOKafkaAdminClient, group: str, tp: TopicPartition,
                      batcher: Batcher) -> None:
        """Before a partition's first records: if the last run stopped while inserting a batch,
        cut the replay at that batch's end."""
        for attempt in range(PLAN_LOOKUPS):
            committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
            found = committed.get(tp)
            if found is not None:
                break
            # The partition was asked for by name, so an answer without it is an error the
            # admin client swallowed (coordinator loading or moved): guessing "no plan" could
            # cut the replay elsewhere and double rows, so ask again.
            await asyncio.sleep(0.2 * 2**attempt)
        else:
            raise RuntimeError(f"could not read the committed offset of {tp} for group {group} "
                               f"after {PLAN_LOOKUPS} tries; is the broker's coordinator up?")
        end = planned_end(found.metadata, found.offset)
        if end is not None:
            log.warning("the last run stopped while inserting %s up to offset %d: replaying it "
                        "as one batch (ClickHouse drops the rows it already has)", tp, end)
            batcher.resume(tp.partition, end)

    def _row(self, flow: Flow, value: bytes | None, partition: int, offset: int
             ) -> tuple[Any, ...] | None:
        try:
            return flow.row(value)
        except ProtocolError as error:
            self.bad_records += 1
            log.warning("skipping bad %s record at partition %d offset %d: %s (field %s)",
                        flow.topic, partition, offset, error.code, error.field)
        except (ValueError, OverflowError) as error:
            self.bad_records += 1
            log.warning("skipping unconvertible %s record at partition %d offset %d: %s",
                        flow.topic, partition, offset, type(error).__name__)
        return None

    async def _flush(self, flow: Flow, consumer: AIOKafkaConsumer, batches: list[Batch]) -> None:
        for batch in batches:
            tp = TopicPartition(batch.topic, batch.partition)
            if batch.rows:
                await consumer.commit({tp: OffsetAndMetadata(batch.first_offset,
                                                             plan_metadata(batch))})
                await self.on_db(self.write, flow, batch)
            await consumer.commit({tp: OffsetAndMetadata(batch.last_offset + 1, "")})

    def write(self, flow: Flow, batch: Batch) -> None:
        """Insert one batch, retrying transient failures; the token makes retries idempotent."""
        for attempt in range(5):
            try:
                self.client.insert(flow.table, list(batch.rows), column_names=flow.columns,
                                   settings={"insert_deduplication_token": batch.dedup_token})
                self.rows_written += len(batch.rows)
                return
            except Exception:
                if attempt == 4:
                    raise
                log.warning("insert of %s failed, retrying", batch.dedup_token, exc_info=True)
                time.sleep(0.2 * 2**attempt)

    def erase(self, erasure: Erasure, salt: str, subject: str) -> dict[str, Any]:
        """An erasure's ClickHouse part. On this thread nothing else writes the tables
        meanwhile, so they can be rewritten without the user's rows."""
        done = erase_and_record(self.client, erasure, salt, subject, rewrite=True)
        return {"rows_removed": done.rows_removed}

    def close_readers(self) -> None:
        with self._readers_lock:
            for client in self._readers:
                client.close()
            self._readers.clear()

    def query(self, sql: str, tenant_id: str | None = None) -> dict[str, Any]:
        """Run one read statement with ``readonly=1``; with a ``tenant_id``, confined to that
        tenant's rows (``analytics.scope``).

        Anything but a read is refused before the engine sees it, and reads use an engine
        handle apart from the writer's: a setting the driver applied to a session and could not
        undo (as it did for a write under ``readonly=1``) must not reach the writer. The reader
        is kept between queries (opening one costs ~50 ms, a dashboard runs a dozen queries per
        view): a read carries its settings in its own ``SETTINGS`` clause, so none outlives it,
        and a handle whose query failed is closed, never reused."""
        why = statement_refusal(sql, TENANT_READS if tenant_id is not None else OPERATOR_READS)
        if why is not None:
            raise PermissionError(why)
        client = getattr(self._local, "client", None)
        if client is None:
            client = open_client(self.settings)
            with self._readers_lock:
                self._readers.add(client)
        self._local.client = None
        try:
            settings: dict[str, Any] = {"readonly": 1}
            if tenant_id is not None:
                tables = {row[0] for row in client.query(
                    "SELECT table FROM system.columns WHERE database = currentDatabase() "
                    "AND name = 'tenant_id'").result_rows}
                ast = [row[0] for row in client.query(f"EXPLAIN AST {sql}",
                                                      settings=settings).result_rows]
                database = client.query("SELECT currentDatabase()").result_rows[0][0]
                why = refusal(ast, tables, database)
                if why is not None:
                    raise PermissionError(why)
                settings = scoped_settings(tenant_id, tables)
            result = client.query(sql, settings=settings)
        except BaseException:
            with self._readers_lock:
                self._readers.discard(client)
            client.close()
            raise
        self._local.client = client
        return {"columns": list(result.column_names), "rows": result.result_rows}


def query_app(sink: AnalyticsSink) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        sql = (await request.text()).strip()
        if not sql:
            return web.json_response({"error": "send one SQL statement as the request body"},
                                     status=400)
        tenant_id = None
        authorization = request.headers.get("Authorization")
        if authorization is not None:  # a tenant's analyst; without a key: the local operator
            scheme, _, key = authorization.partition(" ")
            try:
                directory = load_directory(sink.settings.tenants_path)
            except DirectoryError as error:
                return web.json_response({"error": f"tenants file: {error}"}, status=503)
            verdict = directory.authenticate(key.strip() if scheme.lower() == "bearer" else None,
                                             time.time_ns() // 1_000_000,
                                             role=("analyst", "operator"))
            if not isinstance(verdict, Principal):
                return web.json_response({"error": verdict.reason}, status=403)
            # An operator's key reads every tenant, as the local operator does.
            tenant_id = None if verdict.role == "operator" else verdict.tenant_id
        try:
            result = await sink.read(sql, tenant_id)
        except Exception as error:  # noqa: BLE001 - the engine's message is the useful answer
            return web.json_response({"error": str(error).strip()[:2000]}, status=400)
        body = orjson.dumps(result, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS)
        return web.Response(body=body, content_type="application/json")

    async def erase(request: web.Request) -> web.Response:
        """GDPR erasure of one user's rows (the local operator only: no analyst key may do
        this). The body names the user by a salted hash only (``analytics.erase``)."""
        if request.headers.get("Authorization") is not None:
            return web.json_response({"error": "erasure is for the operator (no API key)"},
                                     status=403)
        try:
            body = orjson.loads(await request.read())
            erasure = Erasure(**body["erasure"])
            salt, subject = str(body["salt"]), str(body["subject"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            return web.json_response({"error": f"bad erasure request: {error}"}, status=400)
        result = await sink.on_db(sink.erase, erasure, salt, subject)
        return web.json_response(result)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/query", handle)
    app.router.add_post("/erase", erase)
    return app


async def start_dashboard(settings: Settings, sink: AnalyticsSink) -> web.AppRunner | None:
    """The dashboard's site, or ``None`` when it cannot start (its port taken, its TLS files
    unreadable): said in the log, and ingestion goes on without it."""
    board = web.AppRunner(dashboard_app(settings, sink.read), access_log=None)
    await board.setup()
    try:
        tls = None
        if settings.dashboard_tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.dashboard_tls_cert, settings.dashboard_tls_key)
        await web.TCPSite(board, settings.dashboard_host, settings.dashboard_port,
                          ssl_context=tls).start()
    except (OSError, ssl.SSLError) as error:
        log.error("the dashboard could not start on %s:%d (%s); the sink runs without it: "
                  "free the port or set DASHBOARD_PORT, check DASHBOARD_TLS_CERT/KEY",
                  settings.dashboard_host, settings.dashboard_port, error)
        await board.cleanup()
        return None
    return board


async def serve_analytics(settings: Settings, ready_file: str | None) -> None:
    client = await asyncio.to_thread(open_client, settings)
    sink = AnalyticsSink(settings, client)
    runner = web.AppRunner(query_app(sink), access_log=None)
    await runner.setup()
    board: web.AppRunner | None = None
    try:
        await web.TCPSite(runner, "127.0.0.1", settings.analytics_port).start()
        board = await start_dashboard(settings, sink)
        await run_marking_ready(sink.run(), sink.ready, ready_file)
    finally:
        if board is not None:
            await board.cleanup()
        await runner.cleanup()
        await sink.on_db(client.close)
        sink.reads.shutdown(wait=True)
        sink.close_readers()
        sink.db.shutdown()
