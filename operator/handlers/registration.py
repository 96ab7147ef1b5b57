"""The kopf handlers, thin by design: each one only routes its trigger to a reconcile function.

They are registered by :func:`register` into a given registry, so a test can build a registry with a short
resync interval while ``kopf run -m fraud_operator`` gets the default registry at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf
from fraud_operator.api.common import API_VERSION, GROUP, VERSION
from fraud_operator.handlers.context import clients, pipeline_lock, reset_clients
from fraud_operator.handlers.models import reconcile_model, refresh_model
from fraud_operator.handlers.pipeline import (
    FLINK_API_VERSION,
    KIND,
    announce,
    reconcile,
    write_pipeline_status,
)
from fraud_operator.handlers.resolve import parse_pipeline
from fraud_operator.handlers.shadow import compare_pipeline, has_shadow_model
from fraud_operator.handlers.status import observe_flink
from fraud_operator.metrics import forget_pipeline
from fraud_operator.render import topic_specs
from fraud_operator.render.naming import MANAGED_BY, PIPELINE_LABEL
from fraud_operator.settings import SHADOW_COMPARE_SECONDS, TOPIC_DELETE_TIMEOUT_SECONDS
from fraud_operator.topics import CredentialsError, KafkaUnavailable, admin_config, delete_topics

__all__ = ["FINALIZER", "register"]

FINALIZER = "streamflow.io/topic-cleanup"
PIPELINES = "fraudpipelines"
MODELS = "fraudmodels"
logger = logging.getLogger(__name__)


def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Keep kopf's bookkeeping under our prefix and post only the events we choose.

    Posting every log line as an Event would write to the API server on each resync; our handlers post
    Events themselves, on transitions only.
    """
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.loggers = False
    # A resync running while its pipeline is deleted delays the finalizer's release until the next poll
    # (kopf's default: 60 s); a reconcile takes about a second, so poll often.
    settings.background.cancellation_polling = 1.0
    settings.posting.level = logging.INFO


