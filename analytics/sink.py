"""The analytics process: feedback events from Kafka into ClickHouse, and read-only SQL for analysts.

Order per flush (as in quix-streams' checkpointing): write the batch, then commit its offsets.
A crash in between replays the batch; the dedup token and the ReplacingMergeTree key absorb it.

In the embedded setup the chDB directory belongs to this one process, so analysts reach the
data through its loopback query endpoint (``python -m analytics.query``); against a ClickHouse
server the same command queries the server directly. All ClickHouse calls run on one thread
because the chDB client is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import clickhouse_connect
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from clickhouse_connect.driver.client import Client

from analytics.batcher import Batch, Batcher
from analytics.schema import FEEDBACK_COLUMNS, FEEDBACK_TABLE, create_tables
from analytics.scope import refusal, scoped_settings
from infra.runtime import run_marking_ready
from infra.settings import Settings
from infra.tenants import DirectoryError, Principal, load_directory
from schemas.errors import ProtocolError
from schemas.topics import FeedbackEvent, read_record
from streams.kafka import make_consumer

log = logging.getLogger("analytics")

CONSUMER_GROUP = "analytics-sink"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def feedback_row(event: FeedbackEvent) -> tuple[Any, ...]:
    """The table row for one event, in ``FEEDBACK_COLUMNS`` order."""
    return (
        event.event_id, event.session_id, event.tenant_id, event.user_id, event.plan,
        event.request_id, event.kind, event.language_id or "", event.accepted_chars,
        event.latency_ms, datetime.fromtimestamp(event.received_ms / 1000, UTC),
    )


def open_client(settings: Settings) -> Client:
    dsn = settings.clickhouse_dsn
    if dsn.startswith("chdb://"):
        settings.stack_home.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn)


class FeedbackSink:
    """Consumes ``feedback-events`` and writes them to ``feedback_events`` in batches."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.batcher = Batcher(settings.topic_feedback, settings.sink_batch_rows,
                               settings.sink_batch_ms)
        self.rows_written = 0
        self.bad_records = 0
        self.ready = asyncio.Event()

    async def on_db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.db, lambda: fn(*args, **kwargs))

    async def run(self) -> None:
        await self.on_db(create_tables, self.client)
        consumer = make_consumer(self.settings, self.settings.topic_feedback,
                                 group_id=f"{CONSUMER_GROUP}.{self.settings.topic_feedback}",
                                 auto_offset_reset="earliest")
        await consumer.start()
        self.ready.set()
        try:
            while True:
                deadline = self.batcher.next_deadline_ms()
                wait_ms = 200 if deadline is None else max(0, min(200, deadline - now_ms()))
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        self.batcher.add(tp.partition, record.offset,
                                         self._row(record.value, tp.partition, record.offset),
                                         now_ms())
                await self._flush(consumer, self.batcher.due(now_ms()))
        finally:
            await self._flush(consumer, self.batcher.due(now_ms(), force=True))
            await consumer.stop()

    def _row(self, value: bytes | None, partition: int, offset: int) -> tuple[Any, ...] | None:
        try:
            return feedback_row(read_record(FeedbackEvent, value))
        except ProtocolError as error:
            self.bad_records += 1
            log.warning("skipping bad feedback record at partition %d offset %d: %s (field %s)",
                        partition, offset, error.code, error.field)
        except (ValueError, OverflowError) as error:
            self.bad_records += 1
            log.warning("skipping unconvertible feedback record at partition %d offset %d: %s",
                        partition, offset, type(error).__name__)
        return None

    async def _flush(self, consumer: AIOKafkaConsumer, batches: list[Batch]) -> None:
        for batch in batches:
            if batch.rows:
                await self.on_db(self.write, batch)
            tp = TopicPartition(batch.topic, batch.partition)
            await consumer.commit({tp: OffsetAndMetadata(batch.last_offset + 1, "")})

    def write(self, batch: Batch) -> None:
        """Insert one batch, retrying transient failures; the token makes retries idempotent."""
        for attempt in range(5):
            try:
                self.client.insert(FEEDBACK_TABLE, list(batch.rows), column_names=FEEDBACK_COLUMNS,
                                   settings={"insert_deduplication_token": batch.dedup_token})
                self.rows_written += len(batch.rows)
                return
            except Exception:
                if attempt == 4:
                    raise
                log.warning("insert of %s failed, retrying", batch.dedup_token, exc_info=True)
                time.sleep(0.2 * 2**attempt)

    def query(self, sql: str, tenant_id: str | None = None) -> dict[str, Any]:
        """Run one read-only statement (the engine refuses writes with ``readonly=1``); with a
        ``tenant_id``, confined to that tenant's rows (``analytics.scope``)."""
        settings: dict[str, Any] = {"readonly": 1}
        if tenant_id is not None:
            tables = {row[0] for row in self.client.query(
                "SELECT table FROM system.columns WHERE database = currentDatabase() "
                "AND name = 'tenant_id'").result_rows}
            ast = [row[0] for row in self.client.query(f"EXPLAIN AST {sql}",
                                                       settings=settings).result_rows]
            database = self.client.query("SELECT currentDatabase()").result_rows[0][0]
            why = refusal(ast, tables, database)
            if why is not None:
                raise PermissionError(why)
            settings = scoped_settings(tenant_id, tables)
        result = self.client.query(sql, settings=settings)
        return {"columns": list(result.column_names), "rows": result.result_rows}


def query_app(sink: FeedbackSink) -> web.Application:
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
                                             time.time_ns() // 1_000_000, role="analyst")
            if not isinstance(verdict, Principal):
                return web.json_response({"error": verdict.reason}, status=403)
            tenant_id = verdict.tenant_id
        try:
            result = await sink.on_db(sink.query, sql, tenant_id)
        except Exception as error:  # noqa: BLE001 - the engine's message is the useful answer
            return web.json_response({"error": str(error).strip()[:2000]}, status=400)
        body = orjson.dumps(result, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS)
        return web.Response(body=body, content_type="application/json")

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/query", handle)
    return app


async def serve_analytics(settings: Settings, ready_file: str | None) -> None:
    client = await asyncio.to_thread(open_client, settings)
    sink = FeedbackSink(settings, client)
    runner = web.AppRunner(query_app(sink), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.analytics_port)
    await site.start()
    try:
        await run_marking_ready(sink.run(), sink.ready, ready_file)
    finally:
        await runner.cleanup()
        await sink.on_db(client.close)
        sink.db.shutdown()
