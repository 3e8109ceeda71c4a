"""The dashboard over a store of its own, for the tests that need a known history: the same
aiohttp app and scoped query path the analytics process serves, on a real chDB engine, in a
thread of the test process (the running stack's store is the analytics process's alone)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clickhouse_connect
from aiohttp import web

from analytics.dashboard import dashboard_app
from analytics.schema import create_tables
from analytics.sink import AnalyticsSink
from bench.history import Spec, write
from config.settings import Settings
from infra.processes import free_port
from tenants.directory import Directory, Tenant, new_key, save_directory

REAL_VENDOR = Settings.from_env().vendor_dir


@dataclass
class Board:
    settings: Settings
    url: str
    keys: dict[str, str] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)

    def client(self) -> Any:
        return clickhouse_connect.get_client(dsn=self.settings.clickhouse_dsn)


def board_settings(home: Path) -> Settings:
    """A store under ``home``, the real Chart.js (linked in), a tenants file with keys."""
    (home / "vendor").mkdir(parents=True, exist_ok=True)
    link = home / "vendor" / "dashboard"
    if not link.exists():
        os.symlink(REAL_VENDOR / "dashboard", link)
    return Settings.from_env().replace(stack_home=home, stack_instance="board",
                                       tenants_file=str(home / "tenants.json"))


def provision_keys(settings: Settings, now_ms: int) -> dict[str, str]:
    """Keys by name: analysts of acme and globex, an operator, a developer, an expired and a
    revoked analyst."""
    directory = Directory().with_tenant(Tenant("acme", "free")).with_tenant(
        Tenant("globex", "pro")).with_tenant(Tenant("initech", "enterprise", daily_completions=50))
    keys: dict[str, str] = {}
    for name, tenant, role, expires in (
            ("acme", "acme", "analyst", None), ("globex", "globex", "analyst", None),
            ("operator", "acme", "operator", None), ("developer", "acme", "developer", None),
            ("expired", "acme", "analyst", now_ms - 1000), ("revoked", "acme", "analyst", None)):
        key, entry = new_key(tenant, f"{name}-person", role, expires)  # type: ignore[arg-type]
        directory = directory.with_key(entry)
        if name == "revoked":
            directory = directory.revoked(entry.key_id)
        keys[name] = key
    save_directory(settings.tenants_path, directory)
    return keys


@contextmanager
def serve_board(home: Path, spec: Spec | None, now_ms: int) -> Iterator[Board]:
    """Tables (filled with ``spec``'s history) and the dashboard on a free loopback port."""
    settings = board_settings(home)
    settings = settings.replace(dashboard_port=free_port(1, set()))
    client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn)
    create_tables(client)
    written = write(client, spec) if spec is not None else {}
    client.close()
    board = Board(settings, f"http://127.0.0.1:{settings.dashboard_port}",
                  provision_keys(settings, now_ms), written)
    # Only its reads are used (no writer client).
    sink = AnalyticsSink(settings, None)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner: list[web.AppRunner] = []

    async def start() -> None:
        app_runner = web.AppRunner(dashboard_app(settings, sink.read), access_log=None)
        await app_runner.setup()
        await web.TCPSite(app_runner, "127.0.0.1", settings.dashboard_port).start()
        runner.append(app_runner)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="board", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("the dashboard did not start")
    try:
        yield board
    finally:
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        sink.reads.shutdown(wait=True)
        sink.close_readers()
        sink.db.shutdown()
