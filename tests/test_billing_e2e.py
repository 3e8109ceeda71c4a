"""The usage stream for billing: windows counted exactly once across a kill -9 of the usage
process, and a monthly export whose totals equal ClickHouse's."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from analytics.billing import clickhouse_totals
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import python_service
from schemas.socket import DocOpen, Feedback
from tenants.directory import Tenant
from tests.conftest import add_key
from tests.test_stack_e2e import PYTHON_SOURCE
from ws_edge.client import EdgeClient, connect_edge

pytestmark = pytest.mark.stack


async def traffic(stack: Settings, key: str, kinds: list[str]) -> None:
    """One completion per feedback kind, each followed by that feedback."""
    async with connect_edge(stack.edge_url(0), key) as ws:
        client = EdgeClient(ws)
        await client.start()
        for version, kind in enumerate(kinds, start=1):
            text = f"# run {uuid.uuid4().hex[:12]}\n{PYTHON_SOURCE}"
            await client.send(DocOpen("file:///b.py", "python", version, text))
            completion = await client.complete("file:///b.py", version, len(text))
            await asyncio.wait_for(completion.done.wait(), 20)
            await client.send(Feedback(uuid.uuid4().hex, completion.request_id, kind,  # type: ignore[arg-type]
                                       accepted_chars=3 if kind == "partial" else None))
        await client.close()


def export(stack: Settings, tenant: str, month: str, form: str) -> str:
    result = subprocess.run([sys.executable, "-m", "analytics.billing", "--tenant", tenant,
                             "--month", month, "--format", form],
                            env={**os.environ, **stack.to_env()}, capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_export_equals_clickhouse_across_a_killed_usage_process(
    running_stack: tuple[Supervisor, Settings],
) -> None:
    supervisor, stack = running_stack
    tenant = Tenant(f"bill-{uuid.uuid4().hex[:6]}", "free")
    ann, _ = add_key(stack, tenant, "ann")
    ben, _ = add_key(stack, tenant, "ben")
    month = datetime.now(UTC).strftime("%Y-%m")
    await traffic(stack, ann, ["shown", "accepted", "rejected"])
    await asyncio.sleep(1.0)

    usage = supervisor.procs["usage"]
    usage.send_signal(signal.SIGKILL)
    usage.wait(timeout=10)
    await traffic(stack, ben, ["shown", "partial", "accepted", "dismissed"])
    await asyncio.to_thread(supervisor.start, python_service(stack, "usage", "analytics.usage"), 90)
    await traffic(stack, ann, ["accepted"])

    expected: dict[str, int] = {}
    exported: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        expected = await asyncio.to_thread(clickhouse_totals, stack, tenant.tenant_id, month)
        report = orjson.loads(await asyncio.to_thread(export, stack, tenant.tenant_id, month,
                                                      "json"))
        exported = report["totals"]
        if expected["requests"] == 8 and expected["shown"] + expected["accepted"] + expected[
                "rejected"] == 8 and exported == expected:
            break
        await asyncio.sleep(1)
    assert expected == {"completions": 8, "requests": 8, "shown": 2, "accepted": 4,
                        "rejected": 2}
    assert exported == expected
    users = {row["user_id"]: row for row in report["users"]}
    assert users["ann"]["accepted"] == 2 and users["ben"]["accepted"] == 2

    rows = list(csv.DictReader(io.StringIO(
        await asyncio.to_thread(export, stack, tenant.tenant_id, month, "csv"))))
    assert sorted(r["user_id"] for r in rows) == ["ann", "ben"]
    assert sum(int(r["completions"]) for r in rows) == expected["completions"]
