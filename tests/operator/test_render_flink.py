"""The rendered FlinkDeployment: valid under the Flink operator CRD, PythonDriver job, restricted pods."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import crd_schema, validate
from fraud_operator.render.flink import (
    MODEL_CACHE_MOUNT,
    PYTHON_DRIVER,
    ROCKSDB_DEFAULTS,
    render_flinkdeployment,
)

_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The checks of Pod Security Standard `restricted` (v1.34) that a pod template can fail."""
    problems: list[str] = []
    pod_ctx = pod_spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"{flag} set")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} of type {kinds}")
    containers = pod_spec.get("containers", []) + pod_spec.get("initContainers", [])
    for container in containers:
        ctx = container.get("securityContext", {})
        name = container["name"]
        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if "ALL" not in ctx.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(ctx.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot must be true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort")
    return problems


def _variants(doc: dict[str, Any]) -> list[FraudPipeline]:
    base = FraudPipeline.model_validate(doc)
    flink = doc["spec"]["flink"]
    ha = {
        **doc,
        "spec": {**doc["spec"], "flink": {**flink, "highAvailability": True, "upgradeMode": "last-state"}},
    }
    pvc = {
        **doc,
        "spec": {
            **doc["spec"],
            "suspend": True,
            "flink": {**flink, "stateVolumeClaim": "flink-state", "modelVolumeClaim": "models"},
        },
    }
    bare = {k: v for k, v in flink.items() if k != "stateVolumeClaim"}
    gcs = {
        **doc,
        "spec": {
            **doc["spec"],
            "flink": {**bare, "storageUri": "gs://b/f", "storageCredentials": {"secretRef": {"name": "gcs"}}},
        },
    }
    ephemeral = {
        **doc,
        "spec": {**doc["spec"], "flink": {**bare, "allowStateLoss": True, "highAvailability": False}},
    }
    sasl = {
        **doc,
        "spec": {
            **doc["spec"],
            "kafka": {
                "bootstrapServers": "broker-0.kafka:9093,broker-1.kafka:9093",
                "securityProtocol": "SASL_SSL",
                "credentialsSecretRef": {"name": "kafka-creds"},
            },
        },
    }
    return [base, *(FraudPipeline.model_validate(d) for d in (ha, pvc, gcs, ephemeral, sasl))]


def conf_of(pipeline_doc: dict[str, Any], model: FraudModel, flink: dict[str, Any]) -> dict[str, str]:
    """The rendered Flink configuration after ``flink`` is merged into the pipeline's spec."""
    pipeline_doc["spec"]["flink"].update(flink)
    rendered = render_flinkdeployment(FraudPipeline.model_validate(pipeline_doc), model)
    return dict(rendered["spec"]["flinkConfiguration"])


def test_valid_under_the_flink_operator_crd(
    pipeline_doc: dict[str, Any], model: FraudModel, shadow_model: FraudModel, flink_crd: dict[str, Any]
) -> None:
    schema = crd_schema(flink_crd)
    for variant in _variants(pipeline_doc):
        rendered = render_flinkdeployment(variant, model, shadow_model)
        assert validate(rendered, schema) == [], variant.spec.flink


def test_structural_validator_would_catch_a_bad_flinkdeployment(
    pipeline: FraudPipeline, model: FraudModel, flink_crd: dict[str, Any]
) -> None:
    rendered = render_flinkdeployment(pipeline, model)
    rendered["spec"]["job"]["upgradeMode"] = "rolling"
    rendered["spec"]["jobManager"]["resources"] = {}
    errors = validate(rendered, crd_schema(flink_crd))
    assert any(e.startswith("spec.job.upgradeMode:") for e in errors)
    assert "spec.jobManager.resources: unknown field" in errors


def test_python_driver_job(pipeline: FraudPipeline, model: FraudModel) -> None:
    spec = render_flinkdeployment(pipeline, model)["spec"]
    job = spec["job"]
    assert job["entryClass"] == PYTHON_DRIVER == "org.apache.flink.client.python.PythonDriver"
    assert job["jarURI"] == "local:///opt/flink/opt/flink-python-2.2.1.jar"
    assert job["args"] == ["-pym", "fraud_jobs.detector", "--config", "/opt/streamflow/config/detector.json"]
    assert job["upgradeMode"] == "savepoint"
    assert job["parallelism"] == pipeline.spec.detector.parallelism == 2
    assert job["state"] == "running"
    assert spec["flinkVersion"] == "v2_2"
    assert spec["mode"] == "native"


def test_suspend_suspends_the_job(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline_doc["spec"]["suspend"] = True
    rendered = render_flinkdeployment(FraudPipeline.model_validate(pipeline_doc), model)
    assert rendered["spec"]["job"]["state"] == "suspended"


def test_flink_configuration(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline_doc["spec"]["flink"]["extraConfiguration"] = {"python.execution-mode": "thread"}
    conf = render_flinkdeployment(FraudPipeline.model_validate(pipeline_doc), model)["spec"][
        "flinkConfiguration"
    ]
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["execution.checkpointing.interval"] == "30s"
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["execution.checkpointing.incremental"] == "true"
    assert conf["state.backend.rocksdb.use-bloom-filter"] == "true"
    assert conf["execution.checkpointing.dir"] == "file:///flink-data/default/payments/checkpoints"
    assert conf["execution.checkpointing.savepoint-dir"] == "file:///flink-data/default/payments/savepoints"
    assert conf["pipeline.max-parallelism"] == "128"
    assert conf["python.execution-mode"] == "thread"
    # HA is on by default, its storageDir on the same durable storage as the checkpoints
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["high-availability.storageDir"] == "file:///flink-data/default/payments/ha"
    assert all(isinstance(v, str) for v in conf.values())


def test_rocksdb_defaults_yield_to_extra_configuration_and_the_heap_backend(
    pipeline_doc: dict[str, Any], model: FraudModel
) -> None:
    no_filter = {"state.backend.rocksdb.use-bloom-filter": "false"}
    conf = conf_of(pipeline_doc, model, {"extraConfiguration": no_filter})
    assert conf["state.backend.rocksdb.use-bloom-filter"] == "false"
    assert conf["execution.checkpointing.incremental"] == "true"
    assert conf["state.backend.rocksdb.compression.per.level"] == "LZ4_COMPRESSION"
    conf = conf_of(pipeline_doc, model, {"stateBackend": "hashmap", "extraConfiguration": {}})
    assert not set(ROCKSDB_DEFAULTS) & set(conf)


def test_changelog_writes_beside_the_checkpoints(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    defaults = conf_of(pipeline_doc, model, {})
    assert not any(key.startswith(("state.changelog.", "execution.state-recovery")) for key in defaults)
    mine = {"state.changelog.periodic-materialize.interval": "3min"}
    changelog = {"changelog": True, "stateBackend": "hashmap", "extraConfiguration": mine}
    conf = conf_of(pipeline_doc, model, changelog)
    assert conf["state.changelog.enabled"] == "true"
    assert conf["state.changelog.storage"] == "filesystem"
    assert conf["state.changelog.dstl.dfs.base-path"] == "file:///flink-data/default/payments/changelog"
    assert conf["state.changelog.periodic-materialize.interval"] == "3min"  # the user's tuning stays
    assert conf["execution.state-recovery.claim-mode"] == "CLAIM"  # NO_CLAIM fails every checkpoint
    overridden = {"state.changelog.enabled": "false", "state.changelog.dstl.dfs.base-path": "file:///tmp"}
    conf = conf_of(pipeline_doc, model, {"changelog": True, "extraConfiguration": overridden})
    assert conf["state.changelog.enabled"] == "true"
    assert conf["state.changelog.dstl.dfs.base-path"] == "file:///flink-data/default/payments/changelog"


def test_high_availability_configuration(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    flink = pipeline_doc["spec"]["flink"]
    flink.pop("stateVolumeClaim")
    flink.update({"highAvailability": True, "storageUri": "s3://ckpt/flink"})
    conf = render_flinkdeployment(FraudPipeline.model_validate(pipeline_doc), model)["spec"][
        "flinkConfiguration"
    ]
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["high-availability.storageDir"] == "s3://ckpt/flink/default/payments/ha"


def test_no_high_availability_with_explicit_state_loss(
    pipeline_doc: dict[str, Any], model: FraudModel
) -> None:
    flink = pipeline_doc["spec"]["flink"]
    flink.pop("stateVolumeClaim")
    flink.update({"allowStateLoss": True, "highAvailability": False})
    rendered = render_flinkdeployment(FraudPipeline.model_validate(pipeline_doc), model)["spec"]
    assert "high-availability.type" not in rendered["flinkConfiguration"]
    volumes = {v["name"]: v for v in rendered["podTemplate"]["spec"]["volumes"]}
    assert volumes["flink-data"] == {"name": "flink-data", "emptyDir": {}}


def test_pod_template_passes_restricted(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    for variant in _variants(pipeline_doc):
        template = render_flinkdeployment(variant, model)["spec"]["podTemplate"]
        assert restricted_violations(template["spec"]) == []


def test_restricted_checker_catches_root_and_hostpath(pipeline: FraudPipeline, model: FraudModel) -> None:
    pod = render_flinkdeployment(pipeline, model)["spec"]["podTemplate"]["spec"]
    pod["securityContext"]["runAsUser"] = 0
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    problems = restricted_violations(pod)
    assert "flink-main-container: runAsUser 0" in problems
    assert any(p.startswith("volume host") for p in problems)


def test_read_only_root_with_writable_dirs(pipeline: FraudPipeline, model: FraudModel) -> None:
    pod = render_flinkdeployment(pipeline, model)["spec"]["podTemplate"]["spec"]
    container = pod["containers"][0]
    assert container["name"] == "flink-main-container"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in ("/tmp", "/opt/flink/log", MODEL_CACHE_MOUNT):
        assert "emptyDir" in volumes[mounts[path]], path
    # the sample's state is on its claim, not on an emptyDir
    assert volumes[mounts["/flink-data"]]["persistentVolumeClaim"] == {"claimName": "flink-state"}
    config = volumes[mounts["/opt/streamflow/config"]]
    assert config["configMap"]["name"] == "payments-detector-config"


def test_credentials_only_from_secret_refs(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    pipeline = _variants(pipeline_doc)[-1]  # SASL with credentialsSecretRef
    env = render_flinkdeployment(pipeline, model)["spec"]["podTemplate"]["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert set(by_name) == {"KAFKA_USERNAME", "KAFKA_PASSWORD", "PGUSER", "PGPASSWORD"}
    for entry in env:
        assert "value" not in entry
        assert set(entry["valueFrom"]) == {"secretKeyRef"}
    assert by_name["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-creds",
        "key": "password",
    }
    assert by_name["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "streamflow-pg-app",
        "key": "password",
    }


def test_labels_and_annotations(pipeline: FraudPipeline, model: FraudModel) -> None:
    rendered = render_flinkdeployment(pipeline, model)
    labels = rendered["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "streamflow-operator"
    assert labels["app.kubernetes.io/instance"] == "payments"
    pod_meta = rendered["spec"]["podTemplate"]["metadata"]
    assert pod_meta["labels"]["streamflow.io/pipeline"] == "payments"
    digest = rendered["metadata"]["annotations"]["streamflow.io/config-hash"]
    assert pod_meta["annotations"]["streamflow.io/config-hash"] == digest
    assert "ownerReferences" not in rendered["metadata"]
