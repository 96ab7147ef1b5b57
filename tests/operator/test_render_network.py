"""The NetworkPolicy: everything denied for the pipeline's pods but the allows the detector needs."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.network import kafka_ports, render_network_policies

POD_SELECTOR = {"matchLabels": {"streamflow.io/pipeline": "payments"}}


def _spec(pipeline: FraudPipeline) -> dict[str, Any]:
    (policy,) = render_network_policies(pipeline)
    assert policy["metadata"]["name"] == f"{pipeline.metadata.name}-network"
    spec: dict[str, Any] = policy["spec"]
    return spec


def test_one_policy_selects_the_pipelines_pods_both_ways(pipeline: FraudPipeline) -> None:
    (policy,) = render_network_policies(pipeline)
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamflow"
    spec = policy["spec"]
    # Both types listed: whatever the rules below do not allow is denied, in and out.
    assert spec["podSelector"] == POD_SELECTOR
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert len(spec["ingress"]) == 3 and len(spec["egress"]) == 5


def test_allows(pipeline: FraudPipeline) -> None:
    spec = _spec(pipeline)
    internal, metrics, operator = spec["ingress"]
    own, dns, kafka, postgres, https = spec["egress"]
    assert internal == {"from": [{"podSelector": POD_SELECTOR}]}
    assert own == {"to": [{"podSelector": POD_SELECTOR}]}

    assert kafka["to"] == [
        {
            "podSelector": {
                "matchLabels": {"strimzi.io/cluster": "streamflow-kafka", "strimzi.io/kind": "Kafka"}
            }
        }
    ]
    assert [p["port"] for p in kafka["ports"]] == [9092, 9093]

    assert postgres["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "streamflow-pg"}}}]
    assert postgres["ports"] == [{"protocol": "TCP", "port": 5432}]

    assert metrics["ports"] == [{"protocol": "TCP", "port": 9249}]
    assert metrics["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }

    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert operator["ports"] == [{"protocol": "TCP", "port": 8081}]
    assert [p["port"] for p in https["ports"]] == [443, 6443]
    assert all("ipBlock" in peer for peer in https["to"])


def test_external_kafka_is_limited_by_port(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["kafka"] = {"bootstrapServers": "b1.example.com:9094,b2.example.com:9094,b3:19092"}
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    assert kafka_ports(pipeline) == [9094, 19092]
    kafka = _spec(pipeline)["egress"][2]
    assert "to" not in kafka
    assert [p["port"] for p in kafka["ports"]] == [9094, 19092]


def test_disabled(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["networkPolicy"]["enabled"] = False
    assert render_network_policies(FraudPipeline.model_validate(pipeline_doc)) == []
