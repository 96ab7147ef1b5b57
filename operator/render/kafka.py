"""The pipeline's Kafka topics: Strimzi KafkaTopic objects, or plain specs for the Kafka admin API.

Both modes derive from :func:`topic_specs`, so both modes make the same five topics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fraud_operator.api.pipeline import TOPIC_ROLES, FraudPipeline, TopicOverride
from fraud_operator.render.naming import common_labels, topic_name

__all__ = ["TopicSpec", "render_kafka_topics", "topic_specs"]


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the admin API creates it; ``replicas`` None means the broker default."""

    role: str
    name: str
    partitions: int
    replicas: int | None
    config: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for YAML/JSON output."""
        return {
            "role": self.role,
            "name": self.name,
            "partitions": self.partitions,
            "replicas": self.replicas,
            "config": dict(self.config),
        }


def topic_specs(pipeline: FraudPipeline) -> list[TopicSpec]:
    """The five topics (transactions, alerts, dlq, labels, control) with overrides applied."""
    kafka = pipeline.spec.kafka
    overrides: dict[str, TopicOverride] = {o.role: o for o in kafka.topic_overrides}
    specs: list[TopicSpec] = []
    for role in TOPIC_ROLES:
        override = overrides.get(role)
        partitions = kafka.topics.partitions
        replicas = kafka.topics.replicas
        retention = kafka.topics.retention_ms
        if override is not None:
            partitions = override.partitions if override.partitions is not None else partitions
            replicas = override.replicas if override.replicas is not None else replicas
            retention = override.retention_ms if override.retention_ms is not None else retention
        specs.append(
            TopicSpec(
                role=role,
                name=topic_name(pipeline, role),
                partitions=partitions,
                replicas=replicas,
                config={"retention.ms": str(retention)},
            )
        )
    return specs


def render_kafka_topics(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """KafkaTopic objects (kafka.strimzi.io/v1) when a Strimzi cluster is named, otherwise none."""
    cluster = pipeline.spec.kafka.strimzi_cluster
    if cluster is None:
        return []
    topics: list[dict[str, Any]] = []
    for spec in topic_specs(pipeline):
        body: dict[str, Any] = {"topicName": spec.name, "partitions": spec.partitions}
        if spec.replicas is not None:
            body["replicas"] = spec.replicas
        body["config"] = {key: int(value) for key, value in spec.config.items()}
        topics.append(
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaTopic",
                "metadata": {
                    # Topic names may hold characters names cannot; spec.topicName has the real one.
                    "name": f"{pipeline.metadata.name}-{spec.role}",
                    "namespace": pipeline.metadata.namespace,
                    "labels": {**common_labels(pipeline, "topic"), "strimzi.io/cluster": cluster},
                },
                "spec": body,
            }
        )
    return topics
