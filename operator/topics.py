"""Admin-API topic mode: the pipeline's topics reconciled directly on Kafka when no Strimzi cluster is named.

Topics are created, partitions increased and config drift corrected, but never deleted or recreated behind
the user's back: a request Kafka cannot satisfy in place (fewer partitions, another replication factor) is
reported and nothing is changed. Credentials come only from the referenced Secret, read at reconcile time;
they are never logged and never end up in status, events or ConfigMaps.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not declared
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.metrics import API_WRITES
from fraud_operator.render import TopicSpec
from fraud_operator.render.config import bootstrap_servers

__all__ = [
    "ADMIN_TOPIC_KIND",
    "CredentialsError",
    "KafkaUnavailable",
    "TopicsOutcome",
    "admin_config",
    "delete_topics",
    "reconcile_topics",
]

ADMIN_TOPIC_KIND = "KafkaTopic/admin"  # label value of the write counter for admin-API changes
logger = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """Kafka could not be reached or answered with a retriable error; the caller retries with backoff."""


class CredentialsError(Exception):
    """The referenced credentials Secret or one of its keys is missing (only the cluster can tell)."""


@dataclass(frozen=True)
class TopicsOutcome:
    """Result of one topic reconciliation, phrased for the TopicsReady condition."""

    ready: bool
    reason: str
    message: str
    changes: list[str] = field(default_factory=list)


def _secret_value(data: Mapping[str, str], key: str, secret: str) -> str:
    if key not in data:
        raise CredentialsError(f"Secret {secret} has no key {key!r}")
    return base64.b64decode(data[key]).decode()


def admin_config(pipeline: FraudPipeline, core_api: Any | None) -> dict[str, str]:
    """librdkafka configuration for the admin client; SASL credentials read from the referenced Secret.

    The returned dict holds secrets: pass it to the client only, never log or store it.
    """
    kafka = pipeline.spec.kafka
    conf: dict[str, str] = {
        "bootstrap.servers": bootstrap_servers(pipeline),
        "security.protocol": kafka.security_protocol,
        "socket.timeout.ms": "10000",
        "log_level": "2",  # an unreachable broker would otherwise flood the operator log
    }
    ref = kafka.credentials_secret_ref
    if kafka.security_protocol.startswith("SASL") and ref is not None:
        if core_api is None:
            raise CredentialsError("no Kubernetes client to read the credentials Secret")
        from kubernetes.client.exceptions import ApiException

        try:
            secret = core_api.read_namespaced_secret(ref.name, pipeline.metadata.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise CredentialsError(f"Secret {ref.name} not found") from None
            raise
        data = secret.data or {}
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = _secret_value(data, ref.username_key, ref.name)
        conf["sasl.password"] = _secret_value(data, ref.password_key, ref.name)
    return conf


def _wait(futures: Mapping[Any, Future[Any]], timeout: float) -> dict[Any, Any]:
    """Results by key; a retriable or transport error becomes KafkaUnavailable, others are re-raised."""
    results: dict[Any, Any] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.retriable() or error.code() in _UNAVAILABLE:
                raise KafkaUnavailable(str(exc)) from None
            results[key] = error
        except TimeoutError as exc:
            raise KafkaUnavailable(f"Kafka did not answer within {timeout:.0f}s") from exc
    return results


_UNAVAILABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_CONTROLLER,
    }
)


def _metadata(admin: AdminClient, timeout: float) -> Any:
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics: {exc}") from None


def _write(what: str) -> None:
    API_WRITES.labels(kind=ADMIN_TOPIC_KIND).inc()
    logger.info("kafka admin: %s", what)


def reconcile_topics(
    conf: Mapping[str, str], specs: Sequence[TopicSpec], timeout: float = 15.0
) -> TopicsOutcome:
    """Bring the topics to ``specs``: create missing ones, add partitions, correct config drift.

    Raises KafkaUnavailable when Kafka cannot be reached (the caller retries); everything Kafka refuses for
    good is reported in the outcome.
    """
    admin = AdminClient(dict(conf))
    metadata = _metadata(admin, timeout)
    existing = {name: topic for name, topic in metadata.topics.items() if topic.error is None}
    changes: list[str] = []
    problems: list[tuple[str, str]] = []

    missing = [spec for spec in specs if spec.name not in existing]
    if missing:
        new = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replicas if spec.replicas is not None else -1,
                config=dict(spec.config),
            )
            for spec in missing
        ]
        for spec in missing:
            _write(f"create topic {spec.name}")
        results = _wait(admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout), timeout)
        for spec in missing:
            error = results.get(spec.name)
            if isinstance(error, KafkaError) and error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                problems.append(("TopicCreateFailed", f"creating {spec.name} failed: {error.str()}"))
            else:
                changes.append(f"created {spec.name} ({spec.partitions} partitions)")

    grow: list[NewPartitions] = []
    present = [spec for spec in specs if spec.name in existing]
    for spec in present:
        topic = existing[spec.name]
        current = len(topic.partitions)
        if spec.partitions > current:
            grow.append(NewPartitions(spec.name, spec.partitions))
        elif spec.partitions < current:
            problems.append(
                (
                    "PartitionDecreaseRefused",
                    f"topic {spec.name} has {current} partitions and the spec asks for {spec.partitions}: "
                    "Kafka cannot remove partitions, so nothing was changed (raise the spec back, or delete "
                    "and recreate the topic yourself if losing its data is acceptable)",
                )
            )
        if spec.replicas is not None and topic.partitions:
            factor = len(next(iter(topic.partitions.values())).replicas)
            if factor != spec.replicas:
                problems.append(
                    (
                        "ReplicationFactorMismatch",
                        f"topic {spec.name} has replication factor {factor} and the spec asks for "
                        f"{spec.replicas}: changing it needs a partition reassignment; nothing was changed",
                    )
                )
    if grow:
        for item in grow:
            _write(f"increase partitions of {item.topic} to {item.new_total_count}")
        results = _wait(
            admin.create_partitions(grow, operation_timeout=timeout, request_timeout=timeout), timeout
        )
        for item in grow:
            error = results.get(item.topic)
            if isinstance(error, KafkaError):
                problems.append(("PartitionIncreaseFailed", f"{item.topic}: {error.str()}"))
            else:
                changes.append(f"increased {item.topic} to {item.new_total_count} partitions")

    if present:
        resources = [ConfigResource(ResourceType.TOPIC, spec.name) for spec in present]
        described = _wait(admin.describe_configs(resources, request_timeout=timeout), timeout)
        by_name = {resource.name: value for resource, value in described.items()}
        alters: list[ConfigResource] = []
        for spec in present:
            entries = by_name.get(spec.name)
            if isinstance(entries, KafkaError) or entries is None:
                problems.append(("TopicDescribeFailed", f"describing {spec.name} failed: {entries}"))
                continue
            drift = {
                key: value
                for key, value in spec.config.items()
                if key not in entries or entries[key].value != value
            }
            if drift:
                alters.append(
                    ConfigResource(
                        ResourceType.TOPIC,
                        spec.name,
                        incremental_configs=[
                            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                            for key, value in sorted(drift.items())
                        ],
                    )
                )
                changes.append(f"corrected {', '.join(sorted(drift))} of {spec.name}")
        if alters:
            for resource in alters:
                _write(f"alter config of {resource.name}")
            altered = _wait(admin.incremental_alter_configs(alters, request_timeout=timeout), timeout)
            for resource, value in altered.items():
                if isinstance(value, KafkaError):
                    problems.append(("TopicConfigFailed", f"altering {resource.name} failed: {value.str()}"))

    if problems:
        reasons = sorted({reason for reason, _ in problems})
        reason = reasons[0] if len(reasons) == 1 else "TopicsNotReconciled"
        return TopicsOutcome(False, reason, "; ".join(message for _, message in problems), changes)
    names = ", ".join(spec.name for spec in specs)
    summary = "; ".join(changes) if changes else "no changes needed"
    return TopicsOutcome(
        True, "TopicsReconciled", f"{len(specs)} topics match the spec ({names}); {summary}", changes
    )


def delete_topics(conf: Mapping[str, str], names: Sequence[str], timeout: float = 15.0) -> list[str]:
    """Delete those of ``names`` that exist; returns the deleted ones. Raises KafkaUnavailable."""
    admin = AdminClient(dict(conf))
    metadata = _metadata(admin, timeout)
    present = [name for name in names if name in metadata.topics]
    if not present:
        return []
    for name in present:
        _write(f"delete topic {name}")
    results = _wait(admin.delete_topics(present, operation_timeout=timeout, request_timeout=timeout), timeout)
    failed = {
        name: error.str()
        for name, error in results.items()
        if isinstance(error, KafkaError) and error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
    }
    if failed:
        raise KafkaUnavailable("; ".join(f"deleting {name} failed: {msg}" for name, msg in failed.items()))
    return present
