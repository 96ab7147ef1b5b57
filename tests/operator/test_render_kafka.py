"""Kafka topics: five per pipeline, as KafkaTopics valid under Strimzi's CRD or as admin-API specs."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import crd_schema, validate
from fraud_operator.render.kafka import render_kafka_topics, topic_specs

ROLES = ["transactions", "alerts", "dlq", "labels", "control"]


def test_strimzi_topics(pipeline: FraudPipeline, kafkatopic_crd: dict[str, Any]) -> None:
    topics = render_kafka_topics(pipeline)
    schema = crd_schema(kafkatopic_crd)
    assert [t["spec"]["topicName"] for t in topics] == [f"payments.{role}" for role in ROLES]
    assert [t["metadata"]["name"] for t in topics] == [f"payments-{role}" for role in ROLES]
    for topic in topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "streamflow-kafka"
        assert topic["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "streamflow-operator"
        assert validate(topic, schema) == []
    by_role = {t["metadata"]["name"].split("-", 1)[1]: t["spec"] for t in topics}
    assert by_role["dlq"]["config"]["retention.ms"] == 2592000000
    assert by_role["control"]["partitions"] == 1
    assert by_role["alerts"]["partitions"] == 3
    assert by_role["alerts"]["replicas"] == 1


def test_upstream_schema_refuses_zero_partitions(
    pipeline: FraudPipeline, kafkatopic_crd: dict[str, Any]
) -> None:
    schema = crd_schema(kafkatopic_crd)
    topic = render_kafka_topics(pipeline)[0]
    topic["spec"]["partitions"] = 0
    assert validate(topic, schema) == ["spec.partitions: 0 is below the minimum 1"]
    del topic["spec"]
    assert validate(topic, schema) == ["spec: required field is missing"]


def test_admin_mode_has_topic_specs_but_no_kafkatopics(pipeline_doc: dict[str, Any]) -> None:
    kafka = pipeline_doc["spec"]["kafka"]
    del kafka["strimziCluster"]
    kafka["bootstrapServers"] = "localhost:9092"
    kafka["topicPrefix"] = "prod_payments"
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    assert render_kafka_topics(pipeline) == []
    specs = topic_specs(pipeline)
    assert [s.name for s in specs] == [f"prod_payments.{role}" for role in ROLES]
    assert len({s.name for s in specs}) == 5
    dlq = next(s for s in specs if s.role == "dlq")
    assert dlq.to_dict() == {
        "role": "dlq",
        "name": "prod_payments.dlq",
        "partitions": 3,
        "replicas": 1,
        "config": {"retention.ms": "2592000000"},
    }


def test_replicas_left_to_the_broker_when_unset(pipeline_doc: dict[str, Any]) -> None:
    del pipeline_doc["spec"]["kafka"]["topics"]["replicas"]
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    assert all(s.replicas is None for s in topic_specs(pipeline))
    assert all("replicas" not in t["spec"] for t in render_kafka_topics(pipeline))
