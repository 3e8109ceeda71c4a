"""Fixtures: one real stack per test session (broker, tritonserver, Redis, ClickHouse engine,
analytics sink, worker, edge), started by the same code as ``make up``, on free ports."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis

from bench.keys import Keyring, provision
from config.settings import Settings
from infra.processes import Supervisor
from infra.stack import forget_instance, private_settings, up
from schemas.socket import TASK_KINDS
from tenants.directory import Tenant, load_directory, new_key, save_directory

#: The test stack re-reads its tenants file this often (ms).
AUTH_RELOAD_MS = 200
KEYRING = Keyring()


def stack_settings(instance: str = "") -> Settings:
    """A private instance: free ports, its own logs and ClickHouse directory, shared binaries."""
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    return private_settings(instance or f"pytest-{os.getpid()}", redis_url).replace(
        sink_batch_ms=200, start_timeout_s=120.0, auth_reload_ms=AUTH_RELOAD_MS,
        hello_timeout_s=2.0, usage_window_ms=2000, usage_grace_ms=500,
        usage_compaction_lag_ms=2000,
        persistence_checkpoints_s="1,2",
        # Tests that need a completion get one (the model answers everything at 0); the
        # threshold itself is tested on the model (test_fim_model, test_fim_triton).
        model_threshold=0.0,
        # The tasks' deadlines are tested on the worker (test_worker_service); here a loaded
        # 2-core machine must not turn a slow route into a failed editor test.
        task_deadlines_ms=",".join(f"{kind}=4500" for kind in TASK_KINDS),
        # The rename rule is off by default (its measured precision is under 0.8): the test
        # stack runs it with the signature rule (on by default), so both are tested end to end.
        next_edit_rules="rename,signature")


def add_key(settings: Settings, tenant: Tenant, user: str, expires_ms: int | None = None,
            role: str = "developer") -> tuple[str, str]:
    """Add a key (and its tenant, replacing its terms) to the running stack's tenants file; wait
    until the edges have re-read it. Returns the key and its key_id."""
    directory = load_directory(settings.tenants_path).with_tenant(tenant)
    key, entry = new_key(tenant.tenant_id, user, role, expires_ms)  # type: ignore[arg-type]
    save_directory(settings.tenants_path, directory.with_key(entry))
    time.sleep(3 * AUTH_RELOAD_MS / 1000)
    return key, entry.key_id


@pytest.fixture(scope="session")
def running_stack() -> Iterator[tuple[Supervisor, Settings]]:
    settings = stack_settings()
    KEYRING.pools = provision(settings, users_per_plan=300, prefix="test").pools
    supervisor, running = up(settings)
    try:
        yield supervisor, running
    finally:
        # Before the stop: the Redis may be the stack's own (it keeps nothing once stopped).
        client = redis.Redis.from_url(running.redis_url)
        try:
            for pattern in ("gen:v1:*", "quota:v1:*", "sk:v1:*"):
                for key in client.scan_iter(match=pattern):
                    client.delete(key)
        finally:
            client.close()
            supervisor.stop_all()
        forget_instance(settings)


@pytest.fixture
def stack(running_stack: tuple[Supervisor, Settings]) -> Settings:
    return running_stack[1]


@pytest.fixture
def redis_url(running_stack: tuple[Supervisor, Settings]) -> str:
    """The test stack's Redis: ``TEST_REDIS_URL`` if that answers, else the stack's own."""
    return running_stack[1].redis_url


@pytest.fixture
def keyring(running_stack: tuple[Supervisor, Settings]) -> Keyring:
    """Unused API keys of the test stack, per plan (tenants ``test-free``, ``test-pro``, ...)."""
    return KEYRING