def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf connects with the same credentials as our client (in-cluster, else KUBECONFIG read now)."""
    config = reset_clients().api_client.configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        trust_env=settings.networking.trust_env,
    )


def pipeline_changed(body: kopf.Body, retry: int = 0, **_: Any) -> None:
    """Create, spec update and resume of a FraudPipeline; ``retry`` (kopf's count) drives the backoff."""
    reconcile(body, attempt=retry)


def pipeline_resync(body: kopf.Body, retry: int = 0, **_: Any) -> None:
    """Level-based resync; an invalid spec is already in the status, so it is not an error here."""
    try:
        reconcile(body, attempt=retry)
    except kopf.PermanentError:
        return


def pipeline_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """On deletion, forget the pipeline's metrics and refresh usedBy of the models it referenced."""
    if type != "DELETED":
        return
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    forget_pipeline(namespace, name)
    spec = body.get("spec") or {}
    applier = clients().applier
    for ref in (spec.get("modelRef") or {}, spec.get("shadowModelRef") or {}):
        if ref.get("name"):
            refresh_model(applier, namespace, str(ref["name"]))


def pipeline_shadow_compare(body: kopf.Body, **_: Any) -> None:
    """Periodic comparison of the active and the shadow model from gold.model_scores."""
    compare_pipeline(body)


def _needs_topic_cleanup(spec: kopf.Spec, **_: Any) -> bool:
    kafka = spec.get("kafka") or {}
    return bool(spec.get("topicDeletionPolicy") == "Delete" and not kafka.get("strimziCluster"))


def pipeline_deleted(body: kopf.Body, runtime: Any, **_: Any) -> None:
    """topicDeletionPolicy Delete in admin-API mode: delete the topics, but never block deletion forever.

    While Kafka is unreachable the deletion is retried; past the timeout the finalizer is released with a
    Warning Event naming the topics that were left behind.
    """
    timeout = TOPIC_DELETE_TIMEOUT_SECONDS.value()
    try:
        pipeline = parse_pipeline(body)
    except Exception as exc:
        kopf.warn(body, reason="TopicsRetained", message=f"invalid spec, topics not deleted: {exc}")
        return
    names = [spec.name for spec in topic_specs(pipeline)]
    remaining = timeout - runtime.total_seconds()
    try:
        conf = admin_config(pipeline, clients().core)
        deleted = delete_topics(conf, names, timeout=max(1.0, min(10.0, remaining)))
    except CredentialsError as exc:
        kopf.warn(
            body, reason="TopicsRetained", message=f"cannot read Kafka credentials ({exc}); kept {names}"
        )
        return
    except KafkaUnavailable as exc:
        if runtime.total_seconds() >= timeout or remaining <= 1.0:
            kopf.warn(
                body,
                reason="TopicDeletionAbandoned",
                message=(
                    f"Kafka unreachable for {timeout:.0f}s; gave up deleting topics {', '.join(names)} "
                    f"so that the pipeline can be deleted ({exc})"
                ),
            )
            return
        raise kopf.TemporaryError(
            f"Kafka unreachable, retrying topic deletion: {exc}", delay=min(5.0, remaining)
        ) from exc
    kopf.info(body, reason="TopicsDeleted", message=f"deleted topics: {', '.join(deleted) or 'none existed'}")


def model_changed(body: kopf.Body, **_: Any) -> None:
    """Create, update, resume and resync of a FraudModel."""
    reconcile_model(body)


def model_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """A model appeared, changed phase or went away: reconcile the pipelines that reference it."""
    if type is None:
        return  # the initial listing; the pipelines' resume handlers cover it
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    applier = clients().applier
    for item in applier.list(API_VERSION, KIND, namespace, ""):
        spec = item.get("spec") or {}
        refs = {(spec.get("modelRef") or {}).get("name"), (spec.get("shadowModelRef") or {}).get("name")}
        if name not in refs or (item.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            reconcile(item)
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            logger.info(
                "pipeline %s/%s after model %s changed: %s", namespace, item["metadata"]["name"], name, exc
            )


def _pipeline_owner(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("apiVersion") == API_VERSION and ref.get("kind") == KIND:
            return dict(ref)
    return None


def flink_deployment_event(type: str | None, body: kopf.Body, **_: Any) -> None:
    """Mirror lifecycleState and jobStatus.state of our FlinkDeployments into the owning pipeline.

    A model roll the Flink operator reports as failed is followed at once by a reconcile, which rolls back
    (modelPolicy.autoRollback) instead of waiting for the next resync.
    """
    if type == "DELETED":
        return
    owner = _pipeline_owner(body)
    if owner is None:
        return
    namespace = str((body.get("metadata") or {}).get("namespace"))
    name = str(owner["name"])
    applier = clients().applier
    with pipeline_lock(namespace, name):  # a reconcile in progress writes its roll bookkeeping first
        # The event may have waited for the lock: observe the FlinkDeployment as it is now, not as it was.
        deployment = applier.get(
            FLINK_API_VERSION, "FlinkDeployment", namespace, str((body.get("metadata") or {}).get("name"))
        )
        if deployment is None:
            return
        old, new = write_pipeline_status(
            applier, namespace, name, facts=None, flink=observe_flink(deployment), only_uid=str(owner["uid"])
        )
    pipeline_ref = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "uid": owner["uid"]},
    }
    announce(pipeline_ref, old, new)
    history = new.get("modelHistory") if new else None
    if history and history[-1].get("result") == "Failed" and old is not None:
        if old.get("modelHistory") == history:
            return
        pipeline = applier.get(API_VERSION, KIND, namespace, name)
        if pipeline is None or (pipeline.get("metadata") or {}).get("deletionTimestamp"):
            return
        try:
            reconcile(pipeline)
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            logger.info("pipeline %s/%s after a failed model roll: %s", namespace, name, exc)


def _on_spec(registry: kopf.OperatorRegistry, plural: str, prefix: str, handler: Callable[..., Any]) -> None:
    """``handler`` for every spec an object of ``plural`` gets: created, changed, found at a restart."""
    for decorator in (
        kopf.on.create(GROUP, VERSION, plural, registry=registry, id=f"{prefix}-create"),
        kopf.on.update(GROUP, VERSION, plural, registry=registry, id=f"{prefix}-update", field="spec"),
        kopf.on.resume(GROUP, VERSION, plural, registry=registry, id=f"{prefix}-resume"),
    ):
        decorator(handler)


def register(
    registry: kopf.OperatorRegistry, *, resync_seconds: float, compare_seconds: float | None = None
) -> None:
    """Register every handler of the operator into ``registry``.

    ``compare_seconds`` is the shadow comparison's interval (default: STREAMFLOW_SHADOW_COMPARE_SECONDS
    or 300 s); the first comparison of a pipeline runs one interval after the operator starts or the
    pipeline appears, so a restart storm does not query every database at once.
    """
    compare = SHADOW_COMPARE_SECONDS.value() if compare_seconds is None else compare_seconds
    on = kopf.on
    on.startup(registry=registry, id="configure")(configure)
    on.login(registry=registry, id="login")(login)
    _on_spec(registry, PIPELINES, "pipeline", pipeline_changed)
    kopf.timer(GROUP, VERSION, PIPELINES, registry=registry, id="pipeline-resync", interval=resync_seconds)(
        pipeline_resync
    )
    kopf.timer(
        GROUP,
        VERSION,
        PIPELINES,
        registry=registry,
        id="pipeline-shadow-compare",
        interval=compare,
        initial_delay=compare,
        when=has_shadow_model,
    )(pipeline_shadow_compare)
    on.event(GROUP, VERSION, PIPELINES, registry=registry, id="pipeline-event")(pipeline_event)
    on.delete(
        GROUP, VERSION, PIPELINES, registry=registry, id="pipeline-topic-cleanup", when=_needs_topic_cleanup
    )(pipeline_deleted)

    _on_spec(registry, MODELS, "model", model_changed)
    kopf.timer(GROUP, VERSION, MODELS, registry=registry, id="model-resync", interval=resync_seconds)(
        model_changed
    )
    on.event(GROUP, VERSION, MODELS, registry=registry, id="model-event")(model_event)

    on.event(
        "flink.apache.org",
        "v1beta1",
        "flinkdeployments",
        registry=registry,
        id="flinkdeployment-status",
        labels={"app.kubernetes.io/managed-by": MANAGED_BY, PIPELINE_LABEL: kopf.PRESENT},
    )(flink_deployment_event)
