"""Entry points without a JVM: bad configs exit 1 naming the problem; `streamflow job run` overrides."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from fraud_jobs.detector import main as detector_main
from fraud_jobs.flink.cli import local_settings
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
