"""The whole backend on one machine: broker, Triton, Redis, ClickHouse engine, edges, workers, sink.

``python -m infra up`` starts everything in order, each with a health wait, prints how to connect,
and stops everything on Ctrl-C (or ``python -m infra down`` from another shell). External
components named in the settings (KAFKA_BOOTSTRAP, TRITON_URL, a reachable REDIS_URL,
CLICKHOUSE_URL) are used instead of starting embedded ones.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import redis

from config.settings import REPO_ROOT, Settings
from infra.broker import formatted_brokers, instance_dir, java_argv, prepare_node
from infra.install import oxlint_path, triton_root
from infra.processes import ComponentError, ProcessSpec, Supervisor, free_port
from streams.kafka import TopicConfigError, ensure_topics, wait_for_broker
from tenants.directory import (
    Directory,
    DirectoryError,
    Tenant,
    load_directory,
    new_key,
    save_directory,
)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


def _tcp_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def redis_reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def broker_spec(settings: Settings, node: int) -> ProcessSpec:
    """Node ``node`` of the embedded Kafka cluster (formatted on its first start)."""
    properties = prepare_node(settings, node)
    port = settings.broker_port + node
    return ProcessSpec(
        name="broker" if settings.kafka_brokers == 1 else f"broker-{node}",
        argv=java_argv(settings, "kafka.Kafka", str(properties)),
        env=dict(os.environ),
        ports=[port, settings.controller_port + node],
        ready=lambda: _tcp_open(port),
        install_hint="run `make install` (it resolves the broker's jars with Maven)",
    )


def triton_spec(settings: Settings) -> ProcessSpec:
    root = triton_root(settings)
    env = dict(os.environ)
    # The python backend's stub must load the libpython matching this interpreter, and runs the
    # python3 that comes first on PATH: ours, with numpy and the model's imports.
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    # The task routes' models run our static engines (tasks/): the repository must be importable.
    env["PYTHONPATH"] = ":".join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if oxlint_path(settings).exists():
        env.setdefault("OXLINT_BIN", str(oxlint_path(settings)))
    # One core per model instance (NumPy would otherwise start a BLAS thread per core and the
    # instances would fight over them); more throughput is more instances or more servers.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    http = f"http://127.0.0.1:{settings.triton_http_port}"
    return ProcessSpec(
        name="triton",
        argv=[str(root / "bin" / "tritonserver"),
              f"--model-repository={settings.triton_model_repository}",
              f"--backend-directory={root / 'backends'}",
              "--http-address=127.0.0.1", f"--http-port={settings.triton_http_port}",
              "--grpc-address=127.0.0.1", f"--grpc-port={settings.triton_grpc_port}",
              "--metrics-address=127.0.0.1", f"--metrics-port={settings.triton_metrics_port}",
              "--allow-gpu-metrics=false", "--exit-on-error=true", "--strict-readiness=true"],
        env=env,
        ports=[settings.triton_http_port, settings.triton_grpc_port, settings.triton_metrics_port],
        ready=lambda: _http_ok(f"{http}/v2/models/{settings.triton_model}/ready"),
        cause="failed to load '",
    )


def redis_spec(settings: Settings) -> ProcessSpec:
    return ProcessSpec(
        name="redis",
        argv=["redis-server", "--bind", "127.0.0.1", "--port", str(settings.redis_port),
              "--save", "", "--appendonly", "no", "--daemonize", "no"],
        env=dict(os.environ),
        ports=[settings.redis_port],
        ready=lambda: redis_reachable(f"redis://127.0.0.1:{settings.redis_port}/0"),
        install_hint="run `apt-get install -y redis-server` (or `make install`)",
    )


def python_service(settings: Settings, name: str, module: str, *args: str) -> ProcessSpec:
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(REPO_ROOT)}
    return ProcessSpec(name=name, argv=[sys.executable, "-m", module, *args], env=env,
                       cwd=REPO_ROOT)


def check_broker_count(settings: Settings) -> None:
    """Refuse a broker count other than the one this instance's data was formatted for: such a
    cluster waits forever for voters and replicas that do not run (a timeout says nothing)."""
    formatted, wanted = formatted_brokers(settings), settings.kafka_brokers
    if formatted is None or formatted == wanted:
        return
    data, brokers = instance_dir(settings), "broker" if formatted == 1 else "brokers"
    raise ComponentError(
        "broker", f"instance '{settings.stack_instance}' was formatted for {formatted} {brokers} "
        f"(its quorum and internal topics need them all) and KAFKA_BROKERS={wanted} asks for "
        f"{wanted}: it would never come up",
        f"run it with KAFKA_BROKERS={formatted} again, or use another instance "
        f"(STACK_INSTANCE=<name>) for {wanted}; only to start this one afresh with {wanted}, "
        f"stop it and remove {data} (or `make clean`, which removes every instance): that loses "
        "its topics and their records")


#: Where Triton's python backend keeps each stub's shared memory region: removed by Triton when it
#: stops, left behind (in RAM) when it is killed.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - the python backend's fixed place
TRITON_REGIONS = "triton_python_backend_shm_region_*"


def _in_use() -> set[str]:
    """The files of /dev/shm any process we can see maps or holds open."""
    used: set[str] = set()
    for process in Path("/proc").glob("[0-9]*"):
        try:
            for line in (process / "maps").read_text().splitlines():
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(str(SHARED_MEMORY)):
                    used.add(fields[5].removesuffix(" (deleted)"))
            for descriptor in (process / "fd").iterdir():
                target = os.readlink(descriptor)
                if target.startswith(str(SHARED_MEMORY)):
                    used.add(target)
        except OSError:
            continue  # gone, or not ours to read
    return used


def remove_stale_triton_regions(min_age_s: float = 60.0) -> int:
    """Remove the python backend's regions that killed Triton processes left (ours, older than
    ``min_age_s``, mapped and held open by no process): each holds RAM until removed."""
    removed = 0
    now = time.time()
    used = _in_use()
    for region in SHARED_MEMORY.glob(TRITON_REGIONS):
        try:
            info = region.lstat()
        except OSError:
            continue
        if (info.st_uid == os.getuid() and now - info.st_mtime > min_age_s
                and str(region) not in used):
            region.unlink(missing_ok=True)
            removed += 1
    return removed


def start_infrastructure(settings: Settings, supervisor: Supervisor) -> Settings:
    """Start what is not external; return settings that point at what is running."""
    timeout = settings.start_timeout_s
    if settings.embedded_broker:
        check_broker_count(settings)
        # The nodes of a cluster elect their controller together: start them at once.
        supervisor.start_together(
            [broker_spec(settings, node) for node in range(settings.kafka_brokers)], timeout)
    try:
        asyncio.run(wait_for_broker(settings, timeout))
    except TimeoutError as error:
        fix = ("read the broker's log in " + str(settings.log_dir) if settings.embedded_broker
               else "check KAFKA_BOOTSTRAP")
        raise ComponentError("broker", str(error), fix) from None
    try:
        asyncio.run(ensure_topics(settings))
    except TopicConfigError as error:
        raise ComponentError("broker", str(error),
                             "fix the topic's retention, or use other TOPIC_* names") from None
    except Exception as error:  # noqa: BLE001 - report any admin failure with the component
        raise ComponentError("broker", f"creating topics failed: {error!r}",
                             "check the broker's log and its ACLs") from None
    if settings.embedded_triton:
        remove_stale_triton_regions()
        supervisor.start(triton_spec(settings), timeout)
    if not redis_reachable(settings.redis_url):
        if settings.redis_cluster:
            raise ComponentError("redis", f"the Redis Cluster at REDIS_URL={settings.redis_url} "
                                 "does not answer, and the embedded Redis is one node",
                                 "start the cluster (or name a node that answers), or set "
                                 "REDIS_CLUSTER=0 for the embedded Redis")
        supervisor.start(redis_spec(settings), timeout)
        settings = settings.replace(redis_url=f"redis://127.0.0.1:{settings.redis_port}/0")
    return settings


def start_services(settings: Settings, supervisor: Supervisor) -> None:
    """Analytics, the usage stream, workers and edges start together: each joins its consumer
    group meanwhile."""
    analytics = python_service(settings, "analytics", "analytics")
    analytics.ports = [settings.analytics_port, settings.dashboard_port]
    specs = [analytics, python_service(settings, "usage", "analytics.usage")]
    for index in range(settings.worker_count):
        spec = python_service(settings, f"worker-{index}", "workers", "--index", str(index))
        spec.ports = [settings.worker_metrics_port + index]
        specs.append(spec)
    for index in range(settings.edge_count):
        spec = python_service(settings, f"edge-{index}", "ws_edge", "--index", str(index))
        metrics = settings.edge_metrics_listen_port(index)
        spec.ports = [settings.edge_listen_port(index), *([] if metrics is None else [metrics])]
        specs.append(spec)
    supervisor.start_together(specs, settings.start_timeout_s)


def private_settings(instance: str, redis_url: str | None = None) -> Settings:
    """Settings from the environment for a private instance on free loopback ports (tests, bench)."""
    settings = Settings.from_env()
    taken: set[int] = set()

    def pick(block: int = 1) -> int:
        """Distinct ports: each is free when chosen, and none is chosen twice (a collision
        failed a private stack's start now and then: Kafka bound the port Triton was given)."""
        first = free_port(block, taken)
        taken.update(range(first, first + block))
        return first

    return settings.replace(
        stack_instance=instance,
        broker_port=pick(3), controller_port=pick(3),
        triton_grpc_port=pick(), triton_http_port=pick(),
        # Blocks: tests and benchmarks add edges and workers at ``port + index``.
        triton_metrics_port=pick(), edge_port=pick(4), analytics_port=pick(),
        dashboard_port=pick(),
        worker_metrics_port=pick(4),
        redis_port=pick(), redis_url=redis_url or settings.redis_url,
    )


def forget_instance(settings: Settings) -> None:
    """Delete a stopped instance's data: its ClickHouse directory, its brokers' logs and its
    tenants file (tests and benchmarks start from nothing and leave nothing)."""
    shutil.rmtree(settings.stack_home / "clickhouse" / settings.stack_instance, ignore_errors=True)
    shutil.rmtree(instance_dir(settings), ignore_errors=True)
    settings.tenants_path.unlink(missing_ok=True)


def ensure_tenants(settings: Settings) -> None:
    """A first ``up`` gets a local tenant and a developer key (saved for the demo client, 0600);
    an existing tenants file is only validated, so a bad edit fails here, by name."""
    path = settings.tenants_path
    if not path.exists() and not settings.tenants_file:
        key, entry = new_key("local", "developer")
        directory = Directory().with_tenant(Tenant("local", "enterprise")).with_key(entry)
        save_directory(path, directory)
        dev_key = path.with_suffix(".dev-key")
        dev_key.write_text(key + "\n")
        dev_key.chmod(0o600)
    try:
        load_directory(path)
    except DirectoryError as error:
        raise ComponentError("tenants", str(error),
                             "fix the file (SECURITY.md: tenants and API keys) or point TENANTS_FILE "
                             "at a valid one") from None


def up(settings: Settings) -> tuple[Supervisor, Settings]:
    """Start the whole stack; on any failure stop what was started and re-raise.

    Returns the supervisor and the settings the services run with (for example, with REDIS_URL
    pointing at the embedded redis-server when the configured one did not answer).
    """
    supervisor = Supervisor(settings.run_dir, settings.log_dir)
    already = supervisor.running_pids()
    if already:
        names = ", ".join(f"{n} (pid {p})" for n, p in sorted(already.items()))
        raise ComponentError(
            "stack", f"instance '{settings.stack_instance}' is already running: {names}",
            "use it as it is, or stop it first with `make down`",
        )
    ensure_tenants(settings)
    try:
        settings = start_infrastructure(settings, supervisor)
        start_services(settings, supervisor)
    except BaseException:
        supervisor.stop_all()
        raise
    return supervisor, settings
