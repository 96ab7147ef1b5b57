"""The topics of a deleted pipeline (topicDeletionPolicy Delete, admin-API mode): our finalizer, no kopf's.

Kubernetes' garbage collector deletes the children; topics created through Kafka's admin API are not
objects it knows, so such a pipeline carries :data:`FINALIZER` while it has them. It is added by the
reconcile before the first topic is created (a pipeline deleted at any later moment keeps its topics' names
until they are gone) and removed when the spec no longer asks for it, or once the topics are deleted, or
after STREAMFLOW_TOPIC_DELETE_TIMEOUT_SECONDS of an unreachable Kafka, with a Warning naming the topics
left behind: a deletion never hangs.

Not a kopf deletion handler: with one, kopf detects changes on every event of every pipeline (a deep copy
of each body for its diff-base, 7% of the operator's time in a cold start of 1,000) and patches each
pipeline once more to store it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from fraud_operator.apply import Applier
from fraud_operator.handlers import events
from fraud_operator.handlers.resolve import parse_pipeline
from fraud_operator.render import topic_specs
from fraud_operator.settings import TOPIC_DELETE_TIMEOUT_SECONDS

__all__ = ["FINALIZER", "delete_topics_of", "ensure_finalizer", "needs_topic_cleanup", "pending_cleanup"]

FINALIZER = "streamflow.io/topic-cleanup"


def needs_topic_cleanup(spec: Mapping[str, Any]) -> bool:
    """Whether the spec asks for its topics to be deleted with it, and they are ours to delete."""
    kafka = spec.get("kafka") or {}
    return bool(spec.get("topicDeletionPolicy") == "Delete" and not kafka.get("strimziCluster"))


def pending_cleanup(body: Mapping[str, Any]) -> bool:
    """A pipeline being deleted whose topics still wait for :func:`delete_topics_of`."""
    meta = body.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FINALIZER in (meta.get("finalizers") or [])


def ensure_finalizer(applier: Applier, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Add or remove the finalizer as the spec asks; returns the pipeline as it is now (None: gone).

    Called before anything is created on Kafka. A pipeline already being deleted is left alone.
    """
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return body
    wanted = needs_topic_cleanup(body.get("spec") or {})
    if wanted == (FINALIZER in (meta.get("finalizers") or [])):
        return body
    return applier.set_finalizer(body, FINALIZER, wanted)


def _deleting_for(body: Mapping[str, Any]) -> float:
    """Seconds since the pipeline's deletion was asked for."""
    stamp = str((body.get("metadata") or {}).get("deletionTimestamp") or "")
    try:
        since = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - since).total_seconds())


def delete_topics_of(applier: Applier, core: Any, body: Mapping[str, Any]) -> None:
    """Delete the topics of pipeline ``body`` (being deleted, with the finalizer), then release it.

    Raises kopf.TemporaryError while Kafka is unreachable and the timeout has not run out; past it, the
    finalizer is released with a Warning Event naming the topics left behind.
    """
    timeout = TOPIC_DELETE_TIMEOUT_SECONDS.value()
    subject = body  # what the Events are about
    try:
        pipeline = parse_pipeline(body)
    except Exception as exc:
        events.warn(subject, reason="TopicsRetained", message=f"invalid spec, topics not deleted: {exc}")
        applier.set_finalizer(body, FINALIZER, False)
        return
    # Loaded here, not with the module: the Kafka client (librdkafka) serves admin-API mode only.
    from fraud_operator.topics import CredentialsError, KafkaUnavailable, admin_config, delete_topics

    names = [spec.name for spec in topic_specs(pipeline)]
    elapsed = _deleting_for(body)
    remaining = timeout - elapsed
    try:
        conf = admin_config(pipeline, core)
        deleted = delete_topics(conf, names, timeout=max(1.0, min(10.0, remaining)))
    except CredentialsError as exc:
        message = f"cannot read Kafka credentials ({exc}); kept {names}"
        events.warn(subject, reason="TopicsRetained", message=message)
    except KafkaUnavailable as exc:
        if elapsed < timeout and remaining > 1.0:
            raise kopf.TemporaryError(
                f"Kafka unreachable, retrying topic deletion: {exc}", delay=min(5.0, remaining)
            ) from exc
        message = (
            f"Kafka unreachable for {timeout:.0f}s; gave up deleting topics {', '.join(names)} "
            f"so that the pipeline can be deleted ({exc})"
        )
        events.warn(subject, reason="TopicDeletionAbandoned", message=message)
    else:
        message = f"deleted topics: {', '.join(deleted) or 'none existed'}"
        events.info(subject, reason="TopicsDeleted", message=message)
    applier.set_finalizer(body, FINALIZER, False)
