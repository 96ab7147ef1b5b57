"""The CRDs' CEL rules, evaluated with a real CEL interpreter (cel-python) as the API server applies them.

Each rule is evaluated at its schema node with ``self`` bound to the defaulted object there (and ``oldSelf``
for transition rules on updates). The tests prove the rules compile, accept the samples, refuse exactly the
bad input that the pydantic validators refuse, and that transition rules guard updates.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import celpy
import pytest
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from fraud_operator.api.crdgen import crd_documents
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import apply_defaults, crd_schema
from pydantic import ValidationError

PIPELINE = crd_schema(crd_documents()["fraudpipelines.streamflow.io.yaml"])
MODEL = crd_schema(crd_documents()["fraudmodels.streamflow.io.yaml"])
_ENV = celpy.Environment()


def _rules(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, str]]]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield path or "<root>", rule
    for name, sub in schema.get("properties", {}).items():
        yield from _rules(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _rules(schema["items"], f"{path}[]")


def _to_cel(value: Any, schema: dict[str, Any]) -> Any:
    """JSON to CEL values, typing date-time strings as timestamps like the API server does."""
    if isinstance(value, str) and schema.get("format") == "date-time":
        return celtypes.TimestampType(datetime.fromisoformat(value.replace("Z", "+00:00")))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = (
            schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else {}
        )
        return celtypes.MapType(
            {celtypes.StringType(k): _to_cel(v, props.get(k, extra or {})) for k, v in value.items()}
        )
    if isinstance(value, list):
        return celtypes.ListType([_to_cel(v, schema.get("items", {})) for v in value])
    return json_to_cel(value)


def cel_errors(obj: dict[str, Any], schema: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Messages of the CEL rules that ``obj`` (an update of ``old``, if given) violates."""
    errors: list[str] = []
    _evaluate(
        apply_defaults(obj, schema), schema, None if old is None else apply_defaults(old, schema), errors
    )
    return errors


def _evaluate(value: Any, schema: dict[str, Any], old: Any, errors: list[str]) -> None:
    for rule in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        activation = {"self": _to_cel(value, schema)}
        if transition:
            activation["oldSelf"] = _to_cel(old, schema)
        result = _ENV.program(_ENV.compile(rule["rule"])).evaluate(activation)
        if isinstance(result, CELEvalError):
            errors.append(f"{rule['message']} (evaluation error: {result})")
        elif not bool(result):
            errors.append(rule["message"])
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                old_sub = old.get(name) if isinstance(old, dict) else None
                _evaluate(value[name], sub, old_sub, errors)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _evaluate(item, schema["items"], None, errors)


def test_every_rule_compiles_and_has_a_message() -> None:
    rules = [*_rules(PIPELINE), *_rules(MODEL)]
    assert len(rules) >= 12
    for path, rule in rules:
        _ENV.compile(rule["rule"])
        assert rule["message"], path


def test_samples_pass_every_rule(pipeline_doc: dict[str, Any], model_doc: dict[str, Any]) -> None:
    assert cel_errors(pipeline_doc, PIPELINE) == []
    assert cel_errors(pipeline_doc, PIPELINE, old=pipeline_doc) == []
    assert cel_errors(model_doc, MODEL) == []
    assert cel_errors(model_doc, MODEL, old=model_doc) == []


