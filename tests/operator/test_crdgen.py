"""The committed CRDs are exactly what the generator makes from the models, and structural."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.api.crdgen import crd_documents, generated_files, main, missing_descriptions
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import apply_defaults, crd_schema, validate

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
SAMPLES = CRDS / "samples"


@pytest.mark.parametrize("file_name", sorted(generated_files()))
def test_committed_file_matches_generated(file_name: str) -> None:
    generated = generated_files()[file_name]
    committed = (CRDS / file_name).read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            "committed",
            "generated",
            n=1,
        )
    )
    assert not diff, f"crds/{file_name} is stale; run `python -m fraud_operator.api.crdgen`:\n{diff[:4000]}"


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    target = tmp_path / "fraudmodels.streamflow.io.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("fm", "fx"), encoding="utf-8")
    assert main(["--out", str(tmp_path), "--check"]) == 1


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for name, sub in node.get("properties", {}).items():
            found.extend(_walk(sub, f"{path}.{name}"))
        if isinstance(node.get("items"), dict):
            found.extend(_walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            found.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return found


@pytest.mark.parametrize("file_name", sorted(crd_documents()))
def test_schema_is_structural_and_documented(file_name: str) -> None:
    schema = crd_schema(crd_documents()[file_name])
    assert missing_descriptions(schema) == []
    for path, node in _walk(schema):
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "nullable"):
            assert forbidden not in node, f"{file_name}{path}: {forbidden}"
        assert "type" in node, f"{file_name}{path}: untyped node"
        if node["type"] == "object" and path.startswith(".spec"):
            assert "properties" in node or "additionalProperties" in node, f"{path}: free-form object in spec"
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", [])), f"{path}: map keys must be required"


def test_preserve_unknown_fields_only_where_intended() -> None:
    places = [
        f"{name}{path}"
        for name, crd in crd_documents().items()
        for path, node in _walk(crd_schema(crd))
        if node.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert places == ["fraudmodels.streamflow.io.yaml.status.comparison"]


def test_fraudpipeline_crd_surface() -> None:
    crd = crd_documents()["fraudpipelines.streamflow.io.yaml"]
    names = crd["spec"]["names"]
    assert (names["shortNames"], names["categories"], crd["spec"]["group"]) == (
        ["fp"],
        ["streamflow"],
        "streamflow.io",
    )
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["status"] == {}
    scale = version["subresources"]["scale"]
    assert scale["specReplicasPath"] == ".spec.detector.parallelism"
    assert scale["statusReplicasPath"] == ".status.parallelism"
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Model": ".status.activeModel",
        "Job state": ".status.jobState",
        "Parallelism": ".spec.detector.parallelism",
        "Age": ".metadata.creationTimestamp",
    }
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    flink = spec["properties"]["flink"]["properties"]
    assert flink["flinkVersion"]["default"] == "v2_2"
    assert flink["stateBackend"]["default"] == "rocksdb"
    assert flink["upgradeMode"]["default"] == "savepoint"
    assert spec["properties"]["detector"]["properties"]["alpha"]["maximum"] == 1.0
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert "!has(self.shadowModelRef) || self.shadowModelRef.name != self.modelRef.name" in rules
    kafka_rules = [r["rule"] for r in spec["properties"]["kafka"]["x-kubernetes-validations"]]
    assert "has(self.bootstrapServers) || has(self.strimziCluster)" in kafka_rules
    partitions = spec["properties"]["kafka"]["properties"]["topics"]["properties"]["partitions"]
    assert partitions["minimum"] == 1
    assert partitions["x-kubernetes-validations"][0]["rule"] == "self >= oldSelf"


def test_fraudmodel_crd_surface() -> None:
    crd = crd_documents()["fraudmodels.streamflow.io.yaml"]
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["fm"]
    assert "scale" not in version["subresources"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Version",
        "Algorithm",
        "AUC",
        "AP",
        "CP@100",
        "Threshold@100/day",
        "Alerts/day",
        "Phase",
        "Used by",
        "Age",
    ]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Ready", "Rejected"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["x-kubernetes-validations"][0]["rule"] == "self == oldSelf"


def _sample_docs() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(SAMPLES.glob("*.yaml"))]


def test_samples_are_valid_under_generated_crds_and_models() -> None:
    docs = _sample_docs()
    assert sorted(d["kind"] for d in docs) == ["FraudModel", "FraudModel", "FraudPipeline"]
    schemas = {
        "FraudPipeline": crd_schema(crd_documents()["fraudpipelines.streamflow.io.yaml"]),
        "FraudModel": crd_schema(crd_documents()["fraudmodels.streamflow.io.yaml"]),
    }
    for doc in docs:
        assert validate(apply_defaults(doc, schemas[doc["kind"]]), schemas[doc["kind"]]) == []
        parser = FraudPipeline if doc["kind"] == "FraudPipeline" else FraudModel
        parser.model_validate(doc)


def test_crd_defaults_agree_with_model_defaults() -> None:
    """What the API server stores after defaulting equals what the pydantic models assume."""
    schema = crd_schema(crd_documents()["fraudpipelines.streamflow.io.yaml"])["properties"]["spec"]
    minimal = {
        "kafka": {"bootstrapServers": "kafka:9092"},
        "database": {"cnpgCluster": "pg"},
        "modelRef": {"name": "m1"},
        "flink": {"image": "img:1", "stateVolumeClaim": "flink-state"},
    }
    defaulted = apply_defaults(minimal, schema)
    assert validate(defaulted, schema) == []
    from fraud_operator.api.pipeline import FraudPipelineSpec

    expected = FraudPipelineSpec.model_validate(minimal).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert defaulted == expected


def test_generated_schema_refuses_what_the_models_refuse(pipeline_doc: dict[str, Any]) -> None:
    schema = crd_schema(crd_documents()["fraudpipelines.streamflow.io.yaml"])
    pipeline_doc["spec"]["detector"]["alpha"] = 1.5
    pipeline_doc["spec"]["flink"]["upgradeMode"] = "rolling"
    pipeline_doc["spec"]["detector"]["paralelism"] = 3
    errors = validate(pipeline_doc, schema)
    assert any(e.startswith("spec.detector.alpha:") for e in errors)
    assert any(e.startswith("spec.flink.upgradeMode:") for e in errors)
    assert "spec.detector.paralelism: unknown field" in errors


def test_reference_documents_every_field() -> None:
    reference = generated_files()["REFERENCE.md"]
    for kind in ("FraudPipeline", "FraudModel"):
        assert f"## {kind}" in reference
    for field in (
        "spec.detector.parallelism",
        "spec.flink.flinkVersion",
        "spec.artifact.sha256",
        "status.usedBy",
    ):
        assert f"| `{field}`" in reference
    assert '| `spec.flink.flinkVersion` | string | "v2_2" | one of `v2_2`' in reference
    assert "shadowModelRef must name a different model than modelRef" in reference
