"""PodDisruptionBudgets for the JobManager and TaskManagers."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.pdb import render_pdbs


def test_two_budgets(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["disruptionBudget"]["taskManagerMaxUnavailable"] = 2
    pdbs = render_pdbs(FraudPipeline.model_validate(pipeline_doc))
    assert [p["metadata"]["name"] for p in pdbs] == ["payments-jobmanager", "payments-taskmanager"]
    jm, tm = pdbs
    assert jm["apiVersion"] == "policy/v1"
    assert jm["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"streamflow.io/pipeline": "payments", "component": "jobmanager"}},
    }
    assert tm["spec"]["maxUnavailable"] == 2
    assert tm["spec"]["selector"]["matchLabels"]["component"] == "taskmanager"
    assert tm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "streamflow-operator"


def test_disabled(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["disruptionBudget"]["enabled"] = False
    assert render_pdbs(FraudPipeline.model_validate(pipeline_doc)) == []
