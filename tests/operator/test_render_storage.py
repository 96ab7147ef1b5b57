"""Durable state: each storage variant renders the mounts, credentials and configuration it needs.

Credentials reach the pods only as secretKeyRef variables or a read-only Secret volume; nothing secret is
ever written into the FlinkDeployment's flinkConfiguration (which the Flink operator keeps in a ConfigMap).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fraud_operator.api.crdgen import crd_documents
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.storage import (
    FILESYSTEM_PLUGINS,
    OBJECT_STORE_SCHEMES,
    STORAGE_SCHEMES,
    plugin_for,
)
from fraud_operator.api.structural import crd_schema
from fraud_operator.render.flink import STORAGE_SECRET_MOUNT, render_flinkdeployment
from pydantic import ValidationError


def _with_storage(doc: dict[str, Any], **flink: Any) -> FraudPipeline:
    spec = doc["spec"]["flink"]
    spec.pop("stateVolumeClaim", None)
    spec.update(flink)
    return FraudPipeline.model_validate(doc)


def _container(rendered: dict[str, Any]) -> dict[str, Any]:
    return dict(rendered["spec"]["podTemplate"]["spec"]["containers"][0])


def _env(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in _container(rendered)["env"]}


def test_accepted_schemes_are_exactly_the_image_plugins_plus_file() -> None:
    assert set(STORAGE_SCHEMES) == {"file"} | {s for p in FILESYSTEM_PLUGINS for s in p.schemes}
    assert len(STORAGE_SCHEMES) == len(set(STORAGE_SCHEMES)), "two plugins claim one scheme"
    pattern = crd_schema(crd_documents()["fraudpipelines.streamflow.io.yaml"])["properties"]["spec"][
        "properties"
    ]["flink"]["properties"]["storageUri"]["pattern"]
    for scheme in STORAGE_SCHEMES:
        assert re.match(pattern, f"{scheme}://bucket/flink"), scheme
    for unserved in ("s3a", "hdfs", "oss", "http", "abf"):
        assert not re.match(pattern, f"{unserved}://bucket/flink"), unserved


@pytest.mark.parametrize("scheme", ["s3a", "hdfs", "oss"])
def test_a_scheme_whose_plugin_is_not_in_the_image_is_refused(
    pipeline_doc: dict[str, Any], scheme: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _with_storage(pipeline_doc, storageUri=f"{scheme}://bucket/flink")
    assert "storageUri" in str(info.value)


@pytest.mark.parametrize("scheme", OBJECT_STORE_SCHEMES)
def test_object_stores_need_no_volume(pipeline_doc: dict[str, Any], model: FraudModel, scheme: str) -> None:
    uri = (
        f"{scheme}://bucket@acct.dfs.core.windows.net/flink"
        if scheme.startswith(("abfs", "wasb"))
        else f"{scheme}://b/f"
    )
    rendered = render_flinkdeployment(_with_storage(pipeline_doc, storageUri=uri), model)
    conf = rendered["spec"]["flinkConfiguration"]
    assert conf["execution.checkpointing.dir"] == f"{uri}/default/payments/checkpoints"
    assert conf["high-availability.storageDir"] == f"{uri}/default/payments/ha"
    assert "flink-data" not in {v["name"] for v in rendered["spec"]["podTemplate"]["spec"]["volumes"]}
    assert plugin_for(uri) is not None


def test_s3_credentials_come_from_the_secret(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline = _with_storage(
        pipeline_doc, storageUri="s3://ckpt/flink", storageCredentials={"secretRef": {"name": "flink-s3"}}
    )
    rendered = render_flinkdeployment(pipeline, model)
    env = _env(rendered)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "flink-s3", "key": name}}}
    assert not any("s3." in key for key in rendered["spec"]["flinkConfiguration"])


def test_gcs_key_file_is_a_read_only_secret_volume(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline = _with_storage(
        pipeline_doc, storageUri="gs://ckpt/flink", storageCredentials={"secretRef": {"name": "flink-gcs"}}
    )
    rendered = render_flinkdeployment(pipeline, model)
    volumes = {v["name"]: v for v in rendered["spec"]["podTemplate"]["spec"]["volumes"]}
    assert volumes["storage-credentials"]["secret"] == {
        "secretName": "flink-gcs",
        "items": [{"key": "credentials.json", "path": "credentials.json"}],
    }
    mounts = {m["name"]: m for m in _container(rendered)["volumeMounts"]}
    assert mounts["storage-credentials"] == {
        "name": "storage-credentials",
        "mountPath": STORAGE_SECRET_MOUNT,
        "readOnly": True,
    }
    path = _env(rendered)["GOOGLE_APPLICATION_CREDENTIALS"]["value"]
    assert path == f"{STORAGE_SECRET_MOUNT}/credentials.json"


def test_wasb_key_comes_from_the_environment(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    uri = "wasbs://ckpt@acct.blob.core.windows.net/flink"
    pipeline = _with_storage(pipeline_doc, storageUri=uri, storageCredentials={"secretRef": {"name": "az"}})
    rendered = render_flinkdeployment(pipeline, model)
    assert _env(rendered)["AZURE_STORAGE_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "az",
        "key": "AZURE_STORAGE_KEY",
    }
    conf = rendered["spec"]["flinkConfiguration"]
    provider = "org.apache.flink.fs.azurefs.EnvironmentVariableKeyProvider"
    assert conf["fs.azure.account.keyprovider.acct.blob.core.windows.net"] == provider


def test_azure_workload_identity_labels_the_pods(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline = _with_storage(
        pipeline_doc,
        storageUri="abfss://ckpt@acct.dfs.core.windows.net/flink",
        storageCredentials={"serviceAccountAnnotations": {"azure.workload.identity/client-id": "id"}},
    )
    labels = render_flinkdeployment(pipeline, model)["spec"]["podTemplate"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_no_literal_values_but_the_key_file_path(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    for uri in ("s3://b/f", "gs://b/f", "wasbs://c@a.blob.core.windows.net/f"):
        pipeline = _with_storage(
            pipeline_doc, storageUri=uri, storageCredentials={"secretRef": {"name": "creds"}}
        )
        for entry in _container(render_flinkdeployment(pipeline, model))["env"]:
            if "value" in entry:
                assert entry["name"] == "GOOGLE_APPLICATION_CREDENTIALS", entry
