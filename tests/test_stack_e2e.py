"""End to end over the real components: WebSocket -> Tansu -> worker -> tritonserver -> socket,
feedback -> Kafka -> ClickHouse engine, quotas in a real Redis."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed

from analytics.query import run_query
from bench.keys import Caller
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import python_service
from quota.arithmetic import day_window, quota_key
from schemas.socket import (
    CompletionEnd,
    DocChange,
    DocOpen,
    ErrorFrame,
    Feedback,
    ServerMessage,
    SlowDown,
    TextEdit,
    TokenChunk,
)
from socket_client.answers import Answer
from tenants.directory import FREE_DAILY_COMPLETIONS
from tests.conftest import KEYRING
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

PYTHON_SOURCE = '''def fibonacci(number):
    if number < 2:
        return number
    return fibonacci(number - 1) + fibonacci(number - 2)


def print_fibonacci_table(limit):
    for index in range(limit):
        print(index, fibonacci(index))


def main():
    print_fibonacci_table(10)
    value = fibonacci(12)
    print(value)
    for index in range(li'''


async def open_client(settings: Settings, caller: Caller | None = None, edge: int = 0
                      ) -> EdgeClient:
    """A session of ``caller`` (default: a fresh pro user) on edge ``edge``."""
    caller = caller or KEYRING.take("pro")
    connection = await connect_edge(settings.edge_url(edge), caller.api_key)
    client = EdgeClient(connection)
    await client.start()
    return client


@pytest.fixture
async def client(stack: Settings) -> AsyncIterator[EdgeClient]:
    c = await open_client(stack)
    yield c
    await c.close()


async def finished(completion: Answer, timeout_s: float = 20.0) -> Answer:
    await asyncio.wait_for(completion.done.wait(), timeout_s)
    return completion


async def next_frame(client: EdgeClient, timeout_s: float = 10.0) -> ServerMessage:
    """The next frame that answers the client, skipping ``slow_down``: a loaded edge (a busy
    2-core machine) pushes it to every session, whatever the session sent (seen in CI)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = await asyncio.wait_for(client.frames.get(), max(left, 0.001))
        if not isinstance(frame, SlowDown):
            return frame


async def completion_for(client: EdgeClient, text: str, uri: str = "file:///demo.py"
                         ) -> Answer:
    await client.send(DocOpen(uri, "python", 1, text))
    return await finished(await client.complete(uri, 1, len(text)))


