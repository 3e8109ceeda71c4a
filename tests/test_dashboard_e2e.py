"""A scripted day through the real stack (edge, Kafka, worker, Triton, sink) seen on the
analytics process's own dashboard: completions from two editors, their feedback and a task;
the page (real chromium) and the API show what SQL over the same tables says, the editor and
the request's kind recorded from the session."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from typing import Any

import orjson
import pytest

from analytics.query import run_query
from config.settings import Settings
from schemas.socket import DocOpen, Feedback, FeedbackKind
from tenants.directory import Tenant
from tests.browser import chromium, needs_chromium, settled, shot, sign_in, table
from tests.conftest import add_key
from tests.dashboard_server import Board
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack


def sql(stack: Settings, text: str) -> list[list[Any]]:
    found: list[list[Any]] = run_query(stack, text)["rows"]
    return found


async def session(stack: Settings, key: str, editor: str, verdicts: list[FeedbackKind],
                  task: bool) -> None:
    """One editor session: a completion per verdict, that verdict sent after ``shown``; and
    an ``explain`` task, accepted."""
    async with connect_edge(stack.edge_url(0), key) as ws:
        client = EdgeClient(ws)
        await client.start(client=editor)
        for version, verdict in enumerate(verdicts, start=1):
            text = f"# {uuid.uuid4().hex}\n{PYTHON_SOURCE}"
            await client.send(DocOpen("file:///day.py", "python", version, text))
            answer = await client.complete("file:///day.py", version, len(text))
            await asyncio.wait_for(answer.done.wait(), 30)
            if answer.text:
                await client.send(Feedback(uuid.uuid4().hex, answer.request_id, "shown",
                                           latency_ms=20))
                await client.send(Feedback(uuid.uuid4().hex, answer.request_id, verdict,
                                           accepted_chars=1 if verdict == "partial" else None,
                                           latency_ms=20))
        if task:
            text = PYTHON_SOURCE
            await client.send(DocOpen("file:///task.py", "python", 1, text))
            answer = await client.task("explain", "file:///task.py", 1, 0, len(text))
            await asyncio.wait_for(answer.done.wait(), 30)
            await client.send(Feedback(uuid.uuid4().hex, answer.request_id, "accepted",
                                       latency_ms=20))
        await client.close()


def api(stack: Settings, key: str, path: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{stack.dashboard_port}{path}",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return orjson.loads(response.read())


def look(stack: Settings, analyst: str) -> list[list[Any]]:
    """The page as the analyst sees it: every panel settled; the editors' table."""
    with chromium() as browser:
        page = sign_in(browser, Board(stack, f"http://127.0.0.1:{stack.dashboard_port}"),
                       analyst)
        states = settled(page)
        assert states["acceptance_by_editor"] == "ready" and states["tasks"] == "ready"
        assert "error" not in states.values(), states
        shown = sorted([r["editor"], int(r["shown"]), int(r["accepted"]), int(r["not_accepted"])]
                       for r in table(page, "acceptance_by_editor"))
        assert "emacs" not in page.inner_text("#panels")  # the other tenant's editor
        shot(page, "stack-day")
        page.close()
    return shown


@needs_chromium
async def test_a_scripted_day_on_the_stacks_dashboard(stack: Settings) -> None:
    tenant = Tenant(f"dash-{uuid.uuid4().hex[:6]}", "pro")
    t = tenant.tenant_id
    alice, _ = add_key(stack, tenant, "alice")
    bob, _ = add_key(stack, tenant, "bob")
    analyst, _ = add_key(stack, tenant, "ann", role="analyst")
    other, _ = add_key(stack, Tenant(f"dash-{uuid.uuid4().hex[:6]}", "pro"), "olga")
    await session(stack, alice, "vscode", ["accepted", "rejected", "accepted"], task=True)
    await session(stack, bob, "neovim/0.10", ["partial", "dismissed"], task=False)
    await session(stack, other, "emacs", ["accepted"], task=False)

    # Everything has landed once the feedback and request counts stop moving.
    wanted = (f"SELECT (SELECT uniqExact(event_id) FROM feedback_events WHERE tenant_id = '{t}'),"
              f" (SELECT uniqExact(event_id) FROM completion_events WHERE tenant_id = '{t}')")
    deadline, last = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        now = await asyncio.to_thread(sql, stack, wanted)
        if now == last and now[0][1] == 6:
            break
        last = now
        await asyncio.sleep(1.0)
    editors = await asyncio.to_thread(sql, stack, (
        "SELECT editor, uniqExactIf(event_id, kind = 'shown'), "
        "uniqExactIf(event_id, kind IN ('accepted', 'partial')), "
        "uniqExactIf(event_id, kind IN ('rejected', 'dismissed')) FROM feedback_events "
        f"WHERE tenant_id = '{t}' AND request_kind = 'completion' GROUP BY editor ORDER BY editor"))
    assert [row[0] for row in editors] == ["neovim", "vscode"]
    kinds = await asyncio.to_thread(sql, stack, (
        f"SELECT kind, editor, uniqExact(event_id) FROM completion_events WHERE tenant_id = '{t}' "
        "GROUP BY kind, editor ORDER BY kind, editor"))
    assert kinds == [["completion", "neovim", 2], ["completion", "vscode", 3],
                     ["explain", "vscode", 1]]

    panel = await asyncio.to_thread(api, stack, analyst,
                                    "/dashboard/api/panels/acceptance_by_editor")
    assert sorted([r[0], r[1], r[2], r[3]] for r in panel["rows"]) == editors
    tasks = await asyncio.to_thread(api, stack, analyst, "/dashboard/api/panels/tasks")
    assert [dict(zip(tasks["columns"], r, strict=True))["accepted"] for r in tasks["rows"]] == [1]
    metrics = await asyncio.to_thread(api, stack, analyst, f"/orgs/{t}/copilot/metrics")
    assert metrics[-1]["total_active_users"] == 2
    assert {e["name"] for e in metrics[-1]["copilot_ide_code_completions"]["editors"]} == {
        "vscode", "neovim"}

    # Playwright's sync API runs off the event loop.
    shown = await asyncio.to_thread(look, stack, analyst)
    assert shown == editors
