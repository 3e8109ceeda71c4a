"""Persistence and authorship measured by the real worker and landed in ClickHouse (the test
stack checks at 1 s and 2 s instead of 30 s ... 10 min)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from analytics.query import run_query
from config.settings import Settings
from schemas.socket import DocChange, DocOpen, Feedback, TextEdit
from tests.conftest import KEYRING
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack


def rows(stack: Settings, sql: str) -> list[list[Any]]:
    found: list[list[Any]] = run_query(stack, sql)["rows"]
    return found


async def test_accepted_code_is_followed_and_authorship_counted(stack: Settings) -> None:
    caller = KEYRING.take("pro")
    uri = "file:///persist.py"
    text = f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}"
    async with connect_edge(stack.edge_url(0), caller.api_key) as ws:
        client = EdgeClient(ws)
        await client.start()
        await client.send(DocOpen(uri, "python", 1, text))
        completion = await client.complete(uri, 1, len(text))
        await asyncio.wait_for(completion.done.wait(), 20)
        suggestion = completion.text
        assert len(suggestion) >= 2, completion.end
        # The editor inserts the suggestion, then says it was accepted.
        at = len(text)
        await client.send(DocChange(uri, 2, (TextEdit(at, at, suggestion),)))
        await client.send(Feedback(uuid.uuid4().hex, completion.request_id, "accepted",
                                   accepted_chars=len(suggestion)))
        # Then the user rewrites its first two characters and types a new line.
        await client.send(DocChange(uri, 3, (TextEdit(at, at + 2, "ZZ"),)))
        end = at + len(suggestion)
        await client.send(DocChange(uri, 4, (TextEdit(end, end, "\n"),)))
        await asyncio.sleep(2.8)  # both checkpoints pass while the session is open
        await client.close()

    where = f"tenant_id = '{caller.tenant_id}' AND user_id = '{caller.user_id}'"
    found: list[list[Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(found) < 2:
        found = await asyncio.to_thread(rows, stack, (
            "SELECT checkpoint_s, accepted_chars, surviving_chars, request_id FROM "
            f"persistence_events FINAL WHERE {where} ORDER BY checkpoint_s"))
        await asyncio.sleep(0.3)
    length = len(suggestion)
    expected_left = length - 2 + sum(1 for c in suggestion[:2] if c == "Z")
    assert [row[:3] for row in found] == [[1, length, expected_left], [2, length, expected_left]]
    assert {row[3] for row in found} == {completion.request_id}

    authorship: list[list[Any]] = []
    while time.monotonic() < deadline and not authorship:
        authorship = await asyncio.to_thread(rows, stack, (
            f"SELECT language_id, typed_chars, completion_chars FROM authorship_events FINAL "
            f"WHERE {where}"))
        await asyncio.sleep(0.3)
    assert authorship == [["python", 2 + 1, length]]  # "ZZ" and the newline were typed
