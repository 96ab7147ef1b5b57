"""`streamflow generate` and `streamflow replay` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from streamflow_cli import main


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
        (["generate", "--count", "0", "--out", "/dev/null"], "argument --count: '0' must be at least 1"),
        (["generate", "--count", "9", "--days", "3", "--out", "/dev/null"], "argument --days: '3'"),
        (["generate", "--count", "9", "--malformed-ratio", "x", "--out", "/dev/null"], "'x' is not a number"),
        (
            ["generate", "--count", "9", "--malformed-ratio", "1", "--out", "/dev/null"],
            "not a share in [0, 1)",
        ),
        (
            ["generate", "--count", "9", "--out", "/dev/null", "--bootstrap", "k:9092"],
            "--bootstrap is for --topic",
        ),
        (
            ["replay", "--input", "/dev/null", "--out", "/tmp/x", "--label-delay", "soon"],
            "argument --label-delay: invalid duration 'soon'",
        ),
    ],
)
def test_usage_errors_exit_2_naming_the_argument(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["replay", "--input", "/nonexistent.jsonl", "--out", "/tmp/x"], "does not exist"),
        (["generate", "--count", "10", "--out", "/nonexistent/dir/tx.jsonl"], "cannot write"),
        (
            ["generate", "--count", "10", "--out", "/dev/null", "--control-out", "/nonexistent/c.jsonl"],
            "cannot write /nonexistent/c.jsonl",
        ),
        (
            ["replay", "--input", "/dev/null", "--out", "/tmp/x", "--control", "/nonexistent.jsonl"],
            "nonexistent",
        ),
    ],
)
def test_failures_exit_1_with_a_message(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert needle in capsys.readouterr().err


def test_label_delay_in_plain_seconds_equals_the_unit_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "tx.jsonl"
    assert main(["generate", "--count", "800", "--seed", "4", "--out", str(data)]) == 0
    summaries = []
    for n, delay in enumerate(("604800", "7d")):
        capsys.readouterr()
        out = tmp_path / f"r{n}"
        assert main(["replay", "--input", str(data), "--out", str(out), "--label-delay", delay]) == 0
        summaries.append(json.loads(capsys.readouterr().out))
    assert summaries[0]["labels_delivered"] == summaries[1]["labels_delivered"] > 0
    assert summaries[0]["alerts"] == summaries[1]["alerts"]


def test_a_bad_control_message_is_named_by_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    control = tmp_path / "control.jsonl"
    control.write_text('\n{"not": "a control message"}\n')
    data = tmp_path / "tx.jsonl"
    data.write_text("")
    argv = ["replay", "--input", str(data), "--out", str(tmp_path / "r"), "--control", str(control)]
    assert main(argv) == 1
    assert f"{control}:2: invalid control message" in capsys.readouterr().err


def test_bad_config_file_names_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("alpha: 7\n")
    data = tmp_path / "tx.jsonl"
    data.write_text("")
    assert main(["replay", "--input", str(data), "--out", str(tmp_path / "r"), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "alpha" in err


def _model_dir(path: Path) -> Path:
    """A real training output in miniature: a compiled IsolationForest and its model card."""
    import numpy as np
    from fraud_models.features import FEATURE_NAMES
    from fraud_models.scorer import compile_model
    from sklearn.ensemble import IsolationForest

    X = np.random.default_rng(0).normal(size=(500, len(FEATURE_NAMES)))
    forest = IsolationForest(n_estimators=10, random_state=0).fit(X)
    compiled = compile_model(
        forest, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version="test-if"
    )
    path.mkdir()
    sha = compiled.save(path / "model.npz")
    (path / "model_card.json").write_text(json.dumps({"artifacts": {"model.npz": sha}}))
    return path


def test_replay_scores_with_a_model_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "tx.jsonl"
    assert main(["generate", "--count", "400", "--out", str(data)]) == 0
    model = _model_dir(tmp_path / "model")
    capsys.readouterr()
    assert main(["replay", "--input", str(data), "--out", str(tmp_path / "r"), "--model", str(model)]) == 0
    scores = pq.read_table(tmp_path / "r" / "scores.parquet")
    ml = scores.column("ml_score").to_pylist()
    assert scores.num_rows == 400 and all(s is not None and 0.0 <= s <= 1.0 for s in ml)
    assert len(set(ml)) > 10  # a real model, not a constant

    card = model / "model_card.json"
    card.write_text(json.dumps({"artifacts": {"model.npz": "0" * 64}}))
    assert main(["replay", "--input", str(data), "--out", str(tmp_path / "r2"), "--model", str(model)]) == 1
    assert "sha256" in capsys.readouterr().err
    assert (
        main(["replay", "--input", str(data), "--out", str(tmp_path / "r3"), "--model", str(tmp_path)]) == 1
    )
    assert "has no model.npz" in capsys.readouterr().err


def test_replay_progress_goes_to_stderr_and_leaves_stdout_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "tx.jsonl"
    assert main(["generate", "--count", "3000", "--seed", "5", "--out", str(data)]) == 0
    capsys.readouterr()
    runs = {}
    for switch in ("--progress", "--no-progress", None):
        argv = ["replay", "--input", str(data), "--out", str(tmp_path / f"out{switch}")]
        assert main([*argv, switch] if switch else argv) == 0
        captured = capsys.readouterr()
        summary = json.loads(captured.out)
        for timing in ("elapsed_s", "events_per_s"):  # the only figures that differ run to run
            summary.pop(timing)
        runs[switch] = (summary, captured.err)
    forced, off, automatic = runs["--progress"], runs["--no-progress"], runs[None]
    assert forced[0] == off[0] == automatic[0]  # the same report on stdout
    assert "replay: 100%" in forced[1] and "3.00k/3.00k" in forced[1]
    assert off[1] == "" and automatic[1] == ""  # stderr here is not a terminal: no bar unless forced
