"""The detector's configuration file (``detector.json``) and the ConfigMap that carries it.

Contract with ``python -m fraud_jobs.detector --config FILE``: a JSON object with snake_case keys, described
in :func:`detector_config`. It never contains secret values: credentials reach the job only as environment
variables filled from Secrets, and the config names those variables.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fraud_jobs.config import RULE_FIELDS
from fraud_jobs.rules import RULES
from fraud_operator.api.detector import api_field_name
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import DetectorSpec, FraudPipeline
from fraud_operator.render.naming import (
    CONFIG_FILE,
    CONFIG_HASH_ANNOTATION,
    common_labels,
    configmap_name,
    topic_names,
)

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "ENV_DB_PASSWORD",
    "ENV_DB_USER",
    "ENV_KAFKA_PASSWORD",
    "ENV_KAFKA_USERNAME",
    "AlertBudgetUnavailable",
    "alert_threshold",
    "bootstrap_servers",
    "config_hash",
    "detector_config",
    "detector_section",
    "render_detector_configmap",
]

CONFIG_SCHEMA_VERSION = 1
ENV_KAFKA_USERNAME = "KAFKA_USERNAME"
ENV_KAFKA_PASSWORD = "KAFKA_PASSWORD"
ENV_DB_USER = "PGUSER"
ENV_DB_PASSWORD = "PGPASSWORD"


def bootstrap_servers(pipeline: FraudPipeline) -> str:
    """Bootstrap servers from the spec, or the Strimzi bootstrap Service of the named cluster."""
    kafka = pipeline.spec.kafka
    if kafka.bootstrap_servers:
        return kafka.bootstrap_servers
    return f"{kafka.strimzi_cluster}-kafka-bootstrap.{pipeline.metadata.namespace}.svc:9092"


def _model_entry(model: FraudModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    spec = model.spec
    return {
        "name": model.metadata.name,
        "version": spec.version,
        "algorithm": spec.algorithm,
        "uri": spec.artifact.uri,
        "sha256": spec.artifact.sha256,
        "feature_schema_id": spec.feature_schema_id,
    }


class AlertBudgetUnavailable(ValueError):
    """spec.detector.alertBudget cannot be turned into a threshold with this model (the message says why)."""


def alert_threshold(detector: DetectorSpec, model: FraudModel | None) -> float:
    """The score the job alerts at: ``alertThreshold``, or with ``alertBudget`` the threshold the model's
    ``spec.alerting`` gives for the largest budget not above it. Without a model (nothing is deployed
    then) ``alertThreshold``. Raises AlertBudgetUnavailable naming the fields."""
    budget = detector.alert_budget
    if budget is None or model is None:
        return detector.alert_threshold
    alerting = model.spec.alerting
    name = model.metadata.name
    if alerting is None:
        raise AlertBudgetUnavailable(
            f"spec.detector.alertBudget: FraudModel {name} has no spec.alerting (thresholds by budget are "
            "measured by `streamflow model train`); set spec.detector.alertThreshold instead"
        )
    entry = alerting.threshold_for(budget.alerts_per_day)
    if entry is None:
        smallest = min(b.alerts_per_day for b in alerting.budgets)
        raise AlertBudgetUnavailable(
            f"spec.detector.alertBudget.alertsPerDay: {budget.alerts_per_day} is below the smallest budget "
            f"FraudModel {name} has a threshold for ({smallest} a day)"
        )
    return entry.threshold


def detector_section(detector: DetectorSpec, model: FraudModel | None = None) -> dict[str, Any]:
    """spec.detector in the shape of ``fraud_jobs.config.DetectorConfig`` (its field names and units), the
    alert threshold resolved (:func:`alert_threshold`).

    The rules are mapped by the same table the API was generated from (``fraud_jobs.rules.RULES``), so a
    rule parameter added to the job reaches the API and this section without a hand-written mapping.
    """
    section: dict[str, Any] = {}
    for rule in RULES:
        values = getattr(detector.rules, rule.name).model_dump()
        section[RULE_FIELDS[rule.code]] = {
            name: _sets_sorted(values[api_field_name(name)]) for name in rule.model_fields
        }
    return {
        **section,
        "alpha": detector.alpha,
        "alert_threshold": alert_threshold(detector, model),
        "state_ttl_s": float(detector.state_ttl_seconds),
        "label_delay_s": float(detector.label_delay_seconds),
    }


def _sets_sorted(value: Any) -> Any:
    """Sets (the blocklists) sorted, so equal specs render byte-equal configs (the config hash)."""
    return sorted(value) if isinstance(value, list) else value


def detector_config(
    pipeline: FraudPipeline, model: FraudModel | None, shadow_model: FraudModel | None = None
) -> dict[str, Any]:
    """The detector configuration as a JSON-ready dict.

        ``model`` is the resolved ``spec.modelRef`` (None renders a rules-only config; the operator decides
    whether     to deploy that), ``shadow_model`` the resolved ``spec.shadowModelRef``.
    """
    spec = pipeline.spec
    kafka = spec.kafka
    name = pipeline.metadata.name
    namespace = pipeline.metadata.namespace
    credentials = kafka.credentials_secret_ref
    return {
        "schema_version": CONFIG_SCHEMA_VERSION,
        "pipeline": {"name": name, "namespace": namespace},
        "kafka": {
            "bootstrap_servers": bootstrap_servers(pipeline),
            "security_protocol": kafka.security_protocol,
            "sasl_mechanism": kafka.sasl_mechanism if kafka.security_protocol.startswith("SASL") else None,
            "username_env": ENV_KAFKA_USERNAME if credentials else None,
            "password_env": ENV_KAFKA_PASSWORD if credentials else None,
            "consumer_group": f"{namespace}.{name}.detector",
            "transactional_id_prefix": f"{namespace}.{name}.detector",
            "alert_delivery": spec.detector.alert_delivery,
        },
        "topics": topic_names(pipeline),
        "database": {
            "host": f"{spec.database.cnpg_cluster}-rw.{namespace}.svc",
            "port": 5432,
            "database": spec.database.database,
            "user_env": ENV_DB_USER,
            "password_env": ENV_DB_PASSWORD,
        },
        "detector": detector_section(spec.detector, model),
        "model": _model_entry(model),
        "shadow_model": _model_entry(shadow_model),
        "checkpointing": {
            "mode": "EXACTLY_ONCE",
            "interval_seconds": spec.flink.checkpoint_interval_seconds,
        },
    }


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def config_hash(config: dict[str, Any]) -> str:
    """Short stable digest of a detector config; a change of it rolls the Flink job."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()[:16]


def render_detector_configmap(
    pipeline: FraudPipeline, model: FraudModel | None, shadow_model: FraudModel | None = None
) -> dict[str, Any]:
    """The ConfigMap with ``detector.json`` (pretty, sorted) and the config hash as annotation."""
    config = detector_config(pipeline, model, shadow_model)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(pipeline),
            "namespace": pipeline.metadata.namespace,
            "labels": common_labels(pipeline, "detector-config"),
            "annotations": {CONFIG_HASH_ANNOTATION: config_hash(config)},
        },
        "data": {CONFIG_FILE: json.dumps(config, sort_keys=True, indent=2) + "\n"},
    }
