"""spec.detector.alertBudget through the operator: the threshold comes from the active model's table.

A model without a table makes the pipeline Degraded naming the field, and nothing of the pipeline is
written; pointing it at a model with a table renders that model's threshold into the job's config and
reports it in status.alertThreshold.
"""

from __future__ import annotations

import json

import pytest
from kopf.testing import KopfRunner

from tests.conftest import wait_for
from tests.operator.integration.conftest import Cluster, sample

pytestmark = pytest.mark.cluster

MODELS = "streamflow.io/v1alpha1"


def test_an_alert_budget_takes_the_active_models_threshold(operator: KopfRunner, cluster: Cluster) -> None:
    with_table = sample("fraudmodel-iforest-v1")
    assert with_table["spec"]["alerting"]["budgets"], "the sample model carries thresholds by budget"
    without = sample("fraudmodel-hgb-v2")
    assert "alerting" not in without["spec"]
    cluster.apply(with_table, without)
    wait_for(
        lambda: (
            [m.get("status", {}).get("phase") for m in cluster.items(MODELS, "FraudModel")] == ["Ready"] * 2
        ),
        what="both FraudModels Ready",
    )

    pipeline = sample("fraudpipeline-payments")
    pipeline["spec"]["modelRef"] = {"name": "hgb-v2"}
    pipeline["spec"].pop("shadowModelRef", None)
    pipeline["spec"]["detector"]["alertBudget"] = {"alertsPerDay": 150}
    cluster.apply(pipeline)
    degraded = cluster.wait_condition("payments", "Degraded", "True", "AlertBudgetUnavailable")
    assert degraded["message"].startswith("spec.detector.alertBudget: FraudModel hgb-v2 has no spec.alerting")
    assert not cluster.items("v1", "ConfigMap", "streamflow.io/pipeline=payments")

    cluster.kubectl(
        "patch",
        "fp",
        "payments",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"modelRef": {"name": "iforest-v1"}}}),
    )
    expected = next(b for b in with_table["spec"]["alerting"]["budgets"] if b["alertsPerDay"] == 100)[
        "threshold"
    ]

    def rendered() -> float | None:
        cm = cluster.get("v1", "ConfigMap", "payments-detector-config")
        return (
            None
            if cm is None
            else float(json.loads(cm["data"]["detector.json"])["detector"]["alert_threshold"])
        )

    assert wait_for(rendered, timeout=60, what="the detector config") == expected
    cluster.run_flink_job("payments")
    assert cluster.pipeline("payments")["status"]["alertThreshold"] == expected
    assert cluster.condition("payments", "Degraded")["status"] == "False"
