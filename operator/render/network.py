"""NetworkPolicies: deny everything for the pipeline's pods, then allow exactly what the detector needs.

Allowed: Flink <-> Flink (JobManager/TaskManager RPC, blob, data exchange), Flink -> Kafka, Flink ->
PostgreSQL (the CNPG ``-rw`` pods), Flink -> DNS, Flink -> the Kubernetes API and HTTPS endpoints (native
mode creates TaskManager pods; artifacts and object storage), Flink operator -> JobManager REST, Prometheus
-> metrics.
"""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.naming import FLINK_REST_PORT, METRICS_PORT, common_labels, pod_selector

__all__ = ["kafka_ports", "render_network_policies"]

_NS_LABEL = "kubernetes.io/metadata.name"
_STRIMZI_PORTS = (9092, 9093)


def kafka_ports(pipeline: FraudPipeline) -> list[int]:
    """Ports of the bootstrap servers (sorted, unique), or Strimzi's plain and TLS listener ports."""
    servers = pipeline.spec.kafka.bootstrap_servers
    if not servers:
        return list(_STRIMZI_PORTS)
    return sorted({int(entry.rsplit(":", 1)[1]) for entry in servers.split(",")})


def _kafka_peers(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    kafka = pipeline.spec.kafka
    cluster = kafka.strimzi_cluster
    if cluster is None:
        return []  # external brokers: restricted by port only
    hosts = [entry.rsplit(":", 1)[0] for entry in (kafka.bootstrap_servers or "").split(",") if entry]
    if hosts and not all(host.startswith(f"{cluster}-kafka") for host in hosts):
        return []
    return [{"podSelector": {"matchLabels": {"strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka"}}}]


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(pipeline: FraudPipeline, suffix: str, types: list[str], **rules: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{pipeline.metadata.name}-{suffix}",
            "namespace": pipeline.metadata.namespace,
            "labels": common_labels(pipeline, "network-policy"),
        },
        "spec": {"podSelector": {"matchLabels": pod_selector(pipeline)}, "policyTypes": types, **rules},
    }


def render_network_policies(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """The pipeline's NetworkPolicies (networking.k8s.io/v1); none if spec.networkPolicy.enabled is false."""
    settings = pipeline.spec.network_policy
    if not settings.enabled:
        return []
    own = {"podSelector": {"matchLabels": pod_selector(pipeline)}}
    kafka_rule: dict[str, Any] = {"ports": _tcp(*kafka_ports(pipeline))}
    peers = _kafka_peers(pipeline)
    if peers:
        kafka_rule["to"] = peers
    dns_peer = {
        "namespaceSelector": {"matchLabels": {_NS_LABEL: "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    postgres_peer = {"podSelector": {"matchLabels": {"cnpg.io/cluster": pipeline.spec.database.cnpg_cluster}}}
    prometheus_peer = {
        "namespaceSelector": {"matchLabels": {_NS_LABEL: settings.prometheus_namespace}},
        "podSelector": {"matchLabels": dict(settings.prometheus_pod_labels)},
    }
    operator_peer = {
        "namespaceSelector": {"matchLabels": {_NS_LABEL: settings.flink_operator_namespace}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "flink-kubernetes-operator"}},
    }
    return [
        _policy(pipeline, "default-deny", ["Ingress", "Egress"]),
        _policy(
            pipeline,
            "allow-flink-internal",
            ["Ingress", "Egress"],
            ingress=[{"from": [own]}],
            egress=[{"to": [own]}],
        ),
        _policy(
            pipeline,
            "allow-dns",
            ["Egress"],
            egress=[
                {
                    "to": [dns_peer],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
        _policy(pipeline, "allow-kafka", ["Egress"], egress=[kafka_rule]),
        _policy(
            pipeline, "allow-postgres", ["Egress"], egress=[{"to": [postgres_peer], "ports": _tcp(5432)}]
        ),
        _policy(
            pipeline,
            "allow-api-and-https",
            ["Egress"],
            egress=[
                {
                    "to": [{"ipBlock": {"cidr": cidr}} for cidr in settings.egress_cidrs],
                    "ports": _tcp(443, 6443),
                }
            ],
        ),
        _policy(
            pipeline,
            "allow-metrics",
            ["Ingress"],
            ingress=[{"from": [prometheus_peer], "ports": _tcp(METRICS_PORT)}],
        ),
        _policy(
            pipeline,
            "allow-flink-operator",
            ["Ingress"],
            ingress=[{"from": [operator_peer], "ports": _tcp(FLINK_REST_PORT)}],
        ),
    ]
