"""Settings come from the environment, typed, and bad values fail with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings, SettingsError


class TestSettings:
    """Defaults are the embedded stack; every field can be overridden by its variable."""

    def test_defaults_are_embedded(self) -> None:
        s = Settings.from_env({})
        assert s.embedded_broker and s.embedded_triton
        assert s.bootstrap == "127.0.0.1:19092"
        assert s.clickhouse_dsn.startswith("chdb://")

    def test_external_components(self) -> None:
        s = Settings.from_env({"KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "TRITON_URL": "triton:8001",
                               "CLICKHOUSE_URL": "https://ch:8443", "EDGE_PORT": "9000"})
        assert not s.embedded_broker and s.bootstrap == "k1:9092,k2:9092"
        assert s.triton_grpc == "triton:8001" and s.clickhouse_dsn == "https://ch:8443"
        assert s.edge_port == 9000

    def test_round_trip_through_env(self) -> None:
        s = Settings.from_env({"STACK_HOME": "/tmp/x", "EDGE_COUNT": "2", "START_TIMEOUT_S": "5.5"})
        assert Settings.from_env(s.to_env()) == s
        assert s.stack_home == Path("/tmp/x")

    @pytest.mark.parametrize(("env", "named"), [
        ({"EDGE_PORT": "http"}, "EDGE_PORT"),
        ({"BROKER_PORT": "70000"}, "BROKER_PORT"),
        ({"WORKER_COUNT": "0"}, "WORKER_COUNT"),
        ({"EDGE_COUNT": "99"}, "EDGE_COUNT"),
        ({"MODEL_THRESHOLD": "2"}, "MODEL_THRESHOLD"),
        ({"KAFKA_JVM": "fast"}, "KAFKA_JVM"),
        ({"KAFKA_LINGER_MS": "-1"}, "KAFKA_LINGER_MS"),
        ({"REPLY_INTERVAL_MS": "-5"}, "REPLY_INTERVAL_MS"),
        ({"KAFKA_BATCH_FETCH_BYTES": "0"}, "KAFKA_BATCH_FETCH_BYTES"),
        ({"EDGE_PORT_PER_INDEX": "2"}, "EDGE_PORT_PER_INDEX"),
        ({"EDGE_METRICS_PORT": "70000"}, "EDGE_METRICS_PORT"),
        ({"EDGE_METRICS_PORT": "8766", "EDGE_COUNT": "2"}, "EDGE_METRICS_PORT"),
        ({"REDIS_CLUSTER": "yes"}, "REDIS_CLUSTER"),
        ({"REDIS_CLUSTER": "2"}, "REDIS_CLUSTER"),
        ({"DASHBOARD_TLS_CERT": "/c.pem"}, "DASHBOARD_TLS_KEY"),
    ])
    def test_bad_values_name_the_variable(self, env: dict[str, str], named: str) -> None:
        with pytest.raises(SettingsError, match=named):
            Settings.from_env(env)

    def test_edges_on_one_machine_or_one_per_container(self) -> None:
        assert Settings().edge_url(2).endswith(":8767")
        assert Settings(edge_port_per_index=0).edge_url(2).endswith(":8765")

    def test_edge_metrics_on_the_client_port_or_apart(self) -> None:
        assert Settings().edge_metrics_listen_port(2) is None
        assert Settings(edge_metrics_port=18300).edge_metrics_listen_port(2) == 18302
        assert Settings(edge_metrics_port=18300,
                        edge_port_per_index=0).edge_metrics_listen_port(2) == 18300

    def test_no_linger_and_no_pacing_are_allowed(self) -> None:
        s = Settings.from_env({"KAFKA_LINGER_MS": "0", "REPLY_INTERVAL_MS": "0"})
        assert s.kafka_linger_ms == 0 and s.reply_interval_ms == 0

    def test_the_brokers_jvm_profile(self) -> None:
        from infra.broker import java_argv

        small = java_argv(Settings(), "kafka.Kafka")
        assert "-XX:TieredStopAtLevel=1" in small and "-XX:+UseSerialGC" in small
        fast = java_argv(Settings(kafka_jvm="throughput"), "kafka.Kafka")
        assert "-XX:TieredStopAtLevel=1" not in fast
