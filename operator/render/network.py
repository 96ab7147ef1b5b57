"""The NetworkPolicy: deny everything for the pipeline's pods but exactly what the detector needs.

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


def render_network_policies(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """The pipeline's NetworkPolicy (networking.k8s.io/v1), or none if spec.networkPolicy.enabled is false.

    One policy per pipeline: it selects the pipeline's pods for both directions, so everything it does not
    list is denied, and its rules are the allows. Kubernetes unions the rules of every policy that selects a
    pod, so this is what a default-deny policy plus one policy per allow would say, in one object instead
    of eight: a pipeline is fewer writes to create and fewer objects for the CNI to compile.
    """
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
    ingress = [
        {"from": [own]},  # Flink <-> Flink: RPC, blob server, data exchange
        {"from": [prometheus_peer], "ports": _tcp(METRICS_PORT)},
        {"from": [operator_peer], "ports": _tcp(FLINK_REST_PORT)},
    ]
    egress = [
        {"to": [own]},
        {"to": [dns_peer], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        kafka_rule,
        {"to": [postgres_peer], "ports": _tcp(5432)},
        {"to": [{"ipBlock": {"cidr": cidr}} for cidr in settings.egress_cidrs], "ports": _tcp(443, 6443)},
    ]
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": f"{pipeline.metadata.name}-network",
                "namespace": pipeline.metadata.namespace,
                "labels": common_labels(pipeline, "network-policy"),
            },
            "spec": {
                "podSelector": {"matchLabels": pod_selector(pipeline)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": ingress,
                "egress": egress,
            },
        }
    ]