class TestCompletionEndToEnd:
    """A streamed completion really travels socket -> Kafka -> worker -> Triton -> socket."""

    async def test_tokens_stream_then_end_then_feedback_lands_in_clickhouse(
        self, stack: Settings, client: EdgeClient
    ) -> None:
        completion = await completion_for(client, PYTHON_SOURCE)
        assert completion.error is None
        tokens = [f for f in drain(client) if isinstance(f, TokenChunk)]
        # Chunks after the first are paced (REPLY_INTERVAL_MS): a fast answer may be one chunk.
        assert tokens, f"expected a streamed completion, got {completion.chunks!r}"
        assert [t.seq for t in tokens] == list(range(len(tokens)))
        assert completion.end is not None
        assert completion.end.reason in {"stop", "length"}
        assert completion.end.chunks == len(tokens)
        assert completion.text.startswith("mit)"), completion.text  # learnt from the document

        event_id = uuid.uuid4().hex
        await client.send(Feedback(event_id, completion.request_id, "accepted", latency_ms=12))
        rows = await poll_clickhouse(
            stack, f"SELECT kind, language_id, latency_ms, plan FROM feedback_events "
                   f"WHERE event_id = '{event_id}'")
        assert rows == [["accepted", "python", 12, "pro"]]

    async def test_two_sessions_each_get_only_their_own_tokens(self, stack: Settings) -> None:
        a, b = await open_client(stack), await open_client(stack)
        try:
            ca, cb = await asyncio.gather(
                completion_for(a, "import os\nimport sys\nimport o"),
                completion_for(b, "def parse_args(argv):\n    return argv\n\nparse_a"))
            assert ca.text and cb.text
            assert {f.request_id for f in drain(a) if isinstance(f, TokenChunk)} == {ca.request_id}
            assert {f.request_id for f in drain(b) if isinstance(f, TokenChunk)} == {cb.request_id}
        finally:
            await a.close()
            await b.close()

    async def test_keystroke_during_debounce_supersedes_the_request(self, client: EdgeClient
                                                                    ) -> None:
        """A fast typist's request waits out the debounce; the next key ends it unanswered."""
        uri, text = "file:///s.py", "total = compute_"
        await client.send(DocOpen(uri, "python", 1, text))
        version = 1
        for ch in "running_sum_of_values":
            version += 1
            await client.send(DocChange(uri, version, (TextEdit(len(text), len(text), ch),)))
            text += ch
            await asyncio.sleep(0.02)
        first = await client.complete(uri, version, len(text))
        await client.send(DocChange(uri, version + 1, (TextEdit(len(text), len(text), "("),)))
        await finished(first)
        assert first.end is not None
        assert (first.end.reason, first.end.chunks, first.chunks) == ("superseded", 0, [])
        second = await finished(await client.complete(uri, version + 1, len(text) + 1))
        assert second.end is not None and second.end.reason in {"stop", "length"}
        frames = drain(client)
        end_at = next(i for i, f in enumerate(frames)
                      if isinstance(f, CompletionEnd) and f.request_id == first.request_id)
        assert not any(isinstance(f, TokenChunk) and f.request_id == first.request_id
                       for f in frames[end_at:]), "no token of a superseded request after its end"

    async def test_free_plan_over_quota_spends_no_inference(self, stack: Settings) -> None:
        caller = KEYRING.take("free")
        user = caller.user_id
        redis = aioredis.Redis.from_url(stack.redis_url)
        day, _ = day_window(time.time_ns() // 1_000_000)
        key = quota_key(caller.tenant_id, user, day)
        await redis.set(key, FREE_DAILY_COMPLETIONS, ex=60)
        client = await open_client(stack, caller)
        try:
            # A prompt nobody asked before: a cached answer would cost no quota.
            completion = await completion_for(client, f"# {user}\n{PYTHON_SOURCE}")
            assert completion.chunks == []
            assert completion.end is not None and completion.end.reason == "quota"
            assert completion.error is not None and completion.error.code == "quota_exceeded"
            assert "resets at" in completion.error.message
            assert int(await redis.get(key) or 0) == FREE_DAILY_COMPLETIONS
        finally:
            await client.close()
            await redis.delete(key)
            await redis.aclose()


class TestTypedAsSuggested:
    """Typing the first characters of a suggestion is answered with the rest of it, by the
    worker, without asking the model again."""

    async def test_rest_of_the_suggestion_without_inference(
        self, stack: Settings, client: EdgeClient
    ) -> None:
        uri, text = "file:///typed.py", f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}"
        first = await completion_for(client, text, uri=uri)
        assert len(first.text) >= 2, first.text
        before = await asyncio.to_thread(worker_metrics, stack)
        typed = first.text[0]
        await client.send(DocChange(uri, 2, (TextEdit(len(text), len(text), typed),)))
        second = await finished(await client.complete(uri, 2, len(text) + 1))
        after = await asyncio.to_thread(worker_metrics, stack)
        assert second.text == first.text[1:]
        source = 'worker_requests_total{source="%s"}'
        assert after.get(source % "typed_as_suggested", 0) == before.get(
            source % "typed_as_suggested", 0) + 1
        assert after.get(source % "inferred", 0) == before.get(source % "inferred", 0)


def worker_metrics(stack: Settings) -> dict[str, float]:
    text = http_get(f"http://127.0.0.1:{stack.worker_metrics_port}/metrics")
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.splitlines() if line and not line.startswith("#")}


