"""NetworkPolicies: default deny plus the allows the detector needs, all scoped to the pipeline's pods."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.network import kafka_ports, render_network_policies

POD_SELECTOR = {"matchLabels": {"streamflow.io/pipeline": "payments"}}


def _by_name(pipeline: FraudPipeline) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"].removeprefix("payments-"): p for p in render_network_policies(pipeline)}


def test_default_deny_and_selectors(pipeline: FraudPipeline) -> None:
    policies = _by_name(pipeline)
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": POD_SELECTOR, "policyTypes": ["Ingress", "Egress"]}
    for policy in policies.values():
        assert policy["apiVersion"] == "networking.k8s.io/v1"
        assert policy["spec"]["podSelector"] == POD_SELECTOR
        assert policy["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamflow"


def test_allows(pipeline: FraudPipeline) -> None:
    policies = _by_name(pipeline)
    internal = policies["allow-flink-internal"]["spec"]
    assert internal["ingress"] == [{"from": [{"podSelector": POD_SELECTOR}]}]
    assert internal["egress"] == [{"to": [{"podSelector": POD_SELECTOR}]}]

    kafka = policies["allow-kafka"]["spec"]["egress"][0]
    assert kafka["to"] == [
        {
            "podSelector": {
                "matchLabels": {"strimzi.io/cluster": "streamflow-kafka", "strimzi.io/kind": "Kafka"}
            }
        }
    ]
    assert [p["port"] for p in kafka["ports"]] == [9092, 9093]

    postgres = policies["allow-postgres"]["spec"]["egress"][0]
    assert postgres["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "streamflow-pg"}}}]
    assert postgres["ports"] == [{"protocol": "TCP", "port": 5432}]

    metrics = policies["allow-metrics"]["spec"]
    assert metrics["policyTypes"] == ["Ingress"]
    assert metrics["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9249}]
    peer = metrics["ingress"][0]["from"][0]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}

    dns = policies["allow-dns"]["spec"]["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert policies["allow-flink-operator"]["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8081}
    ]


def test_external_kafka_is_limited_by_port(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["kafka"] = {"bootstrapServers": "b1.example.com:9094,b2.example.com:9094,b3:19092"}
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    assert kafka_ports(pipeline) == [9094, 19092]
    kafka = _by_name(pipeline)["allow-kafka"]["spec"]["egress"][0]
    assert "to" not in kafka
    assert [p["port"] for p in kafka["ports"]] == [9094, 19092]


def test_disabled(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["networkPolicy"]["enabled"] = False
    assert render_network_policies(FraudPipeline.model_validate(pipeline_doc)) == []
