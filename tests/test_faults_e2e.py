"""Faults survived: each component killed with SIGKILL under load is started again by the
watchdog, completions flow again, no request goes silent, and no event is lost or doubled
against the developers' own ledger of request ids and feedback they sent and ends they received
(the short run of ``bench.faults``, on its own stack instance); the demo client reconnects and
re-opens its document when its edge dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from bench.faults import COMPONENTS, prepare_tables, report, run_faults, wait_settled
from bench.keys import provision
from config.settings import Settings
from infra.processes import Supervisor, free_port
from infra.stack import forget_instance, private_settings, up
from ws_edge.client import replay

pytestmark = pytest.mark.stack


def test_every_component_killed_once_under_load() -> None:
    settings = private_settings(f"pytest-faults-{os.getpid()}",
                                f"redis://127.0.0.1:{free_port()}/0").replace(
        usage_window_ms=2000, usage_grace_ms=500, sink_batch_ms=200, model_threshold=0.0)
    ring = provision(settings, 2, prefix="faults")
    keys = [ring.take("pro").api_key for _ in range(2)]
    prepare_tables(settings)
    supervisor, running = up(settings)
    try:
        faults, log = asyncio.run(run_faults(running, supervisor, keys, list(COMPONENTS)))
        audited = wait_settled(running, log, "faults-pro", 60)
    finally:
        supervisor.stop_all()
        forget_instance(settings)
    print("\n".join(report(faults, log, audited)))
    assert [f.component for f in faults] == list(COMPONENTS)
    assert all(f.back_s is not None for f in faults), "the watchdog started each one again"
    slow = {f.component: f.flowing_s for f in faults if f.flowing_s is None or f.flowing_s > 30}
    assert slow == {}, f"completions did not flow again within 30 s: {slow}"
    silent = [r.request_id for r in log.requests if r.ended_s is None and not r.closed]
    assert silent == [], "every request ends, or its socket closes"
    # Against the developers' own ledger: each request a worker ended has exactly one event
    # (one event id), each feedback sent on a socket that stayed open is there once, and
    # nothing is there that no developer sent.
    assert audited["completion events expected"] > 0 and audited["feedback events expected"] > 0
    assert audited["completion events lost"] == 0
    assert audited["completion events doubled"] == 0
    assert audited["completion events of requests never sent"] == 0
    assert audited["feedback events lost"] == 0
    assert audited["feedback events doubled"] == 0
    assert audited["feedback events never sent"] == 0
    assert audited["completion rows inserted twice"] == 0  # the sink's deduplication
    assert audited["feedback rows inserted twice"] == 0
    assert audited["billing export"] == audited["clickhouse"]


async def test_demo_client_reconnects_when_its_edge_dies(
        running_stack: tuple[Supervisor, Settings], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    supervisor, stack = running_stack
    source = tmp_path / "typed.py"
    source.write_text("def add(a, b):\n    return a + b\n\n\n" * 8)
    from tests.conftest import KEYRING

    typing = asyncio.create_task(replay(stack.edge_url(0), KEYRING.take("pro").api_key, source,
                                        delay_ms=5, max_chars=10_000))
    await asyncio.sleep(1.0)
    os.kill(supervisor.procs["edge-0"].pid, signal.SIGKILL)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(supervisor.relaunch, "edge-0")
    started = time.monotonic()
    assert await asyncio.wait_for(typing, 120) == 0
    out = capsys.readouterr().out
    assert "[connection lost" in out and "reconnection(s)" in out, out[-2000:]
    assert out.count("session ") >= 2, "a second session re-opened the document"
    assert time.monotonic() - started < 120
