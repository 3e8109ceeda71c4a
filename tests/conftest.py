"""Fixtures: one real stack per test session (broker, tritonserver, Redis, ClickHouse engine,
analytics sink, worker, edge), started by the same code as ``make up``, on free ports."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import redis

from infra.processes import Supervisor
from infra.settings import Settings
from infra.stack import private_settings, up


def stack_settings() -> Settings:
    """A private instance: free ports, its own logs and ClickHouse directory, shared binaries."""
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    return private_settings(f"pytest-{os.getpid()}", redis_url).replace(
        sink_batch_ms=200, start_timeout_s=120.0)


@pytest.fixture(scope="session")
def running_stack() -> Iterator[tuple[Supervisor, Settings]]:
    settings = stack_settings()
    supervisor, running = up(settings)
    try:
        yield supervisor, running
    finally:
        supervisor.stop_all()
        client = redis.Redis.from_url(running.redis_url)
        for pattern in ("gen:v1:*", "quota:v1:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
        client.close()
        shutil.rmtree(settings.stack_home / "clickhouse" / settings.stack_instance,
                      ignore_errors=True)


@pytest.fixture
def stack(running_stack: tuple[Supervisor, Settings]) -> Settings:
    return running_stack[1]
