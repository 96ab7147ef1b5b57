"""The detector ConfigMap: complete config, no secrets, a hash that changes exactly when the config does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fraud_jobs.config import DetectorConfig
from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import DetectorSpec, FraudPipeline
from fraud_operator.render import render_all
from fraud_operator.render.config import (
    AlertBudgetUnavailable,
    alert_threshold,
    config_hash,
    detector_config,
    detector_section,
    render_detector_configmap,
)
from fraud_operator.render.flink import render_flinkdeployment
from pydantic import ValidationError


def _hash(doc: dict[str, Any], model: FraudModel) -> str:
    rendered = render_flinkdeployment(FraudPipeline.model_validate(doc), model)
    digest: str = rendered["spec"]["podTemplate"]["metadata"]["annotations"]["streamflow.io/config-hash"]
    return digest


def test_config_content(pipeline: FraudPipeline, model: FraudModel, shadow_model: FraudModel) -> None:
    cm = render_detector_configmap(pipeline, model, shadow_model)
    assert cm["metadata"]["name"] == "payments-detector-config"
    config = json.loads(cm["data"]["detector.json"])
    assert config == detector_config(pipeline, model, shadow_model)
    assert config["topics"] == {
        "transactions": "payments.transactions",
        "alerts": "payments.alerts",
        "dlq": "payments.dlq",
        "labels": "payments.labels",
        "control": "payments.control",
    }
    assert config["kafka"]["bootstrap_servers"] == "streamflow-kafka-kafka-bootstrap.default.svc:9092"
    assert config["detector"]["alpha"] == 0.4
    assert config["detector"]["alert_threshold"] == 0.6
    assert config["detector"]["high_value"]["z_threshold"] == 3.5
    assert config["detector"]["velocity"] == {
        "enabled": True,
        "weight": 0.6,
        "max_count": 6,
        "window_s": 600.0,
    }
    assert config["detector"]["blocklist"]["terminals"] == ["T-000666"]
    assert config["model"]["sha256"] == model.spec.artifact.sha256
    assert config["model"]["feature_schema_id"] == FEATURE_SCHEMA_ID
    assert config["shadow_model"]["name"] == "hgb-v2"
    assert config["database"]["host"] == "streamflow-pg-rw.default.svc"
    assert cm["metadata"]["annotations"]["streamflow.io/config-hash"] == config_hash(config)


def test_no_secret_values_anywhere(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    """Credentials are referenced by Secret name and env var name only; no rendered object holds a secret."""
    pipeline_doc["spec"]["kafka"].update(
        {"securityProtocol": "SASL_SSL", "credentialsSecretRef": {"name": "kafka-creds", "passwordKey": "pw"}}
    )
    pipeline = FraudPipeline.model_validate(pipeline_doc)
    config = detector_config(pipeline, model)
    assert config["kafka"]["username_env"] == "KAFKA_USERNAME"
    assert config["kafka"]["password_env"] == "KAFKA_PASSWORD"
    text = json.dumps(config)
    assert "kafka-creds" not in text  # not even the Secret's name is needed by the job
    for child in render_all(pipeline, model):
        assert child["kind"] != "Secret"
        _assert_no_literal_credentials(child)


def _assert_no_literal_credentials(node: Any, path: str = "") -> None:
    if isinstance(node, dict):
        if "name" in node and "value" in node and isinstance(node.get("name"), str):
            assert not any(w in node["name"].upper() for w in ("PASSWORD", "USER", "SECRET", "TOKEN")), path
        for key, value in node.items():
            if any(w in key.lower() for w in ("password", "secret", "token")) and isinstance(value, str):
                assert value.isupper() or key.endswith("_env"), f"{path}.{key} holds {value!r}"
            _assert_no_literal_credentials(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _assert_no_literal_credentials(item, f"{path}[{index}]")


def test_hash_is_stable_and_tracks_changes(pipeline_doc: dict[str, Any], model: FraudModel) -> None:
    base = _hash(pipeline_doc, model)
    assert _hash(pipeline_doc, model) == base

    changed_alpha = {**pipeline_doc, "spec": {**pipeline_doc["spec"], "detector": {"alpha": 0.7}}}
    assert _hash(changed_alpha, model) != base

    rules = json.loads(json.dumps(pipeline_doc))
    rules["spec"]["detector"]["rules"]["velocity"]["maxCount"] = 9
    assert _hash(rules, model) != base

    other_model = model.model_copy(
        update={"spec": model.spec.model_copy(update={"version": "2026.12.01-1"})}, deep=True
    )
    assert _hash(pipeline_doc, other_model) != base

    unrelated = json.loads(json.dumps(pipeline_doc))
    unrelated["spec"]["networkPolicy"]["enabled"] = False
    assert _hash(unrelated, model) == base


def test_rules_only_config_without_model(pipeline: FraudPipeline) -> None:
    assert detector_config(pipeline, None)["model"] is None


def test_detector_section_is_a_valid_fraud_jobs_detector_config(pipeline: FraudPipeline) -> None:
    """Contract with the detector: spec.detector renders to what fraud_jobs.config.DetectorConfig loads."""
    section = detector_config(pipeline, None)["detector"]
    loaded = DetectorConfig.model_validate(section)
    assert loaded.velocity.max_count == 6
    assert loaded.high_value.z_threshold == 3.5
    assert loaded.blocklist.terminals == frozenset({"T-000666"})
    assert loaded.alpha == 0.4


def test_default_detector_spec_equals_the_detector_defaults() -> None:
    """The CRD's documented defaults are the detector's own defaults (no silent drift between the two)."""
    from fraud_jobs.config import DetectorConfig

    assert DetectorConfig.model_validate(detector_section(DetectorSpec())) == DetectorConfig()


def _with_budget(pipeline: FraudPipeline, alerts_per_day: int) -> FraudPipeline:
    doc = pipeline.model_dump(by_alias=True, exclude_none=True)
    doc["spec"]["detector"]["alertBudget"] = {"alertsPerDay": alerts_per_day}
    return FraudPipeline.model_validate(doc)


def _without_alerting(model: FraudModel) -> FraudModel:
    return model.model_copy(update={"spec": model.spec.model_copy(update={"alerting": None})})


def _with_alerting(model: FraudModel) -> FraudModel:
    doc = model.model_dump(by_alias=True, exclude_none=True)
    doc["spec"]["alerting"] = {
        "eventsPerDay": 9000.0,
        "budgets": [
            {"alertsPerDay": 10, "threshold": 0.9, "validationAlertsPerDay": 9.5},
            {
                "alertsPerDay": 100,
                "threshold": 0.5,
                "validationAlertsPerDay": 99.0,
                "evaluationAlertsPerDay": 104.1,
            },
            {"alertsPerDay": 200, "threshold": 0.3, "validationAlertsPerDay": 200.0},
        ],
    }
    return FraudModel.model_validate(doc)


def test_an_alert_budget_takes_the_models_threshold_for_the_largest_budget_not_above_it(
    pipeline: FraudPipeline, model: FraudModel
) -> None:
    with_table = _with_alerting(model)
    assert pipeline.spec.detector.alert_threshold == 0.6
    for budget, threshold in ((10, 0.9), (99, 0.9), (100, 0.5), (150, 0.5), (5000, 0.3)):
        config = detector_config(_with_budget(pipeline, budget), with_table)
        assert config["detector"]["alert_threshold"] == threshold, budget
        assert alert_threshold(_with_budget(pipeline, budget).spec.detector, with_table) == threshold
    # without a budget the spec's threshold stands, with or without a table
    assert detector_config(pipeline, with_table)["detector"]["alert_threshold"] == 0.6
    # without a model nothing is deployed: the rules-only config keeps the spec's threshold
    assert detector_config(_with_budget(pipeline, 100), None)["detector"]["alert_threshold"] == 0.6


def test_an_alert_budget_the_model_cannot_serve_names_the_field(
    pipeline: FraudPipeline, model: FraudModel
) -> None:
    with pytest.raises(
        AlertBudgetUnavailable, match=r"spec\.detector\.alertBudget: FraudModel .* no spec\.alerting"
    ):
        detector_config(_with_budget(pipeline, 100), _without_alerting(model))
    with pytest.raises(
        AlertBudgetUnavailable, match=r"alertsPerDay: 5 is below the smallest budget .* \(10 a day\)"
    ):
        render_all(_with_budget(pipeline, 5), _with_alerting(model))


def test_a_model_alerting_table_must_be_monotone(model: FraudModel) -> None:
    doc = model.model_dump(by_alias=True, exclude_none=True)
    budgets = [
        {"alertsPerDay": 10, "threshold": 0.4, "validationAlertsPerDay": 9.0},
        {"alertsPerDay": 100, "threshold": 0.5, "validationAlertsPerDay": 99.0},
    ]
    doc["spec"]["alerting"] = {"eventsPerDay": 9000.0, "budgets": budgets}
    with pytest.raises(ValidationError, match="a larger budget must not have a higher threshold"):
        FraudModel.model_validate(doc)
    doc["spec"]["alerting"]["budgets"] = [budgets[0], budgets[0]]
    with pytest.raises(ValidationError, match="each alertsPerDay appears once"):
        FraudModel.model_validate(doc)
