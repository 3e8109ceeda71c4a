"""Canary: secrets typed into documents are found nowhere they could be kept or leak.

Seeded secrets go into documents the three ways an editor sends text (opened with the file,
pasted in one edit, typed key by key); completions are asked for right after each and given
feedback. Then every place the system writes is scanned for every secret: all records of every
topic, every file the broker keeps on disk, every row of every analytics table, every log file,
the Redis cache, and every token the model produced. One hit fails the test. Code itself (a marker
identifier) must not be readable at rest either: the code topics are sealed with per-session keys,
so neither the records nor the broker's files show it. The negative control runs an edge with
``CODE_ENCRYPTION=0`` on the same broker: its marker is found on disk, so the scan can see.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
import redis.asyncio as aioredis

from analytics.query import run_query
from config.settings import Settings
from infra.broker import instance_dir
from infra.processes import Supervisor
from infra.stack import python_service
from schemas.socket import DocChange, DocOpen, Feedback, TextEdit
from streams.kafka import read_all, topic_specs
from tests.conftest import KEYRING
from tests.test_stack_e2e import http_get
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

_RNG = random.Random(4242)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _token(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


#: An identifier that exists only in this test's document: code, not a secret. It passes through
#: the code topic sealed; it must never be readable in Kafka, on disk, in ClickHouse or a log.
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


async def topic_records(settings: Settings) -> dict[str, list[bytes]]:
    """Every record value of every topic of the stack, by topic."""
    found: dict[str, list[bytes]] = {spec.name: [] for spec in topic_specs(settings)}
    for record in await read_all(settings, list(found)):
        found[record.topic].append(record.value or b"")
    return found


def broker_files(settings: Settings) -> list[bytes]:
    """The contents of every file the embedded brokers keep (segments, indexes, checkpoints)."""
    return [path.read_bytes() for path in sorted(instance_dir(settings).rglob("*"))
            if path.is_file()]


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
    by_topic = await topic_records(stack)
    assert len(by_topic) == 6 and by_topic[stack.topic_editor_events], "every topic is read"
    assert by_topic[stack.topic_replies] and by_topic[stack.topic_feedback]
    places["kafka topics"] = [r.decode("utf-8", "replace") for rs in by_topic.values() for r in rs]
    places["broker disk"] = [b.decode("utf-8", "replace") for b in broker_files(stack)]
    assert any(uri.encode() in b for b in broker_files(stack)) is False, "sealed on disk"
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
    at_rest = [place for place in ("kafka topics", "broker disk", "clickhouse", "logs")
               if any(CODE_MARKER in t for t in places[place])]
    assert at_rest == [], f"code text found in {at_rest}"


async def test_negative_control_an_edge_without_encryption_leaves_code_on_disk(
        running_stack: tuple[Supervisor, Settings]) -> None:
    """The same scan finds the marker when an edge does not seal (``CODE_ENCRYPTION=0``); the
    workers, which expect sealed records, refuse its events instead of reading them. (Its
    requests would go unanswered: run an edge without encryption only with workers without.)"""
    supervisor, stack = running_stack
    plain = stack.replace(code_encryption=0)
    spec = python_service(plain, "edge-plain", "ws_edge", "--index", "1")
    spec.ports = [plain.edge_port + 1]
    await asyncio.to_thread(supervisor.start, spec, 60)
    marker = "plaintext_" + uuid.uuid4().hex
    try:
        async with connect_edge(plain.edge_url(1), KEYRING.take("pro").api_key) as ws:
            client = EdgeClient(ws)
            await client.start()
            await client.send(DocOpen(f"file:///canary/{marker}.py", "python", 1,
                                      f"def {marker}():\n    return 1\n"))
            await asyncio.sleep(1.0)
            await client.close()
        by_topic = await topic_records(stack)
        assert any(marker.encode() in r for r in by_topic[stack.topic_editor_events])
        assert any(marker.encode() in b for b in broker_files(stack))
        metrics = await asyncio.to_thread(
            http_get, f"http://127.0.0.1:{stack.worker_metrics_port}/metrics")
        unreadable = next(line for line in metrics.splitlines()
                          if line.startswith("worker_unreadable_records "))
        assert float(unreadable.split()[1]) >= 1, "the worker refused the plain events"
    finally:
        proc = supervisor.procs.pop("edge-plain")
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        (stack.run_dir / "edge-plain.pid").unlink(missing_ok=True)