class TestCompletionCache:
    """Finished generations land in the real Redis under a hash, with a TTL."""

    async def test_generation_is_cached_by_hash(self, stack: Settings, client: EdgeClient) -> None:
        marker = f"run {uuid.uuid4().hex[:12]}"  # a 32-hex marker would be masked as a secret
        completion = await completion_for(client, f"# {marker}\n{PYTHON_SOURCE}")
        assert completion.text
        redis = aioredis.Redis.from_url(stack.redis_url)
        try:
            keys = [k async for k in redis.scan_iter(match="gen:v1:*")]
            assert keys
            assert not any(marker.encode() in k or b"fibonacci" in k for k in keys)
            values = [await redis.get(k) for k in keys]
            assert any(completion.text.encode() in (v or b"").replace(b'","', b"") for v in values)
            ttls = [await redis.ttl(k) for k in keys]
            # -2: a key of an earlier test that expired since the scan; 0: one with under half a
            # second left (Redis rounds TTL to the nearest second). A key without a TTL is -1 and
            # fails.
            assert all(0 <= ttl <= stack.completion_cache_ttl_s for ttl in ttls if ttl != -2), ttls
        finally:
            await redis.aclose()


class TestBadInputOverTheSocket:
    """Each bad frame gets a clear error frame; the session and the stack keep working."""

    @pytest.mark.parametrize(("data", "code", "field"), [
        ("this is not json", "bad_json", None),
        (b"\x00\x01binary", "binary_frame", None),
        ('{"type":"doc_open","uri":"a.py","language_id":"python","version":"one","text":""}',
         "invalid_field", "version"),
        ('{"type":"summon_demon"}', "unknown_type", "type"),
        ('{"type":"doc_change","uri":"never-opened.py","version":2,'
         '"changes":[{"start":0,"end":0,"text":"x"}]}', "unknown_document", "uri"),
    ])
    async def test_error_frame_then_session_still_works(
        self, client: EdgeClient, data: str | bytes, code: str, field: str | None
    ) -> None:
        await client.connection.send(data)
        error = await next_frame(client)
        assert isinstance(error, ErrorFrame)
        assert (error.code, error.field) == (code, field)
        completion = await completion_for(client, PYTHON_SOURCE, uri="file:///after-error.py")
        assert completion.text

    async def test_out_of_order_version(self, client: EdgeClient) -> None:
        await client.send(DocOpen("file:///v.py", "python", 5, "x = 1\n"))
        await client.connection.send('{"type":"doc_change","uri":"file:///v.py","version":3,'
                                     '"changes":[{"start":0,"end":0,"text":"y"}]}')
        error = await next_frame(client)
        assert isinstance(error, ErrorFrame)
        assert (error.code, error.field) == ("version_conflict", "version")

    async def test_oversized_frame_gets_an_error(self, stack: Settings, client: EdgeClient) -> None:
        await client.connection.send("x" * (stack.max_frame_bytes + 1))
        error = await next_frame(client)
        assert isinstance(error, ErrorFrame)
        assert error.code == "frame_too_large"
        assert (await completion_for(client, PYTHON_SOURCE)).text

    async def test_huge_frame_closes_only_that_connection(self, stack: Settings) -> None:
        victim, bystander = await open_client(stack), await open_client(stack)
        try:
            await victim.connection.send("x" * (stack.max_frame_bytes * 5))
            with pytest.raises(ConnectionClosed) as closed:
                await read_until_closed(victim)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            assert (await completion_for(bystander, PYTHON_SOURCE)).text
        finally:
            await victim.close()
            await bystander.close()


async def read_until_closed(client: EdgeClient) -> None:
    """Wait for the reader to end, then surface how the connection closed."""
    assert client._reader is not None
    await asyncio.wait_for(asyncio.gather(client._reader, return_exceptions=True), 10)
    await client.connection.recv()


