"""The Flink pods' ServiceAccount, Role and RoleBinding: least privilege, one set per pipeline."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render import render_all
from fraud_operator.render.flink import render_flinkdeployment
from fraud_operator.render.rbac import JOBMANAGER_RULES, render_flink_rbac


def test_account_role_and_binding_belong_together(pipeline: FraudPipeline, model: FraudModel) -> None:
    account, role, binding = render_flink_rbac(pipeline)
    assert [d["kind"] for d in (account, role, binding)] == ["ServiceAccount", "Role", "RoleBinding"]
    assert {d["metadata"]["name"] for d in (account, role, binding)} == {"payments-flink"}
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "payments-flink",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "payments-flink", "namespace": "default"}
    ]
    assert render_flinkdeployment(pipeline, model)["spec"]["serviceAccount"] == "payments-flink"


def test_rules_are_least_privilege(pipeline: FraudPipeline) -> None:
    role = render_flink_rbac(pipeline)[1]
    granted = {
        (g, r): set(rule["verbs"])
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert granted == {
        ("", "pods"): {"get", "list", "watch", "create", "delete"},
        ("", "configmaps"): {
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        },
        ("apps", "deployments"): {"get"},
    }
    assert not any("*" in str(rule) for rule in role["rules"])
    # reading Deployments is narrowed to the pipeline's own JobManager Deployment
    deployments = next(rule for rule in role["rules"] if rule["resources"] == ["deployments"])
    assert deployments["resourceNames"] == ["payments"]
    assert len(role["rules"]) == len(JOBMANAGER_RULES)


def test_an_existing_account_gets_nothing_rendered(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline_doc["spec"]["flink"]["serviceAccount"] = "flink"
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    assert render_flink_rbac(pipeline) == []
    assert render_flinkdeployment(pipeline, model)["spec"]["serviceAccount"] == "flink"


def test_workload_identity_annotates_the_account(pipeline_doc: dict[str, Any]) -> None:
    flink = pipeline_doc["spec"]["flink"]
    flink.pop("stateVolumeClaim")
    flink["storageUri"] = "s3://ckpt/flink"
    flink["storageCredentials"] = {
        "serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/f"}
    }
    account = render_flink_rbac(FraudPipeline.model_validate(pipeline_doc))[0]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/f"}


def test_rbac_comes_before_the_deployment_that_uses_it(pipeline: FraudPipeline, model: FraudModel) -> None:
    kinds = [child["kind"] for child in render_all(pipeline, model)]
    assert kinds.index("RoleBinding") < kinds.index("FlinkDeployment")
    assert kinds.index("ServiceAccount") < kinds.index("FlinkDeployment")
