"""`streamflow generate` and `streamflow replay` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fraud_operator.cli import main


def test_generate_then_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tx.jsonl"
    control = tmp_path / "control.jsonl"
    args = ["generate", "--count", "1500", "--seed", "9", "--malformed-ratio", "0.04", "--out", str(out)]
    assert main([*args, "--control-out", str(control)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 1500 and sum(report["malformed"].values()) == 60
    assert len(out.read_bytes().splitlines()) == 1500

    cmd = ["replay", "--input", str(out), "--out", str(tmp_path / "r"), "--control", str(control)]
    assert main([*cmd, "--label-delay", "3d"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scored"] == 1440 and sum(summary["dead_letters"].values()) == 60
    assert summary["alerts_by_rule"]["FR-005"] >= 1  # the control file put the blocklist in place
    assert pq.read_table(tmp_path / "r" / "scores.parquet").num_rows == 1440
    assert (tmp_path / "r" / "alerts.jsonl").read_text().count("\n") == summary["alerts"]


def test_replay_config_file_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tx.jsonl"
    assert main(["generate", "--count", "600", "--out", str(out)]) == 0
    config = tmp_path / "detector.yaml"
    config.write_text("alert_threshold: 1.0\nvelocity:\n  max_count: 2\n")
    capsys.readouterr()
    assert main(["replay", "--input", str(out), "--out", str(tmp_path / "r"), "--config", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["hits_by_rule"].get("FR-002", 0) > 0
    assert summary["alerts"] == summary["alerts_by_rule"].get("FR-005", 0) == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["generate", "--count", "10", "--topic", "t"], "--topic needs --bootstrap"),
        (["generate", "--count", "0", "--out", "/dev/null"], "count must be >= 1"),
        (["replay", "--input", "/nonexistent.jsonl", "--out", "/tmp/x"], "does not exist"),
        (["replay", "--input", "/dev/null", "--out", "/tmp/x", "--label-delay", "soon"], "invalid duration"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_bad_config_file_names_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("alpha: 7\n")
    data = tmp_path / "tx.jsonl"
    data.write_text("")
    assert main(["replay", "--input", str(data), "--out", str(tmp_path / "r"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "alpha" in err
