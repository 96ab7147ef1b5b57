"""Entry points without a JVM: bad configs exit 1 naming the problem; `streamflow job run` overrides."""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from fraud_jobs.detector import main as detector_main
from fraud_jobs.flink.cli import create_topics, local_settings
from streamflow_cli import build_parser

CONFIG = {
    "kafka": {"bootstrap_servers": "kafka.svc:9092", "consumer_group": "g", "transactional_id_prefix": "t"},
    "topics": {
        "transactions": "p.tx",
        "alerts": "p.alerts",
        "dlq": "p.dlq",
        "labels": "p.labels",
        "control": "p.ctl",
    },
    "database": {"host": "pg-rw", "database": "app", "user_env": "PGUSER", "password_env": "PGPASSWORD"},
}


def test_detector_main_rejects_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert detector_main(["--config", str(missing)]) == 1
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**CONFIG, "detector": {"alpha": 7}}), encoding="utf-8")
    assert detector_main(["--config", str(bad)]) == 1
    assert "alpha" in capsys.readouterr().err


def test_job_run_local_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    monkeypatch.setenv("STREAMFLOW_FLINK_JARS", "file:///jars/a.jar")
    args = build_parser().parse_args(
        [
            "job",
            "run",
            "--config",
            str(path),
            "--bootstrap",
            "127.0.0.1:9092",
            "--database-dsn-env",
            "STREAMFLOW_PG_DSN",
            "--state-backend",
            "rocksdb",
            "--bounded",
        ]
    )
    assert isinstance(args, argparse.Namespace) and callable(args.func)
    settings = local_settings(args)
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.database is not None and settings.database.dsn_env == "STREAMFLOW_PG_DSN"
    assert settings.flink.jars == "file:///jars/a.jar"
    assert settings.flink.state_backend == "rocksdb" and settings.flink.bounded is True
    assert settings.flink.checkpoint_dir is not None and settings.flink.checkpoint_dir.startswith("file:///")
    no_db = local_settings(build_parser().parse_args(["job", "run", "--config", str(path), "--no-database"]))
    assert no_db.database is None


def test_job_run_without_connector_jars_fails_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    monkeypatch.delenv("STREAMFLOW_FLINK_JARS", raising=False)
    args = build_parser().parse_args(["job", "run", "--config", str(path), "--no-database"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("streamflow job run: no connector jars") and "STREAMFLOW_FLINK_JARS" in err
    missing = build_parser().parse_args(["job", "run", "--config", str(tmp_path / "nope.json")])
    assert missing.func(missing) == 1
    assert "nope.json" in capsys.readouterr().err


def test_job_run_passes_restore_parallelism_and_changelog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")
    monkeypatch.setenv("STREAMFLOW_FLINK_JARS", "file:///jars/a.jar")
    argv = ["job", "run", "--config", str(path), "--restore-from", "file:///sp/1", "--parallelism", "2"]
    settings = local_settings(
        build_parser().parse_args([*argv, "--changelog", "--checkpoint-dir", "file:///ck"])
    )
    flink = settings.flink
    assert (flink.restore_from, flink.parallelism, flink.changelog) == ("file:///sp/1", 2, True)
    assert flink.checkpoint_dir == "file:///ck" and flink.changelog_path == "file:///ck/changelog"
    kept = local_settings(build_parser().parse_args(["job", "run", "--config", str(path)]))
    assert kept.database is not None and kept.database.host == "pg-rw"  # the config's, untouched
    assert kept.flink.restore_from is None and kept.flink.changelog is None


@pytest.mark.kafka
def test_create_topics_creates_only_the_missing_ones(kafka_bootstrap: str, kafka_topic_factory: Any) -> None:
    existing = kafka_topic_factory("cli-existing")
    fresh = f"cli-fresh-{uuid.uuid4().hex[:8]}"
    try:
        assert create_topics(kafka_bootstrap, [existing, fresh], partitions=2) == [fresh]
        assert create_topics(kafka_bootstrap, [existing, fresh]) == []
        topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=30).topics
        assert len(topics[fresh].partitions) == 2
    finally:
        AdminClient({"bootstrap.servers": kafka_bootstrap}).delete_topics([fresh])


@pytest.mark.flink
@pytest.mark.kafka
def test_job_run_creates_its_topics_and_runs_a_bounded_stream_to_its_end(
    kafka_bootstrap: str,
    flink_jars: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`streamflow job run --create-topics --bounded`: topics appear; the job reads what is there, ends."""
    tag = uuid.uuid4().hex[:8]
    topics = {role: f"cli-{role}-{tag}" for role in CONFIG["topics"]}
    config = {**CONFIG, "topics": topics, "kafka": {**CONFIG["kafka"], "transactional_id_prefix": f"t-{tag}"}}
    path = tmp_path / "detector.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.setenv("STREAMFLOW_FLINK_JARS", flink_jars)
    argv = ["job", "run", "--config", str(path), "--bootstrap", kafka_bootstrap, "--no-database"]
    args = build_parser().parse_args(
        [*argv, "--create-topics", "--bounded", "--checkpoint-dir", tmp_path.as_uri()]
    )
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        assert args.func(args) == 0
        out = capsys.readouterr().out
        assert f"created topics: {', '.join(topics.values())}" in out and "running " in out
        assert set(topics.values()) <= set(admin.list_topics(timeout=30).topics)
    finally:
        admin.delete_topics(list(topics.values()))
