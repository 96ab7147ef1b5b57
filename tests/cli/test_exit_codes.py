"""Exit codes through the real `streamflow` entry point: 2 for a usage error, 1 for a failure, in every area.

The failures are cheap but real: a database DSN on a local port nothing listens on, files that do not exist.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from streamflow_cli import main


def _closed_port() -> int:
    """A local port that was free a moment ago: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


USAGE_ERRORS = {
    "db": (["db", "transform", "refresh_features", "--label-delay", "soon"], "argument --label-delay"),
    "render": (["render"], "the following arguments are required: FILE"),
    "generate": (["generate", "--count", "5", "--topic", "t"], "--topic needs --bootstrap"),
    "replay": (["replay", "--input", "x.jsonl", "--out", "o", "--limit", "0"], "argument --limit"),
    "job": (["job", "run", "--config", "c.json", "--parallelism", "0"], "argument --parallelism"),
    "model": (["model", "select", "--folds", "0"], "argument --folds"),
    "model compare": (["model", "compare", "--active-scores", "a.jsonl"], "both --active-scores and"),
    "operator": (["operator", "--metrics-port", "0", "-A"], "argument --metrics-port"),
    "dev": (["dev", "up", "--components", "kube,nope"], "argument --components"),
}


@pytest.mark.parametrize("area", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2(area: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needle = USAGE_ERRORS[area]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and captured.out == ""


def test_failures_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing"
    dsn = f"postgresql://streamflow:not-shown@127.0.0.1:{_closed_port()}/none"
    failures = {
        "db": (["db", "status", "--dsn", dsn], "cannot connect"),
        "render": (["render", str(missing / "pipeline.yaml")], "cannot read"),
        "replay": (
            ["replay", "--input", str(missing / "tx.jsonl"), "--out", str(tmp_path / "o")],
            "does not exist",
        ),
        "generate": (["generate", "--count", "5", "--out", str(missing / "tx.jsonl")], "cannot write"),
        "job": (["job", "run", "--config", str(missing / "detector.json")], "detector.json"),
        "model": (
            ["model", "evaluate", "--data", str(missing / "h.parquet"), "--no-progress"],
            "no such file",
        ),
        "dev": (["dev", "status", "--run-dir", str(missing)], "no stack.json"),
    }
    for area, (argv, needle) in failures.items():
        assert main(argv) == 1, area
        err = capsys.readouterr().err
        assert needle in err, (area, err)
        assert "Traceback" not in err and "not-shown" not in err, area
