"""CronJobs for spec.database.schedules: rendered offline, admitted by the real API server (Pod Security)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.cronjobs import (
    MAX_CRONJOB_NAME,
    SCHEDULE_LABEL,
    ScheduleError,
    render_transform_cronjobs,
)
from fraud_operator.render.naming import common_labels
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.conftest import KubeCluster

SCHEDULES = [
    {"name": "bronze-to-silver", "schedule": "*/5 * * * *", "task": "transform"},
    {"name": "silver-to-gold", "schedule": "*/15 * * * *", "task": "transform"},
    {"name": "refresh-features-nightly", "schedule": "@daily", "task": "transform", "suspend": True},
    {"name": "quality", "schedule": "0 * * * *", "task": "check"},
]


def _pipeline(doc: dict[str, Any], namespace: str = "payments-ns", **database: Any) -> FraudPipeline:
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["database"].update({"schedules": SCHEDULES, **database})
    return FraudPipeline.model_validate(doc)


def _container(cronjob: dict[str, Any]) -> dict[str, Any]:
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_one_cronjob_per_schedule_running_the_db_command(pipeline_doc: dict[str, Any]) -> None:
    cronjobs = render_transform_cronjobs(_pipeline(pipeline_doc))

    assert [c["metadata"]["name"] for c in cronjobs] == [
        "payments-bronze-to-silver",
        "payments-silver-to-gold",
        "payments-refresh-features-nightly",
        "payments-quality",
    ]
    assert [_container(c)["command"] for c in cronjobs] == [
        ["streamflow", "db", "transform", "bronze_to_silver"],
        ["streamflow", "db", "transform", "silver_to_gold"],
        ["streamflow", "db", "transform", "refresh_features"],
        ["streamflow", "db", "check"],
    ]
    for cronjob, schedule in zip(cronjobs, SCHEDULES, strict=True):
        spec = cronjob["spec"]
        assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
        assert cronjob["metadata"]["namespace"] == "payments-ns"
        assert spec["schedule"] == schedule["schedule"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["suspend"] is bool(schedule.get("suspend", False))
        assert _container(cronjob)["image"] == pipeline_doc["spec"]["flink"]["image"]


def test_labels_are_ours_and_reach_the_pods(pipeline_doc: dict[str, Any]) -> None:
    pipeline = _pipeline(pipeline_doc)
    [first, *_] = render_transform_cronjobs(pipeline)
    expected = {**common_labels(pipeline, "database"), SCHEDULE_LABEL: "bronze-to-silver"}
    assert first["metadata"]["labels"] == expected
    assert first["spec"]["jobTemplate"]["metadata"]["labels"] == expected
    # The pipeline label puts the pods under the pipeline's NetworkPolicies (egress to PostgreSQL and DNS).
    assert first["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] == expected


def test_image_can_be_given(pipeline_doc: dict[str, Any]) -> None:
    [first, *_] = render_transform_cronjobs(_pipeline(pipeline_doc), image="registry.local/streamflow:1.2")
    assert _container(first)["image"] == "registry.local/streamflow:1.2"


def test_credentials_only_by_secret_reference(pipeline_doc: dict[str, Any]) -> None:
    for pipeline, secret in (
        (_pipeline(pipeline_doc), "streamflow-pg-app"),
        (_pipeline(pipeline_doc, credentialsSecretRef={"name": "db-owner"}, database="fraud"), "db-owner"),
    ):
        container = _container(render_transform_cronjobs(pipeline)[0])
        env = {e["name"]: e for e in container["env"]}
        assert env["PGUSER"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": "username"}}
        assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": "password"}}
        dsn = env["STREAMFLOW_PG_DSN"]["value"]
        database = pipeline.spec.database.database
        assert dsn == f"host=streamflow-pg-rw port=5432 dbname={database}"
        assert "password" not in dsn and "user" not in dsn
        literal = [e["name"] for e in container["env"] if "value" in e]
        assert literal == ["STREAMFLOW_PG_DSN", "HOME", "PYTHONDONTWRITEBYTECODE"]


def test_long_names_are_shortened_stably(pipeline_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pipeline_doc)
    doc["metadata"]["name"] = "p" * 45
    pipeline = _pipeline(doc)
    names = [c["metadata"]["name"] for c in render_transform_cronjobs(pipeline)]
    assert all(len(n) <= MAX_CRONJOB_NAME for n in names)
    assert len(set(names)) == len(names)
    assert names == [c["metadata"]["name"] for c in render_transform_cronjobs(pipeline)]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"name": "gold", "schedule": "@hourly", "task": "transform"}, "schedules[0] (gold): task transform"),
        ({"name": "vacuum", "schedule": "@hourly", "task": "vacuum"}, "unknown task 'vacuum'"),
    ],
)
def test_bad_schedules_are_refused_with_their_place(
    pipeline_doc: dict[str, Any], schedule: dict[str, str], expected: str
) -> None:
    doc = copy.deepcopy(pipeline_doc)
    doc["spec"]["database"]["schedules"] = [schedule]
    with pytest.raises(ScheduleError, match=r"spec\.database\.schedules") as info:
        render_transform_cronjobs(FraudPipeline.model_validate(doc))
    assert expected in str(info.value)


def test_no_schedules_no_cronjobs(pipeline_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pipeline_doc)
    doc["spec"]["database"]["schedules"] = []
    assert render_transform_cronjobs(FraudPipeline.model_validate(doc)) == []


# ---------------------------------------------------------------- the real API server


def _restricted_namespace(kube: KubeCluster, namespace: str) -> None:
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    client.CoreV1Api(kube.api_client).patch_namespace(namespace, {"metadata": {"labels": labels}})


@pytest.mark.cluster
def test_cronjobs_admitted_under_pod_security_restricted(
    kube: KubeCluster, namespace: str, pipeline_doc: dict[str, Any]
) -> None:
    _restricted_namespace(kube, namespace)
    password = "S3cret-never-rendered"
    client.CoreV1Api(kube.api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="streamflow-pg-app"),
            string_data={
                "username": "app",
                "password": password,
                "uri": f"postgresql://app:{password}@x/app",
            },
        ),
    )
    for cronjob in render_transform_cronjobs(_pipeline(pipeline_doc, namespace)):
        # kubectl prints the API server's warnings: Pod Security only warns (never refuses) for CronJobs.
        result = kube.kubectl(
            "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(cronjob)
        )
        assert "Warning" not in result.stderr, result.stderr
        admitted = json.loads(result.stdout)
        assert admitted["spec"]["concurrencyPolicy"] == "Forbid"
        assert password not in result.stdout and password not in json.dumps(cronjob)

        # The pod template itself, created as a Pod: here `enforce: restricted` decides.
        template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", **template["metadata"]}}
        pod["spec"] = template["spec"]
        created = client.CoreV1Api(kube.api_client).create_namespaced_pod(namespace, pod, dry_run="All")
        assert created.spec.security_context.run_as_non_root is True


@pytest.mark.cluster
def test_the_restricted_namespace_does_refuse_a_weaker_template(
    kube: KubeCluster, namespace: str, pipeline_doc: dict[str, Any]
) -> None:
    """Control: without it, an admission that lets everything through would pass the test above."""
    _restricted_namespace(kube, namespace)
    [cronjob, *_] = render_transform_cronjobs(_pipeline(pipeline_doc, namespace))
    spec = copy.deepcopy(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    del spec["containers"][0]["securityContext"]["capabilities"]
    weaker = copy.deepcopy(cronjob)
    weaker["spec"]["jobTemplate"]["spec"]["template"]["spec"] = spec
    result = kube.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(weaker))
    assert 'would violate PodSecurity "restricted' in result.stderr, result.stderr
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "weaker"}, "spec": spec}
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(kube.api_client).create_namespaced_pod(namespace, pod, dry_run="All")
    assert info.value.status == 403 and "restricted" in str(info.value.body)
