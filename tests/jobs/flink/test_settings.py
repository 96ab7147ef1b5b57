"""Detector job settings: the operator's detector.json loads as is; secrets only from the environment."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_jobs.flink.settings import DatabaseSettings, KafkaSettings, SettingsError, load_settings
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.render.config import detector_config

SAMPLES = Path(__file__).resolve().parents[3] / "crds" / "samples"


def _sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    doc.setdefault("metadata", {}).setdefault("namespace", "default")
    return doc


def _operator_config() -> dict[str, Any]:
    pipeline = FraudPipeline.model_validate(_sample("fraudpipeline-payments.yaml"))
    model = FraudModel.model_validate(_sample("fraudmodel-iforest-v1.yaml"))
    return detector_config(pipeline, model)


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def test_operator_rendered_config_loads(tmp_path: Path) -> None:
    config = _operator_config()
    settings = load_settings(_write(tmp_path, config))
    assert settings.topics.transactions == config["topics"]["transactions"]
    assert settings.topics.scores is None
    assert settings.detector.alpha == config["detector"]["alpha"]
    assert settings.detector.velocity.max_count == config["detector"]["velocity"]["max_count"]
    assert settings.kafka.transactional_id_prefix == config["kafka"]["transactional_id_prefix"]
    assert settings.model is not None and settings.model.uri == config["model"]["uri"]
    assert settings.checkpointing.interval_seconds == config["checkpointing"]["interval_seconds"]
    assert settings.flink.state_backend is None  # the cluster's flinkConfiguration decides
    assert settings.job_name.endswith("-payments")


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    config = copy.deepcopy(_operator_config())
    config["kafka"]["password"] = "hunter2"
    with pytest.raises(SettingsError, match="password"):
        load_settings(_write(tmp_path, config))


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"broken\.json"):
        load_settings(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(SettingsError, match="expected a JSON object"):
        load_settings(path)
    config = _operator_config()
    config["detector"]["alert_threshold"] = 1.5
    with pytest.raises(SettingsError, match="alert_threshold"):
        load_settings(_write(tmp_path, config))


def test_kafka_credentials_come_from_the_environment() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="k:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username_env="KAFKA_USERNAME",
        password_env="KAFKA_PASSWORD",
        consumer_group="g",
        transactional_id_prefix="t",
    )
    props = kafka.client_properties({"KAFKA_USERNAME": "alice", "KAFKA_PASSWORD": 'p"w'})
    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanism"] == "SCRAM-SHA-512"
    assert 'username="alice"' in props["sasl.jaas.config"]
    assert 'password="p\\"w"' in props["sasl.jaas.config"]
    assert "ScramLoginModule" in props["sasl.jaas.config"]
    with pytest.raises(SettingsError, match="KAFKA_PASSWORD is not set"):
        kafka.client_properties({"KAFKA_USERNAME": "alice"})
    plain = KafkaSettings(bootstrap_servers="k:9092", consumer_group="g", transactional_id_prefix="t")
    assert "sasl.jaas.config" not in plain.client_properties({})


def test_database_dsn_from_environment() -> None:
    db = DatabaseSettings(host="pg-rw", database="app", user_env="PGUSER", password_env="PGPASSWORD")
    dsn = db.dsn({"PGUSER": "app", "PGPASSWORD": "it's"})
    assert "host='pg-rw'" in dsn and "dbname='app'" in dsn and "password='it\\'s'" in dsn
    with pytest.raises(SettingsError, match="PGUSER is not set"):
        db.dsn({})
    assert DatabaseSettings(dsn_env="MY_DSN").dsn({"MY_DSN": "postgresql://x/y"}) == "postgresql://x/y"
    with pytest.raises(SettingsError, match="give dsn_env"):
        DatabaseSettings().dsn({})


def test_changelog_needs_a_place_to_write() -> None:
    from fraud_jobs.flink.settings import FlinkSettings

    with pytest.raises(ValueError, match="changelog needs checkpoint_dir"):
        FlinkSettings(changelog=True)
    assert (
        FlinkSettings(changelog=True, checkpoint_dir="file:///ck/").changelog_path == "file:///ck/changelog"
    )
    there = {"state.changelog.dstl.dfs.base-path": "s3://bucket/changelog"}
    assert FlinkSettings(changelog=True, extra=there).changelog_path == "s3://bucket/changelog"
    assert FlinkSettings(changelog=False).changelog_path is None