def _edit(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


PIPELINE_CASES = [
    ("spec.kafka.strimziCluster", None, "set bootstrapServers, strimziCluster, or both"),
    ("spec.kafka.securityProtocol", "SASL_PLAINTEXT", "SASL security protocols need credentialsSecretRef"),
    ("spec.shadowModelRef.name", "iforest-v1", "shadowModelRef must name a different model than modelRef"),
    ("spec.detector.maxParallelism", 1, "parallelism must not exceed maxParallelism"),
    (
        "spec.flink.extraConfiguration",
        {"state.backend.type": "hashmap"},
        "extraConfiguration must not set keys",
    ),
    ("spec.flink.storageUri", "file:///var/ckpt", "file:// storageUri must be under file:///flink-data"),
    ("spec.kafka.topics.retentionMs", 1000, "retentionMs must be -1 or at least 60000"),
    ("metadata.name", "pay.ments", "metadata.name must be a DNS-1035 label"),
    ("metadata.name", "p" * 46, "metadata.name must be a DNS-1035 label"),
]


@pytest.mark.parametrize(("path", "value", "message"), PIPELINE_CASES)
def test_cel_and_pydantic_refuse_the_same_pipelines(
    pipeline_doc: dict[str, Any], path: str, value: Any, message: str
) -> None:
    bad = _edit(pipeline_doc, path, value)
    errors = cel_errors(bad, PIPELINE)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    with pytest.raises(ValidationError):
        FraudPipeline.model_validate(bad)


# Edits of spec.flink (None removes a field), each breaking exactly one rule.
FLINK_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {"upgradeMode": "last-state", "highAvailability": False},
        "upgradeMode last-state needs highAvailability",
    ),
    ({"jobManager": {"replicas": 2}, "highAvailability": False}, "more than one JobManager replica needs"),
    (
        {"stateVolumeClaim": None, "highAvailability": False},
        "upgradeMode savepoint and last-state need durable",
    ),
    ({"stateVolumeClaim": None, "allowStateLoss": True}, "highAvailability needs durable storage"),
    ({"storageUri": "s3://bucket/flink"}, "stateVolumeClaim holds file:// state only"),
    (
        {"storageCredentials": {"secretRef": {"name": "s"}}},
        "storageCredentials.secretRef is for object stores",
    ),
    (
        {
            "stateVolumeClaim": None,
            "storageUri": "abfss://c@acct.dfs.core.windows.net/flink",
            "storageCredentials": {"secretRef": {"name": "s"}},
        },
        "storageCredentials.secretRef is not supported for abfs://",
    ),
    ({"extraConfiguration": {"s3.secret-key": "x"}}, "extraConfiguration must not carry credentials"),
    (
        {"serviceAccount": "flink", "storageCredentials": {"serviceAccountAnnotations": {"a/b": "c"}}},
        "storageCredentials.serviceAccountAnnotations go on the ServiceAccount",
    ),
]


@pytest.mark.parametrize(("changes", "message"), FLINK_CASES, ids=[m for _, m in FLINK_CASES])
def test_cel_and_pydantic_refuse_the_same_flink_specs(
    pipeline_doc: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    bad = copy.deepcopy(pipeline_doc)
    flink = bad["spec"]["flink"]
    for key, value in changes.items():
        if value is None:
            flink.pop(key)
        else:
            flink[key] = value
    errors = cel_errors(bad, PIPELINE)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    with pytest.raises(ValidationError):
        FraudPipeline.model_validate(bad)


def test_explicit_state_loss_passes_cel_and_pydantic(pipeline_doc: dict[str, Any]) -> None:
    ephemeral = copy.deepcopy(pipeline_doc)
    flink = ephemeral["spec"]["flink"]
    flink.pop("stateVolumeClaim")
    flink.update({"allowStateLoss": True, "highAvailability": False})
    assert cel_errors(ephemeral, PIPELINE) == []
    assert FraudPipeline.model_validate(ephemeral).spec.flink.durable is False


def test_partitions_only_grow(pipeline_doc: dict[str, Any]) -> None:
    six = _edit(pipeline_doc, "spec.kafka.topics.partitions", 6)
    assert cel_errors(six, PIPELINE, old=pipeline_doc) == []
    assert cel_errors(pipeline_doc, PIPELINE, old=six) == [
        "partitions can only be increased, never decreased"
    ]


def test_model_is_immutable_but_its_metadata_is_not(model_doc: dict[str, Any]) -> None:
    changed = _edit(model_doc, "spec.artifact.sha256", "0" * 64)
    assert cel_errors(changed, MODEL, old=model_doc) == [
        "a FraudModel is immutable; publish a new FraudModel for a new version"
    ]
    relabelled = _edit(model_doc, "metadata.labels", {"team": "risk"})
    assert cel_errors(relabelled, MODEL, old=model_doc) == []


def test_training_window_order(model_doc: dict[str, Any]) -> None:
    bad = _edit(model_doc, "spec.trainingWindow.end", "2018-07-01T00:00:00Z")
    assert cel_errors(bad, MODEL) == ["end must be after start"]
    with pytest.raises(ValidationError):
        FraudModel.model_validate(bad)
