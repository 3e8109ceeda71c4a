"""Next-edit suggestions through the real stack: a session that opted in renames a parameter,
the worker's suggestion arrives on the socket for that version, the client accepts it, and the
row lands in ClickHouse; a session that did not opt in gets none."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from analytics.query import run_query
from config.settings import Settings
from schemas.socket import DocChange, DocOpen, EditSuggestion, SuggestionFeedback, TextEdit
from tests.conftest import KEYRING
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack

TEXT = '''def mean(cnt, values):
    if cnt == 0:
        return 0.0
    return sum(values) / cnt
'''


async def suggestion_of(client: EdgeClient, timeout_s: float) -> EditSuggestion | None:
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(client.frames.get(), left)
        except TimeoutError:
            return None
        if isinstance(frame, EditSuggestion):
            return frame
    return None


async def renamed_in(stack: Settings, opt_in: bool) -> tuple[EditSuggestion | None, float, Any]:
    caller = KEYRING.take("pro")
    uri = f"file:///next_{uuid.uuid4().hex[:8]}.py"
    async with connect_edge(stack.edge_url(0), caller.api_key) as ws:
        client = EdgeClient(ws)
        await client.start(edit_suggestions=opt_in)
        await client.send(DocOpen(uri, "python", 1, TEXT))
        at = TEXT.index("cnt")
        started = time.perf_counter()
        await client.send(DocChange(uri, 2, (TextEdit(at, at + 3, "count"),)))
        found = await suggestion_of(client, 10.0 if opt_in else 3.0)
        took_ms = (time.perf_counter() - started) * 1000
        if found is not None:
            await client.send(SuggestionFeedback(uuid.uuid4().hex, found.suggestion_id, "shown"))
            await client.send(DocChange(uri, 3, tuple(reversed(found.changes))))
            await client.send(SuggestionFeedback(uuid.uuid4().hex, found.suggestion_id,
                                                 "accepted"))
        await asyncio.sleep(0.3)
        await client.close()
    return found, took_ms, caller


async def test_an_opted_in_session_gets_the_rest_of_a_rename_and_its_feedback_lands(
        stack: Settings) -> None:
    found, took_ms, caller = await renamed_in(stack, opt_in=True)
    assert found is not None, "no edit_suggestion within 10 s"
    assert found.version == 2 and found.rule == "rename", found
    after = TEXT.replace("mean(cnt", "mean(count")
    assert [after[c.start:c.end] for c in found.changes] == ["cnt", "cnt"]
    assert took_ms < 5000, took_ms
    where = f"tenant_id = '{caller.tenant_id}' AND user_id = '{caller.user_id}'"
    kinds: list[list[Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(kinds) < 2:
        kinds = await asyncio.to_thread(lambda: run_query(stack, (
            "SELECT kind, rule, language_id, changes FROM suggestion_events FINAL "
            f"WHERE {where} ORDER BY received_at"))["rows"])
        await asyncio.sleep(0.3)
    assert kinds == [["shown", "rename", "python", 2], ["accepted", "rename", "python", 2]]


async def test_a_session_that_did_not_opt_in_gets_none(stack: Settings) -> None:
    found, _, _ = await renamed_in(stack, opt_in=False)
    assert found is None


async def test_a_removed_parameter_brings_the_calls_side(stack: Settings) -> None:
    """The signature rule through the stack: the parameter taken out of the definition, the
    arguments taken out of its calls, for that version."""
    caller = KEYRING.take("pro")
    uri = f"file:///sig_{uuid.uuid4().hex[:8]}.py"
    text = "def scale(values, factor, offset):\n    return [v * factor for v in values]\n\n" \
           "a = scale([1], 2, 3)\nb = scale([4], 5, 6)\n"
    async with connect_edge(stack.edge_url(0), caller.api_key) as ws:
        client = EdgeClient(ws)
        await client.start(edit_suggestions=True)
        await client.send(DocOpen(uri, "python", 1, text))
        at = text.index(", offset")
        await client.send(DocChange(uri, 2, (TextEdit(at, at + len(", offset"), ""),)))
        found = await suggestion_of(client, 10.0)
        await client.close()
    assert found is not None and found.rule == "signature" and found.version == 2, found
    after = text.replace(", offset", "", 1)
    for change in sorted(found.changes, key=lambda c: c.start, reverse=True):
        after = after[:change.start] + change.text + after[change.end:]
    assert after.endswith("a = scale([1], 2)\nb = scale([4], 5)\n"), after
    assert found.label == "remove the argument from 2 calls of `scale`"
