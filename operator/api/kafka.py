"""Kafka part of the FraudPipeline API: where the topics live, how they are sized, how the job connects."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fraud_operator.api.common import DNS1035_LABEL, ApiModel, K8sName, cel
from pydantic import AfterValidator, Field, StringConstraints, model_validator

__all__ = ["TOPIC_ROLES", "KafkaCredentialsRef", "KafkaSpec", "TopicDefaults", "TopicOverride", "TopicRole"]

TopicRole = Literal["transactions", "alerts", "dlq", "labels", "control"]
TOPIC_ROLES: tuple[str, ...] = get_args(TopicRole)

# A TCP port 1-65535: the NetworkPolicy allows egress to each bootstrap port, and the API server refuses
# a NetworkPolicy port outside that range.
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = r"[A-Za-z0-9.\-\[\]:]+"
HostPortList = Annotated[
    str,
    StringConstraints(pattern=rf"^{_HOST}:{_PORT}(,{_HOST}:{_PORT})*$", max_length=1024),
]


def _check_retention(value: int | None) -> int | None:
    if value is not None and value != -1 and value < 60000:
        raise ValueError("retentionMs must be -1 or at least 60000 (1m)")
    return value


class KafkaCredentialsRef(ApiModel):
    """Secret holding the SASL credentials the detector uses for Kafka; only referenced, never copied."""

    name: K8sName = Field(description="Name of the Secret in the pipeline's namespace.")
    username_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="username", description="Key in the Secret that holds the SASL user name."
    )
    password_key: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="password", description="Key in the Secret that holds the SASL password."
    )


class TopicDefaults(ApiModel):
    """Settings applied to every topic of the pipeline unless overridden per role."""

    partitions: int = Field(
        default=3,
        ge=1,
        le=10000,
        description="Partitions per topic. Can be increased later, never decreased.",
        json_schema_extra=cel(("self >= oldSelf", "partitions can only be increased, never decreased")),
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=32767,
        description="Replication factor per topic; the broker's default.replication.factor when unset.",
    )
    retention_ms: Annotated[int, AfterValidator(_check_retention)] = Field(
        default=604_800_000,
        ge=-1,
        description="retention.ms of each topic in milliseconds; -1 keeps records forever. Default 7 days.",
        json_schema_extra=cel(
            ("self == -1 || self >= 60000", "retentionMs must be -1 or at least 60000 (1m)")
        ),
    )


class TopicOverride(ApiModel):
    """Per-role deviation from the topic defaults; the role is the key, so a role cannot appear twice."""

    role: TopicRole = Field(description="Which of the pipeline's topics this override applies to.")
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Partitions of this topic. Can be increased later, never decreased.",
    )
    replicas: int | None = Field(
        default=None, ge=1, le=32767, description="Replication factor of this topic."
    )
    retention_ms: Annotated[int | None, AfterValidator(_check_retention)] = Field(
        default=None,
        ge=-1,
        description="retention.ms of this topic in milliseconds; -1 keeps records forever.",
        json_schema_extra=cel(
            ("self == -1 || self >= 60000", "retentionMs must be -1 or at least 60000 (1m)")
        ),
    )


class KafkaSpec(ApiModel):
    """Where the pipeline's Kafka topics live and how the detector connects to them."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "has(self.bootstrapServers) || has(self.strimziCluster)",
                "set bootstrapServers, strimziCluster, or both",
            ),
            (
                "!self.securityProtocol.startsWith('SASL') || has(self.credentialsSecretRef)",
                "SASL security protocols need credentialsSecretRef",
                ".credentialsSecretRef",
            ),
        )
    }

    bootstrap_servers: HostPortList | None = Field(
        default=None,
        description=(
            "Comma-separated host:port list of the Kafka bootstrap servers. When only strimziCluster is set, "
            "the Strimzi bootstrap service <cluster>-kafka-bootstrap:9092 in the pipeline's namespace "
            "is used."
        ),
    )
    strimzi_cluster: Annotated[str, StringConstraints(pattern=DNS1035_LABEL, max_length=63)] | None = Field(
        default=None,
        description=(
            "Name of a Strimzi Kafka cluster in the pipeline's namespace. When set, topics are managed as "
            "KafkaTopic objects (kafka.strimzi.io/v1); otherwise directly through the Kafka admin API."
        ),
    )
    topic_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$", max_length=200)] | None = (
        Field(
            default=None,
            description="Prefix of the topic names <prefix>.<role>; defaults to the pipeline's name.",
        )
    )
    topics: TopicDefaults = Field(
        default_factory=TopicDefaults, description="Partitions, replication and retention of every topic."
    )
    topic_overrides: list[TopicOverride] = Field(
        default_factory=list,
        max_length=5,
        description="Per-role overrides of the topic defaults, at most one per role.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["role"]},
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security.protocol used by the detector."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism used with the SASL security protocols."
    )
    credentials_secret_ref: KafkaCredentialsRef | None = Field(
        default=None,
        description="Secret with the Kafka credentials, passed to the job as environment variables only.",
    )

    @model_validator(mode="after")
    def _check(self) -> KafkaSpec:
        if self.bootstrap_servers is None and self.strimzi_cluster is None:
            raise ValueError("set bootstrapServers, strimziCluster, or both")
        if self.security_protocol.startswith("SASL") and self.credentials_secret_ref is None:
            raise ValueError("credentialsSecretRef: SASL security protocols need credentialsSecretRef")
        roles = [o.role for o in self.topic_overrides]
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            raise ValueError(f"topicOverrides: role {', '.join(duplicates)} appears more than once")
        return self
