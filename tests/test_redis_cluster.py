"""The services on a real Redis Cluster (``REDIS_CLUSTER=1``): three Debian redis-server nodes
in cluster mode, slots spread by redis-cli, no persistence. Quota counters, session keys, the
completion cache and the operator's commands (reconciliation, erasure) each reach their keys on
whichever node holds them; a client that ignored the cluster would get MOVED errors here."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from analytics.erase import remove_counters
from analytics.reconcile import Drift, redis_counts, repair
from config.settings import Settings
from quota.arithmetic import DAY_MS, day_window, quota_key
from sealing.session_keys import SessionKeys
from streams.redis_client import RedisUnavailable, make_redis, services_redis, sync_redis
from workers.cache import CompletionCache
from workers.quota import QuotaGate

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None
                                or shutil.which("redis-cli") is None,
                                reason="redis-server missing: `make install`")
NODES = 3


def free_ports(count: int) -> list[int]:
    """Ports free with their cluster bus port (+10000) too."""
    found: list[int] = []
    for port in range(21000, 31000, 7):
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("no free ports for a Redis Cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("redis-cluster")
    ports = free_ports(NODES)
    nodes = [subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
         "--cluster-config-file", str(home / f"nodes-{port}.conf"), "--save", "",
         "--appendonly", "no", "--dir", str(home)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        for port in ports:
            wait_for(lambda p=port: cli(p, "ping") == "PONG")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False)
        assert created.returncode == 0, created.stdout + created.stderr
        wait_for(lambda: all("cluster_state:ok" in cli(p, "cluster", "info") for p in ports))
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=10)


def cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True, timeout=10, check=False)
    return done.stdout.strip()


def wait_for(condition: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the Redis Cluster did not come up"
        time.sleep(0.1)


def nodes_holding(url: str, keys: list[str]) -> int:
    client = sync_redis(url, cluster=True)
    try:
        return len({client.get_node_from_key(k).name for k in keys})
    finally:
        client.close()


async def test_quota_counters_on_every_node(cluster: str) -> None:
    client = make_redis(cluster, cluster=True)
    gate = QuotaGate(client)
    now = int(time.time() * 1000)
    users = [f"u{i}" for i in range(24)]
    try:
        for user in users:
            allowed = [(await gate.take("acme", user, 3, now)).allowed for _ in range(5)]
            assert allowed == [True, True, True, False, False], user
        day, _ = day_window(now)
        keys = [quota_key("acme", user, day) for user in users]
        assert nodes_holding(cluster, keys) == NODES, "the counters spread over the nodes"
        assert [int(await client.get(k)) for k in keys] == [3] * len(users)
    finally:
        await client.aclose()


async def test_session_keys_from_the_edge_reach_the_worker(cluster: str) -> None:
    edge_client, worker_client = (make_redis(cluster, cluster=True) for _ in range(2))
    try:
        edge, worker = SessionKeys(edge_client, 60_000), SessionKeys(worker_client, 60_000)
        sessions = [f"s{i}" for i in range(20)]
        ciphers = {s: await edge.create(s) for s in sessions}
        await edge.refresh()
        await worker.fetch(set(sessions))
        for session_id, cipher in ciphers.items():
            sealed = cipher.seal(b"def f(): pass", "editor", session_id)
            known = worker.known(session_id)
            assert known is not None, session_id
            assert known.open(sealed, "editor", session_id) == b"def f(): pass"
        await edge.retire(sessions[0])
        assert 0 < await edge_client.pttl(f"sk:v1:{sessions[0]}") <= 60_000
    finally:
        await asyncio.gather(edge_client.aclose(), worker_client.aclose())


async def test_the_completion_cache(cluster: str) -> None:
    client = make_redis(cluster, cluster=True)
    try:
        cache = CompletionCache(client, 60)
        for i in range(10):
            await cache.put(f"k{i}", [f"chunk{i}"], "stop")
        assert [await cache.get(f"k{i}") for i in range(10)] == [
            ([f"chunk{i}"], "stop") for i in range(10)]
    finally:
        await client.aclose()


def test_the_operators_commands_reach_every_node(cluster: str) -> None:
    settings = Settings(redis_url=cluster, redis_cluster=1)
    client = services_redis(settings)
    now = int(time.time() * 1000)
    day, _ = day_window(now)
    try:
        for i in range(12):
            client.set(quota_key("ops", f"u{i}", day), i + 1, px=DAY_MS)
        client.set(quota_key("ops", "gone", str(int(day) - 1)), 5, px=DAY_MS)
        client.set(quota_key("ops", "gone", day), 2, px=DAY_MS)
        counts = redis_counts(client, int(day), "ops")
        assert counts == {**{("ops", f"u{i}"): i + 1 for i in range(12)}, ("ops", "gone"): 2}
        assert repair(client, int(day), [Drift("ops", "u0", 1, 9)]) == 1
        assert int(client.get(quota_key("ops", "u0", day)) or 0) == 9
        # The erasure's counters: today's and yesterday's, wherever each lives.
        assert remove_counters(settings, "ops", "gone") == 2
        assert redis_counts(client, int(day), "ops").get(("ops", "gone")) is None
    finally:
        client.close()


async def test_a_cluster_out_of_reach_is_redis_being_away() -> None:
    """No node answers: the quota gate falls back to its local allowance (as with one Redis
    away), the operator's commands say which Redis they could not reach."""
    port = free_ports(1)[0]
    client = make_redis(f"redis://127.0.0.1:{port}/0", cluster=True)
    try:
        decision = await QuotaGate(client).take("acme", "u", 3, int(time.time() * 1000))
        assert decision.allowed and decision.degraded
    finally:
        await client.aclose()
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{port}"):
        services_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0", redis_cluster=1))