def drain(client: EdgeClient) -> list[ServerMessage]:
    frames = []
    while not client.frames.empty():
        frames.append(client.frames.get_nowait())
    return frames


async def poll_clickhouse(settings: Settings, sql: str, timeout_s: float = 20.0) -> list[list[object]]:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await asyncio.to_thread(run_query, settings, sql)
        if result["rows"] or time.monotonic() > deadline:
            return [list(r) for r in result["rows"]]
        await asyncio.sleep(0.2)


class TestTopics:
    """Topics exist with the partition counts and retention the settings ask for."""

    async def test_partitions_and_retention(self, stack: Settings) -> None:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        from streams.kafka import topic_specs

        admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
        await admin.start()
        try:
            specs = topic_specs(stack)
            described = await admin.describe_topics([s.name for s in specs])
            partitions = {t["topic"]: len(t["partitions"]) for t in described}
            assert partitions == {s.name: s.partitions for s in specs}
            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs])
            retention, cleanup = {}, {}
            for response in configs:
                for resource in response.resources:
                    name, entries = resource[3], resource[4]
                    retention[name] = {e[0]: e[1] for e in entries
                                       if e[0] in ("retention.ms", "segment.ms")}
                    cleanup[name] = {e[0]: e[1] for e in entries if e[0] in (
                        "cleanup.policy", "max.compaction.lag.ms")}
            assert retention == {s.name: {"retention.ms": str(s.retention_ms),
                                          "segment.ms": str(s.segment_ms or 604_800_000)}
                                 for s in specs}
            code = {s.name: s.segment_ms for s in specs if s.segment_ms}
            assert code == {stack.topic_editor_events: 120_000, stack.topic_replies: 120_000}
            # Only the usage topic is compacted (an erasure's tombstones remove records).
            assert {name: c for name, c in cleanup.items() if c["cleanup.policy"] != "delete"} == {
                stack.topic_usage: {"cleanup.policy": "compact,delete",
                                    "max.compaction.lag.ms": str(stack.usage_compaction_lag_ms)}}
        finally:
            await admin.close()

    async def test_existing_topic_with_long_retention_is_refused(self, stack: Settings) -> None:
        from streams.kafka import TopicConfigError, TopicSpec, ensure_topics

        name = f"long-retention-{uuid.uuid4().hex[:6]}"
        await ensure_topics(stack, [TopicSpec(name, 1, 7 * 86_400_000)])
        with pytest.raises(TopicConfigError, match=f"topic {name} has retention.ms=604800000, "
                           "more than the 600000 allowed"):
            await ensure_topics(stack, [TopicSpec(name, 1, 600_000)])
        assert await ensure_topics(stack, [TopicSpec(name, 1, 7 * 86_400_000)]) == []

    async def test_code_topic_with_long_segments_is_refused(self, stack: Settings) -> None:
        """Retention deletes closed segments only: a week-long segment keeps code for a week."""
        from streams.kafka import TopicConfigError, TopicSpec, ensure_topics

        name = f"long-segments-{uuid.uuid4().hex[:6]}"
        await ensure_topics(stack, [TopicSpec(name, 1, 600_000)])  # the broker's segment.ms
        with pytest.raises(TopicConfigError, match=f"topic {name} has segment.ms=604800000"):
            await ensure_topics(stack, [TopicSpec(name, 1, 600_000, segment_ms=120_000)])


    async def test_a_topic_to_compact_that_is_not_compacted_is_refused(
            self, stack: Settings) -> None:
        """Tombstones on a topic that only deletes by age would never erase anything."""
        from streams.kafka import TopicConfigError, TopicSpec, ensure_topics

        name = f"not-compacted-{uuid.uuid4().hex[:6]}"
        await ensure_topics(stack, [TopicSpec(name, 1, 600_000)])
        with pytest.raises(TopicConfigError, match=f"topic {name} has cleanup.policy=delete, "
                           "and erasure needs compact,delete"):
            await ensure_topics(stack, [TopicSpec(name, 1, 600_000, compaction_lag_ms=60_000)])


