"""PodDisruptionBudgets (policy/v1) for the JobManager and the TaskManagers of a pipeline.

The selectors combine our pipeline label (from the pod template) with the ``component`` label that Flink's
native Kubernetes mode puts on its JobManager and TaskManager pods.
"""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.naming import common_labels, pod_selector

__all__ = ["render_pdbs"]


def _pdb(pipeline: FraudPipeline, component: str, max_unavailable: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": f"{pipeline.metadata.name}-{component}",
            "namespace": pipeline.metadata.namespace,
            "labels": common_labels(pipeline, component),
        },
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": {"matchLabels": {**pod_selector(pipeline), "component": component}},
        },
    }


def render_pdbs(pipeline: FraudPipeline) -> list[dict[str, Any]]:
    """PDBs for ``jobmanager`` and ``taskmanager``; none when spec.disruptionBudget.enabled is false."""
    budget = pipeline.spec.disruption_budget
    if not budget.enabled:
        return []
    return [
        _pdb(pipeline, "jobmanager", budget.job_manager_max_unavailable),
        _pdb(pipeline, "taskmanager", budget.task_manager_max_unavailable),
    ]
