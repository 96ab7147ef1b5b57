"""Pure rendering of a FraudPipeline's children as plain dicts (no Kubernetes client, no I/O).

Owner references are added by the apply layer; everything else a child needs is decided here.
"""

from __future__ import annotations

from typing import Any

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.config import (
    AlertBudgetUnavailable,
    alert_threshold,
    config_hash,
    detector_config,
    render_detector_configmap,
)
from fraud_operator.render.cronjobs import ScheduleError, render_transform_cronjobs
from fraud_operator.render.flink import render_flinkdeployment
from fraud_operator.render.kafka import TopicSpec, render_kafka_topics, topic_specs
from fraud_operator.render.monitoring import render_pod_monitor
from fraud_operator.render.network import render_network_policies
from fraud_operator.render.pdb import render_pdbs
from fraud_operator.render.rbac import render_flink_rbac

__all__ = [
    "AlertBudgetUnavailable",
    "ScheduleError",
    "TopicSpec",
    "alert_threshold",
    "config_hash",
    "detector_config",
    "render_all",
    "render_detector_configmap",
    "render_flink_rbac",
    "render_flinkdeployment",
    "render_kafka_topics",
    "render_network_policies",
    "render_pdbs",
    "render_pod_monitor",
    "render_transform_cronjobs",
    "topic_specs",
]


def render_all(
    pipeline: FraudPipeline, model: FraudModel | None, shadow_model: FraudModel | None = None
) -> list[dict[str, Any]]:
    """Every Kubernetes child of ``pipeline`` in apply order (config and RBAC before the job that uses them).

    Raises ScheduleError for a ``spec.database.schedules`` entry the CRD schema cannot judge.
    """
    return [
        render_detector_configmap(pipeline, model, shadow_model),
        *render_kafka_topics(pipeline),
        *render_flink_rbac(pipeline),
        render_flinkdeployment(pipeline, model, shadow_model),
        *render_network_policies(pipeline),
        *render_pdbs(pipeline),
        *render_pod_monitor(pipeline),
        *render_transform_cronjobs(pipeline),
    ]
