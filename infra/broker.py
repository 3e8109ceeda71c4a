"""The embedded broker: Apache Kafka in KRaft mode (one combined broker+controller per node).

``make install`` resolves the broker's jars from Maven Central through ``infra/kafka/pom.xml``
(exact versions; ``mvn -C`` fails on a checksum mismatch) into ``.stack/vendor/kafka/libs``. Each
stack instance keeps its nodes' logs under ``.stack/kafka/<instance>/node-<i>``, formatted once
with the instance's cluster id, and runs them with ``java`` on loopback. One node by default;
``KAFKA_BROKERS=3`` runs three, with topics replicated three times and ``min.insync.replicas=2``.
The count an instance was formatted for is kept beside its nodes (``brokers``): its quorum and
internal topics are made for that count, so another one would never come up.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from config.settings import REPO_ROOT, Settings
from infra.processes import ComponentError

POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
LOG4J = REPO_ROOT / "infra" / "kafka" / "log4j.properties"
#: How often each broker looks for segments past their retention (default 5 minutes).
RETENTION_CHECK_MS = 30_000
#: How long a deleted segment's files stay on disk after deletion is decided (default 60 s).
SEGMENT_DELETE_DELAY_MS = 5_000

def kafka_libs(settings: Settings) -> Path:
    return settings.vendor_dir / "kafka" / "libs"


def instance_dir(settings: Settings) -> Path:
    """Where this instance's brokers keep their logs (records, offsets, metadata)."""
    return settings.stack_home / "kafka" / settings.stack_instance


def formatted_brokers(settings: Settings) -> int | None:
    """How many brokers this instance's data was formatted for; ``None`` before its first start.

    Data formatted before the count was recorded tells it by its formatted nodes."""
    recorded = instance_dir(settings) / "brokers"
    if recorded.exists():
        return int(recorded.read_text())
    nodes = len(list(instance_dir(settings).glob("node-*/data/meta.properties")))
    return nodes or None


def node_dir(settings: Settings, node: int) -> Path:
    return instance_dir(settings) / f"node-{node}"


def node_properties(settings: Settings, node: int) -> str:
    """``server.properties`` of node ``node`` (0-based) of the embedded cluster."""
    count = settings.kafka_brokers
    voters = ",".join(f"{i + 1}@127.0.0.1:{settings.controller_port + i}" for i in range(count))
    replicas = settings.replication
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node + 1),
        "controller.quorum.voters": voters,
        "listeners": (f"PLAINTEXT://127.0.0.1:{settings.broker_port + node},"
                      f"CONTROLLER://127.0.0.1:{settings.controller_port + node}"),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{settings.broker_port + node}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node_dir(settings, node) / "data"),
        "auto.create.topics.enable": "false",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(settings.min_insync_replicas),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(settings.min_insync_replicas),
        # Internal topics sized for one machine: each partition is idle work for the broker.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        # A node killed and started again is fenced until its previous incarnation's session
        # expires (9 s by default): on one machine, 3 s is plenty and recovery is that faster.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "1000",
        "log.retention.check.interval.ms": str(RETENTION_CHECK_MS),
        "log.segment.delete.delay.ms": str(SEGMENT_DELETE_DELAY_MS),
        "num.network.threads": "2",
        "num.io.threads": "2",
        "background.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "num.replica.fetchers": "1",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def cluster_id(settings: Settings) -> str:
    """The instance's KRaft cluster id, made once and kept beside its nodes.

    Never one that starts with ``-`` (1 in 64 base64url ids do): the storage tool would read it
    as an option and refuse to format, as Kafka's own ``Uuid.randomUuid`` avoids too. A stored
    one that does could never have formatted a node, so it is replaced."""
    path = instance_dir(settings) / "cluster.id"
    if path.exists():
        kept = path.read_text().strip()
        if kept and not kept.startswith("-"):
            return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    made = "-"
    while made.startswith("-"):
        made = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    path.write_text(made + "\n")
    return made


def java_argv(settings: Settings, main_class: str, *args: str) -> list[str]:
    java = shutil.which("java") or "java"
    # A small heap on a small machine: the serial collector has no background threads (idle
    # cost) and its pauses at this size are a few ms. The C1 compiler alone (``small``): the
    # optimising one kept compiling for minutes on an idle broker (2-3 % of a core), and pays
    # back only under load (``throughput``).
    compiler = ["-XX:TieredStopAtLevel=1"] if settings.kafka_jvm != "throughput" else []
    return [java, f"-Xmx{settings.kafka_heap_mb}m", "-Xms64m",
            "-XX:+UseSerialGC", *compiler, "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{LOG4J}",
            "-cp", f"{kafka_libs(settings)}/*", main_class, *args]


def prepare_node(settings: Settings, node: int) -> Path:
    """Write node ``node``'s properties and format its storage the first time; return the
    properties file."""
    if shutil.which("java") is None:
        raise ComponentError("broker", "`java` is missing",
                             "install Java 17 with `apt-get install -y openjdk-17-jre-headless`")
    if not any(kafka_libs(settings).glob("kafka_2.13-*.jar")):
        raise ComponentError("broker", f"the broker's jars are not in {kafka_libs(settings)}",
                             "run `make install` (it resolves them from Maven Central)")
    home = node_dir(settings, node)
    home.mkdir(parents=True, exist_ok=True)
    properties = home / "server.properties"
    properties.write_text(node_properties(settings, node))
    if not (home / "data" / "meta.properties").exists():
        result = subprocess.run(
            java_argv(settings, "kafka.tools.StorageTool", "format", "-t", cluster_id(settings),
                      "-c", str(properties), "--ignore-formatted"),
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise ComponentError(
                f"broker-{node}", f"formatting {home / 'data'} failed: "
                f"{(result.stdout + result.stderr).strip()[-600:]}",
                "`make install` re-resolves the broker's jars; remove the folder to start afresh")
        (instance_dir(settings) / "brokers").write_text(f"{settings.kafka_brokers}\n")
    return properties
