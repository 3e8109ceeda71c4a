"""One typed settings object for every process, read from the environment once, in ``__main__``.

Defaults describe the embedded single-machine stack. Pointing a setting at a real Kafka cluster,
Triton fleet, Redis or ClickHouse server is a change of environment, never of code.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import AssistantError

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(AssistantError, ValueError):
    """A setting has a value we cannot use; the message names the variable and the value."""


#: Durations for which 0 means "none" (no linger, no pacing) rather than a mistake.
MAY_BE_ZERO = frozenset({"kafka_linger_ms", "reply_interval_ms"})


@dataclass(frozen=True)
class Settings:
    """Every knob of the stack. Field ``x_y`` is read from environment variable ``X_Y``."""

    #: Where installed binaries, logs, pid files and embedded data live.
    stack_home: Path = REPO_ROOT / ".stack"
    #: Name of this stack instance: logs, pid files and embedded data are kept per instance, so a
    #: test run's stack never touches a developer's running one.
    stack_instance: str = "default"
    #: Kafka bootstrap servers. Empty means: start the embedded Apache Kafka (KRaft) with
    #: ``kafka_brokers`` nodes; node ``i`` listens on ``broker_port + i`` (clients) and
    #: ``controller_port + i`` (its KRaft controller).
    kafka_bootstrap: str = ""
    broker_port: int = 19092
    controller_port: int = 19192
    #: 1 (default) or 3: three brokers, topics replicated 3 times, ``min.insync.replicas=2``.
    kafka_brokers: int = 1
    #: Replication factor of the topics we create; 0 means min(3, number of embedded brokers)
    #: (set it for an external cluster).
    kafka_replication: int = 0
    #: Heap of each embedded broker's JVM.
    kafka_heap_mb: int = 512
    #: The embedded broker's JVM: ``small`` (serial collector, C1 compiler only: least idle
    #: work) or ``throughput`` (the optimising compiler too: less CPU per record under load).
    kafka_jvm: str = "small"
    #: How long producers wait for more records to send together (0: at once).
    kafka_linger_ms: int = 0
    #: How long a consumer's fetch waits at the broker for data (it returns as soon as any
    #: arrives, so this is idle cost, not latency).
    kafka_fetch_wait_ms: int = 500
    #: The analytics sink's and usage stream's fetches wait at the broker until this many bytes
    #: (or ``kafka_fetch_wait_ms``): fewer, larger fetches where latency does not matter.
    kafka_batch_fetch_bytes: int = 65536
    #: Encrypt code-bearing records (editor events, replies) with per-session keys that live
    #: only in Redis (with a TTL): 1 on, 0 off (only for the canary's negative control).
    code_encryption: int = 1
    #: Triton gRPC endpoint (host:port). Empty means: start the embedded tritonserver.
    triton_url: str = ""
    triton_grpc_port: int = 18001
    triton_http_port: int = 18000
    triton_metrics_port: int = 18002
    triton_model: str = "code_fim"
    #: Confidence under which the model shows nothing (0 to 1; ``code_fim``'s THRESHOLD input).
    #: Negative: the model's own default (``CONFIDENCE_THRESHOLD`` in its config.pbtxt).
    model_threshold: float = -1.0
    #: How the completion model is spoken to: ``items`` (our models' PREFIX/SUFFIX/LANGUAGE
    #: tensors), or a FIM-capable code LLM behind Triton's ``vllm`` backend or TensorRT-LLM's
    #: ``trtllm`` ensemble, prompted in its family's format ``fim_template`` (starcoder, qwen,
    #: codellama, deepseek).
    triton_model_interface: str = "items"
    fim_template: str = "starcoder"
    #: The next-edit rules the workers run for sessions that opt in (docs/NEXT_EDITS.md):
    #: ``default`` (those whose measured precision reaches 0.8), ``none``, or rule names,
    #: comma-separated (``rename,signature``).
    next_edit_rules: str = "default"
    #: An open next-edit model in Zed's Zeta prompt format behind Triton's vLLM backend or
    #: TensorRT-LLM's ensemble, ``<interface>:<model>`` (``vllm:zeta``); empty: none (the rules
    #: alone). Asked when the rules propose nothing, within its own deadline.
    next_edit_model: str = ""
    next_edit_deadline_ms: int = 1500
    next_edit_max_tokens: int = 600
    #: The completion route's network when code_fim's config.pbtxt names none (its NETWORK):
    #: empty (code_fim's float16 GGUF on llama.cpp), ``code_fim.q8_0.gguf``, or the absolute
    #: path of any GGUF code model (docs/MODEL.md). Read by the
    #: model in tritonserver; the embedded stack's workers add the file to the model's revision.
    completion_model: str = ""
    #: A brought GGUF model's prompt form when its file names no FIM tokens, ``{prefix}`` before
    #: ``{suffix}`` (e.g. ``<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>``).
    completion_fim_template: str = ""
    #: The served model's revision, part of every cached generation's key (a new revision never
    #: serves an old answer). Empty: derived at start from the model's files (embedded Triton)
    #: or from the configuration and versions Triton reports.
    model_revision: str = ""
    #: The model repository the embedded tritonserver serves.
    triton_model_repository: Path = REPO_ROOT / "model" / "repository"
    #: Redis URL. If it does not answer, the embedded stack starts Debian's redis-server on
    #: ``redis_port``.
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_port: int = 16379
    #: 1: ``REDIS_URL`` names a node of a Redis Cluster (the client follows its slots); 0: one
    #: Redis.
    redis_cluster: int = 0
    #: ClickHouse DSN. Empty means the embedded chDB engine under ``stack_home/clickhouse``.
    clickhouse_url: str = ""
    #: Worker ``i`` serves Prometheus metrics on loopback port ``WORKER_METRICS_PORT + i``.
    worker_metrics_port: int = 18200
    #: Loopback port of the analytics process's read-only SQL endpoint (embedded setup).
    analytics_port: int = 18124
    #: The dashboard and metrics API (``analytics.dashboard``), served by the analytics
    #: process; every request needs an analyst's or operator's key. Loopback by default: set
    #: ``DASHBOARD_HOST=0.0.0.0`` (with TLS below) to reach it from other machines.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 18125
    #: TLS for the dashboard (https): PEM certificate chain and private key. Both or neither.
    dashboard_tls_cert: str = ""
    dashboard_tls_key: str = ""
    #: WebSocket edge.
    edge_host: str = "127.0.0.1"
    edge_port: int = 8765
    #: 1: edge ``i`` listens on ``EDGE_PORT + i`` (several edges on one machine); 0: every edge
    #: on ``EDGE_PORT`` (one edge per container, as the Helm chart runs them).
    edge_port_per_index: int = 1
    #: Where workers serve ``/metrics`` (loopback; ``0.0.0.0`` in a container, for Prometheus
    #: and the kubelet's probes).
    metrics_host: str = "127.0.0.1"
    #: 0: each edge answers ``/metrics`` on its client port (one machine, loopback); else on
    #: ``METRICS_HOST:EDGE_METRICS_PORT`` (+ its index, as ``EDGE_PORT_PER_INDEX``) and never
    #: on the port clients reach, which a network policy cannot split by path.
    edge_metrics_port: int = 0
    #: TLS for the edge (wss): PEM certificate chain and private key. Both or neither.
    edge_tls_cert: str = ""
    edge_tls_key: str = ""
    #: Tenants, users, plans and hashed API keys (``tenants.directory``). Empty means
    #: ``STACK_HOME/tenants/STACK_INSTANCE.json``, created with a local tenant on first ``up``.
    tenants_file: str = ""
    #: The operator's secret for erasure audit records (``analytics.erase``). Empty means
    #: ``STACK_HOME/erasure.secret``, made on first use.
    erasure_secret_file: str = ""
    #: How often edges re-read the tenants file (a revoked key closes its sessions this fast).
    auth_reload_ms: int = 1000
    #: Client frames per second per user, all its sessions on one edge together (the name is
    #: older than that); the tenant's own rate applies on top.
    session_messages_per_second: int = 200
    #: Bytes of client frames per second per user on one edge (the burst holds two frames of
    #: ``max_frame_bytes``).
    user_bytes_per_second: int = 2 * 1024 * 1024
    #: A socket must send hello this soon after connecting, and is closed after this long idle.
    hello_timeout_s: float = 10.0
    session_idle_timeout_s: float = 1800.0
    #: Number of edge processes; edge ``i`` listens on ``edge_port + i`` and owns reply partition ``i``.
    edge_count: int = 1
    worker_count: int = 1
    #: Topics.
    topic_editor_events: str = "editor-events"
    topic_replies: str = "completion-replies"
    topic_feedback: str = "feedback-events"
    topic_completions: str = "completion-events"
    topic_usage: str = "usage-records"
    topic_quality: str = "quality-events"
    #: Prefix of the analytics sink's consumer groups (one per table): two stacks that share a
    #: Kafka cluster need their own, or their sinks rebalance and take each other's partitions.
    analytics_consumer_group: str = "analytics-sink"
    editor_events_partitions: int = 8
    #: Partitions of the feedback and completion-events topics.
    feedback_partitions: int = 4
    #: Code-bearing topics keep data for minutes only.
    code_retention_ms: int = 10 * 60 * 1000
    feedback_retention_ms: int = 7 * 24 * 3600 * 1000
    #: Limits.
    max_frame_bytes: int = 1024 * 1024
    #: Largest Kafka record (topic ``max.message.bytes``, producer and fetch limits): a full
    #: document re-encoded as JSON can be several times its frame.
    max_record_bytes: int = 8 * 1024 * 1024
    max_document_chars: int = 1_000_000
    max_open_documents: int = 64
    max_completion_tokens: int = 64
    prompt_prefix_chars: int = 16000
    prompt_suffix_chars: int = 1000
    #: Finished generations stay in the Redis cache this long (values hold generated code).
    completion_cache_ttl_s: int = 600
    #: A request not started this long after the edge received it is answered ``expired``.
    request_deadline_ms: int = 1000
    #: Concurrent inferences one worker runs (more wait for a slot, briefly: see below); 8 is
    #: what one code_fim instance batches.
    worker_model_slots: int = 8
    #: The assistant tasks' routes (docs/TASKS.md): Triton model per kind (``explain=my_llm,...``;
    #: default ``task_<kind>``), deadlines per kind in ms, and the tasks one worker runs at once
    #: per kind (separate from ``worker_model_slots``: completions never wait behind tasks).
    task_models: str = ""
    task_deadlines_ms: str = ""
    task_slots: int = 4
    #: How long a request may wait for a model slot before it is refused ``overloaded``.
    admission_wait_ms: int = 50
    #: After a completion's first chunk, what the model streams goes to the editor at most this
    #: often, as one chunk: each chunk is a sealed record and a socket frame (0: every token).
    reply_interval_ms: int = 25
    #: The edge ends a request with ``error`` (detail ``no_answer``) when no frame of it came
    #: for this long: its worker died, or its records were lost on the way.
    reply_deadline_ms: int = 5000
    #: The edge asks clients to slow down when requests queue this long between it and the
    #: workers (smoothed), and lifts the hint below the low mark.
    overload_high_ms: int = 250
    overload_low_ms: int = 60
    slow_down_interval_ms: int = 400
    #: Workers drop a session's documents after this long without an event from it.
    session_idle_ms: int = 10 * 60 * 1000
    #: Seconds after an acceptance at which the share of it still in the document is measured.
    persistence_checkpoints_s: str = "30,120,300,600"
    #: Usage records for billing: window length, how late an event may be and still land in its
    #: window's first record, and how long the usage topic keeps records.
    usage_window_ms: int = 3_600_000
    usage_grace_ms: int = 60_000
    usage_retention_ms: int = 400 * 86_400_000
    #: The usage topic is compacted so an erasure's tombstones remove a user's records: a
    #: record a tombstone covers leaves the disk at most this long after the next record lands.
    usage_compaction_lag_ms: int = 86_400_000
    #: Analytics rows are deleted this long after the event (table TTL, set at creation).
    analytics_retention_days: int = 400
    #: Analytics sink batching.
    sink_batch_rows: int = 1000
    sink_batch_ms: int = 1000
    #: Seconds to wait for each component to become healthy.
    start_timeout_s: float = 60.0

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or ",".join(
            f"127.0.0.1:{self.broker_port + i}" for i in range(self.kafka_brokers))

    @property
    def replication(self) -> int:
        """Replication factor of our topics."""
        if self.kafka_replication:
            return self.kafka_replication
        return min(3, self.kafka_brokers) if self.embedded_broker else 1

    @property
    def min_insync_replicas(self) -> int:
        """With three replicas a write needs two: one broker may die without losing an acked
        record, and writes go on."""
        return 2 if self.replication >= 3 else 1

    @property
    def embedded_triton(self) -> bool:
        return not self.triton_url

    @property
    def triton_grpc(self) -> str:
        return self.triton_url or f"127.0.0.1:{self.triton_grpc_port}"

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{self.stack_home / 'clickhouse' / self.stack_instance}"

    @property
    def log_dir(self) -> Path:
        return self.stack_home / "logs" / self.stack_instance

    @property
    def run_dir(self) -> Path:
        return self.stack_home / "run" / self.stack_instance

    @property
    def vendor_dir(self) -> Path:
        return self.stack_home / "vendor"

    def checkpoints(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.persistence_checkpoints_s.split(",") if part)

    @property
    def erasure_secret_path(self) -> Path:
        return Path(self.erasure_secret_file) if self.erasure_secret_file else (
            self.stack_home / "erasure.secret")

    @property
    def tenants_path(self) -> Path:
        if self.tenants_file:
            return Path(self.tenants_file)
        return self.stack_home / "tenants" / f"{self.stack_instance}.json"

    def edge_url(self, index: int = 0) -> str:
        scheme = "wss" if self.edge_tls_cert else "ws"
        return f"{scheme}://{self.edge_host}:{self.edge_listen_port(index)}"

    def edge_listen_port(self, index: int) -> int:
        return self.edge_port + index * self.edge_port_per_index

    def edge_metrics_listen_port(self, index: int) -> int | None:
        """Edge ``index``'s own metrics port (``None``: its metrics are on its client port)."""
        if not self.edge_metrics_port:
            return None
        return self.edge_metrics_port + index * self.edge_port_per_index

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` in a child process rebuild these settings."""
        return {f.name.upper(): str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); unknown types fail loudly."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = field.name.upper()
            if name not in env:
                continue
            raw = env[name]
            values[field.name] = _parse(name, raw, field.type)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values that would only fail later, naming the variable."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_port") and not 0 < value < 65536 and not (
                    field.name == "edge_metrics_port" and value == 0):
                raise SettingsError(f"{field.name.upper()}={value}: a port must be in 1..65535")
            if isinstance(value, int | float) and field.name.endswith(
                ("_count", "_partitions", "_bytes", "_chars", "_tokens", "_rows", "_documents",
                 "_ms", "_s")
            ) and (value < 0 if field.name in MAY_BE_ZERO else value <= 0):
                raise SettingsError(f"{field.name.upper()}={value}: must be "
                                    + ("0 or more" if field.name in MAY_BE_ZERO else "positive"))
        try:
            checkpoints = self.checkpoints()
        except ValueError:
            checkpoints = ()
        if not checkpoints or min(checkpoints) <= 0:
            raise SettingsError(f"PERSISTENCE_CHECKPOINTS_S={self.persistence_checkpoints_s!r}: "
                                "positive whole seconds, comma-separated")
        if 86_400_000 % self.usage_window_ms:
            raise SettingsError(f"USAGE_WINDOW_MS={self.usage_window_ms}: must divide a day "
                                "(86400000) so windows never straddle a UTC day or month")
        if self.model_threshold > 1:
            raise SettingsError(f"MODEL_THRESHOLD={self.model_threshold}: a confidence between 0 and 1 "
                                "(negative: the model's default)")
        if self.kafka_jvm not in ("small", "throughput"):
            raise SettingsError(f"KAFKA_JVM={self.kafka_jvm}: small or throughput")
        if self.kafka_brokers not in (1, 3):
            raise SettingsError(f"KAFKA_BROKERS={self.kafka_brokers}: the embedded cluster has 1 or 3 "
                                "brokers (a real cluster: KAFKA_BOOTSTRAP)")
        if self.triton_model_interface not in ("items", "vllm", "trtllm"):
            raise SettingsError(f"TRITON_MODEL_INTERFACE={self.triton_model_interface}: one of "
                                "items, vllm, trtllm")
        if self.fim_template not in ("starcoder", "qwen", "codellama", "deepseek"):
            raise SettingsError(f"FIM_TEMPLATE={self.fim_template}: one of starcoder, qwen, "
                                "codellama, deepseek")
        try:
            from config.task_routes import task_routes

            task_routes(self.task_models, self.task_deadlines_ms, self.task_slots)
            from config.task_routes import llm_route

            llm_route(self.next_edit_model, "NEXT_EDIT_MODEL")
        except ValueError as error:
            raise SettingsError(str(error)) from None
        if self.next_edit_deadline_ms <= 0 or self.next_edit_max_tokens <= 0:
            raise SettingsError("NEXT_EDIT_DEADLINE_MS and NEXT_EDIT_MAX_TOKENS must be positive")
        if self.kafka_replication < 0:
            raise SettingsError(f"KAFKA_REPLICATION={self.kafka_replication}: 0 (derive) or more")
        if self.redis_cluster not in (0, 1):
            raise SettingsError(f"REDIS_CLUSTER={self.redis_cluster}: 1 (a Redis Cluster) or 0 "
                                "(one Redis)")
        if self.code_encryption not in (0, 1):
            raise SettingsError(f"CODE_ENCRYPTION={self.code_encryption}: 1 (on) or 0 (off)")
        if bool(self.edge_tls_cert) != bool(self.edge_tls_key):
            raise SettingsError("EDGE_TLS_CERT and EDGE_TLS_KEY: set both (wss) or neither (ws)")
        if bool(self.dashboard_tls_cert) != bool(self.dashboard_tls_key):
            raise SettingsError("DASHBOARD_TLS_CERT and DASHBOARD_TLS_KEY: set both (https) or "
                                "neither (http)")
        if self.edge_port_per_index not in (0, 1):
            raise SettingsError(f"EDGE_PORT_PER_INDEX={self.edge_port_per_index}: 1 (EDGE_PORT + "
                                "the edge's index) or 0 (every edge on EDGE_PORT)")
        if self.edge_metrics_port:
            clients = {self.edge_listen_port(i) for i in range(self.edge_count)}
            taken = sorted(clients & {self.edge_metrics_listen_port(i)
                                      for i in range(self.edge_count)})
            if taken:
                raise SettingsError(f"EDGE_METRICS_PORT={self.edge_metrics_port}: port {taken[0]} "
                                    "is also an edge's client port (EDGE_PORT + its index)")
        if self.edge_count > self.editor_events_partitions:
            raise SettingsError(
                f"EDGE_COUNT={self.edge_count}: each edge owns one reply partition and the replies "
                f"topic has EDITOR_EVENTS_PARTITIONS={self.editor_events_partitions}; raise that"
            )


def _parse(name: str, raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser().resolve()
        return raw
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected {kind}") from None