class TestMetrics:
    """Edge and worker export Prometheus metrics, with the first-token latency split by stage."""

    async def test_stage_split_and_sources(self, stack: Settings, client: EdgeClient) -> None:
        completion = await completion_for(client, f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}")
        assert completion.text
        edge = await asyncio.to_thread(http_get, f"http://127.0.0.1:{stack.edge_port}/metrics")
        worker = await asyncio.to_thread(
            http_get, f"http://127.0.0.1:{stack.worker_metrics_port}/metrics")
        for stage in ("edge_to_worker", "debounce", "first_chunk", "worker_to_edge", "total"):
            count = metric_value(edge, "completion_first_token_stage_seconds_count"
                                       f'{{stage="{stage}"}}')
            assert count >= 1, stage
        total_s = metric_value(edge, 'completion_first_token_stage_seconds_sum{stage="total"}')
        assert 0 < total_s < 60
        assert metric_value(worker, 'worker_requests_total{source="inferred"}') >= 1
        assert metric_value(edge, "edge_sessions") >= 1


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def metric_value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in metrics")


class TestScaleOut:
    """Several edges and workers: each session's tokens go only to the edge holding its socket,
    and sessions keep being served while partitions move between workers."""

    async def test_two_edges_two_workers(
        self, running_stack: tuple[Supervisor, Settings]
    ) -> None:
        supervisor, stack = running_stack
        edge1 = python_service(stack, "edge-1", "ws_edge", "--index", "1")
        edge1.ports = [stack.edge_port + 1]
        worker2 = python_service(stack, "worker-2", "workers", "--index", "2")
        await asyncio.to_thread(supervisor.start_together, [edge1, worker2], 90)

        async def client_on(edge: int) -> EdgeClient:
            return await open_client(stack, edge=edge)

        async def dropped(edge: int) -> float:
            metrics = await asyncio.to_thread(
                http_get, f"http://127.0.0.1:{stack.edge_port + edge}/metrics")
            return metric_value(metrics, "edge_replies_dropped")

        dropped_before = [await dropped(0), await dropped(1)]
        clients = [await client_on(i % 2) for i in range(6)]
        try:
            completions = await asyncio.gather(*(
                completion_for(c, f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}", uri=f"file:///s{i}.py")
                for i, c in enumerate(clients)))
            for c, completion in zip(clients, completions, strict=True):
                assert completion.text, completion.end
                assert {f.request_id for f in drain(c) if isinstance(f, TokenChunk)} == {
                    completion.request_id}
            assert [await dropped(0), await dropped(1)] == dropped_before, (
                "an edge received replies for sessions it does not hold")
        finally:
            for c in clients:
                await c.close()


class TestWorkerCrash:
    """Kill -9 the worker mid-session: a new one takes over and the session keeps getting
    completions (it asks the edge for the documents it never saw). Runs last: it replaces the
    stack's worker."""

    async def test_session_survives_a_killed_worker(
        self, running_stack: tuple[Supervisor, Settings], client: EdgeClient
    ) -> None:
        supervisor, stack = running_stack
        uri, text = "file:///crash.py", PYTHON_SOURCE
        await client.send(DocOpen(uri, "python", 1, text))
        before = await finished(await client.complete(uri, 1, len(text)))
        assert before.text

        worker = supervisor.procs["worker-0"]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        replacement = python_service(stack, "worker-1", "workers")
        await asyncio.to_thread(supervisor.start, replacement, 90)

        await client.send(DocChange(uri, 2, (TextEdit(len(text), len(text), "m"),)))
        after = await finished(await client.complete(uri, 2, len(text) + 1), timeout_s=30)
        assert after.error is None
        assert after.end is not None and after.end.reason in {"stop", "length"}
        assert after.text.startswith("it)"), after.text
