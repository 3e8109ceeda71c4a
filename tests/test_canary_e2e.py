"""Canary: secrets typed into documents are found nowhere they could be kept or leak.

Seeded secrets go into documents the three ways an editor sends text (opened with the file,
pasted in one edit, typed key by key); completions are asked for right after each and given
feedback. Then every place the system writes is scanned for every secret: all records of every
topic, every row of every analytics table, every log file, the Redis cache, and every token the
model produced. One hit fails the test.

What the scan cannot see, said plainly: a secret typed key by key crosses the code topic one
character per record, as all typed code does (short retention); it is never whole there.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
import redis.asyncio as aioredis
from aiokafka import TopicPartition

from analytics.query import run_query
from infra.settings import Settings
from schemas.socket import DocChange, DocOpen, Feedback, TextEdit
from streams.kafka import make_consumer
from tests.conftest import KEYRING
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

_RNG = random.Random(4242)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _token(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


#: An identifier that exists only in this test's document: code, not a secret. It may pass
#: through the code topic (short retention); it must never be in ClickHouse or a log.
CODE_MARKER = "connect_" + _token(12, "abcdefghijklmnopqrstuvwxyz")


def canaries() -> dict[str, str]:
    """Secrets (the part that must never show) by how they are written in code."""
    return {
        "aws": "AKIA" + _token(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        "github": "ghp_" + _token(36),
        "stripe": "sk_live_" + _token(24),
        "url_password": _token(14),
        "assigned_password": _token(12),
        "random_token": _token(40),
        "private_key_line": _token(64),
    }


def documents(secrets: dict[str, str]) -> tuple[str, str, str]:
    """The opened text, the pasted text and the typed text."""
    opened = (
        "import boto3\n\n"
        f"AWS_ACCESS_KEY_ID = \"{secrets['aws']}\"\n"
        f"DATABASE_URL = \"postgres://app:{secrets['url_password']}@db.internal:5432/main\"\n"
        "KEY = '''-----BEGIN RSA PRIVATE KEY-----\n"
        f"{secrets['private_key_line']}\n-----END RSA PRIVATE KEY-----'''\n\n\n"
        f"def {CODE_MARKER}(region):\n    return boto3.client(\"s3\", region_name=region)\n\n\n"
    )
    pasted = f"GITHUB_TOKEN = \"{secrets['github']}\"\nSTRIPE = \"{secrets['stripe']}\"\n"
    typed = (f"password = \"{secrets['assigned_password']}\"\n"
             f"session_token = \"{secrets['random_token']}\"\n")
    return opened, pasted, typed


async def topic_bytes(settings: Settings) -> list[bytes]:
    consumer = make_consumer(settings, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p)
                      for topic in (settings.topic_editor_events, settings.topic_replies,
                                    settings.topic_feedback)
                      for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            await consumer.topics()
            partitions = [TopicPartition(topic, p)
                          for topic in (settings.topic_editor_events, settings.topic_replies,
                                        settings.topic_feedback)
                          for p in (consumer.partitions_for_topic(topic) or set())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                values.extend(r.value or b"" for r in records)
        return values
    finally:
        await consumer.stop()


async def test_seeded_secrets_are_found_nowhere(stack: Settings) -> None:
    secrets = canaries()
    opened, pasted, typed = documents(secrets)
    uri = f"file:///canary/{uuid.uuid4().hex[:8]}/settings.py"
    outputs: list[str] = []
    async with connect_edge(stack.edge_url(0), KEYRING.take("pro").api_key) as ws:
        client = EdgeClient(ws)
        await client.start()
        version = 1
        await client.send(DocOpen(uri, "python", version, opened))
        text = opened

        async def complete_and_accept() -> None:
            completion = await client.complete(uri, version, len(text))
            await asyncio.wait_for(completion.done.wait(), 20)
            outputs.append(completion.text)
            await client.send(Feedback(uuid.uuid4().hex, completion.request_id, "accepted",
                                       accepted_chars=len(completion.text), latency_ms=20))

        await complete_and_accept()
        version += 1
        await client.send(DocChange(uri, version, (TextEdit(len(text), len(text), pasted),)))
        text += pasted
        await complete_and_accept()
        for char in typed:
            version += 1
            await client.send(DocChange(uri, version, (TextEdit(len(text), len(text), char),)))
            text += char
            if char == "\n":
                await complete_and_accept()
        await asyncio.sleep(1.5)  # feedback reaches ClickHouse (sink batches every 200 ms)
        await client.close()
    assert len(outputs) == 4 and any(outputs), "completions were produced"

    places: dict[str, list[str]] = {"model output": outputs}
    records = await topic_bytes(stack)
    assert any(uri.encode() in r for r in records), "the scan reads the code topic"
    places["kafka topics"] = [r.decode("utf-8", "replace") for r in records]
    columns = run_query(stack, (
        "SELECT table, groupArray(name) FROM system.columns WHERE database = currentDatabase() "
        "AND type LIKE '%String%' AND type NOT LIKE 'AggregateFunction%' GROUP BY table"))
    places["clickhouse"] = [
        repr(run_query(stack, f"SELECT {', '.join(names)} FROM {table}")["rows"])
        for table, names in columns["rows"]]
    assert len(places["clickhouse"]) >= 3, "every table with text columns is scanned"
    assert any("accepted" in rows for rows in places["clickhouse"]), "feedback rows are there"
    places["logs"] = [p.read_text(errors="replace") for p in stack.log_dir.glob("*.log")]
    cache = aioredis.Redis.from_url(stack.redis_url)
    try:
        places["redis"] = [repr(await cache.get(key)) async for key in cache.scan_iter("*")
                           if await cache.type(key) == b"string"]
    finally:
        await cache.aclose()
    assert places["redis"], "the completion cache is scanned"

    hits = [(kind, place) for kind, secret in secrets.items()
            for place, texts in places.items() if any(secret in t for t in texts)]
    assert hits == [], f"secrets found: {hits}"
    assert any(CODE_MARKER in r for r in places["kafka topics"]), "the marker is findable"
    at_rest = [place for place in ("clickhouse", "logs")
               if any(CODE_MARKER in t for t in places[place])]
    assert at_rest == [], f"code text found in {at_rest}"
