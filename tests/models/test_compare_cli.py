"""`streamflow model compare` in file mode: two replay score files (parquet or JSONL) and labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fraud_models.compare import ScoredEvent, compare
from streamflow_cli import main

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ACTIVE = [0.1, 0.8, 0.3, 0.7]
SHADOW = [0.2, 0.9, 0.1, 0.3]
LABELS = [False, True, None, False]


def _replay_parquet(path: Path, scores: list[float], labels: list[bool | None]) -> Path:
    """The columns `streamflow replay` writes to DIR/scores.parquet."""
    n = len(scores)
    pq.write_table(
        pa.table(
            {
                "transaction_id": [f"tx{i}" for i in range(n)],
                "event_time": pa.array(
                    [T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", "UTC")
                ),
                "customer_id": [f"c{i}" for i in range(n)],
                "score": scores,
                "ml_score": [s / 2 for s in scores],
                "alert": [s >= 0.5 for s in scores],
                "label": pa.array(labels, pa.bool_()),
            }
        ),
        path,
    )
    return path


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_two_replay_outputs_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _replay_parquet(tmp_path / "a.parquet", ACTIVE, LABELS)
    s = _replay_parquet(tmp_path / "s.parquet", SHADOW, LABELS)
    args = ["model", "compare", "--active-scores", str(a), "--shadow-scores", str(s)]
    assert main([*args, "--active", "iforest-1", "--shadow", "hgb-2", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    events = [
        [ScoredEvent(f"tx{i}", f"c{i}", T0 + timedelta(minutes=i), x, x >= 0.5) for i, x in enumerate(scores)]
        for scores in (ACTIVE, SHADOW)
    ]
    labels = {f"tx{i}": y for i, y in enumerate(LABELS) if y is not None}
    expected = compare(*events, labels, threshold=0.5, active_version="iforest-1", shadow_version="hgb-2")
    want = expected.to_status()
    del want["computedAt"], status["computedAt"]
    assert status == want
    assert status["labeledEvents"] == 3 and status["active"]["auc"] == 1.0

    assert main(args) == 0  # the table, versions named after the files
    table = capsys.readouterr().out
    assert "a.parquet" in table and "s.parquet" in table and "agreement at 0.5" in table

    assert main([*args, "--score", "ml_score", "--threshold", "0.42", "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert own["active"]["meanScore"] == pytest.approx(sum(ACTIVE) / 8)
    assert own["active"]["alertsAtThreshold"] == 0 and own["shadow"]["alertsAtThreshold"] == 1


def test_jsonl_scores_with_a_separate_labels_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"transaction_id": f"tx{i}", "event_time": f"2026-11-01T00:0{i}:00Z"} for i in range(4)]
    a = _jsonl(tmp_path / "a.jsonl", [r | {"score": x} for r, x in zip(rows, ACTIVE, strict=True)])
    s = _jsonl(tmp_path / "s.jsonl", [r | {"score": x} for r, x in zip(rows, SHADOW, strict=True)])
    labels = _jsonl(
        tmp_path / "labels.jsonl",
        [{"TRANSACTION_ID": "tx1", "TX_FRAUD": 1}, {"transaction_id": "tx0", "is_fraud": False}],
    )
    args = ["model", "compare", "--active-scores", str(a), "--shadow-scores", str(s), "--json"]
    assert main([*args, "--labels", str(labels)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["pairedEvents"], status["labeledEvents"], status["frauds"]) == (4, 2, 1)
    assert status["active"]["recordedAlerts"] is None  # JSONL rows without an alert decision
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["active"]["auc"] is None  # no labels: None, not an error


def test_file_mode_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _replay_parquet(tmp_path / "a.parquet", ACTIVE, LABELS)
    conflicting = _replay_parquet(tmp_path / "b.parquet", SHADOW, [True, True, None, False])
    assert main(["model", "compare", "--active-scores", str(a), "--shadow-scores", str(conflicting)]) == 1
    assert "transaction tx0 is labeled False" in capsys.readouterr().err

    assert main(["model", "compare", "--active-scores", str(a)]) == 2
    assert "both --active-scores and --shadow-scores" in capsys.readouterr().err

    missing = tmp_path / "absent.parquet"
    assert main(["model", "compare", "--active-scores", str(a), "--shadow-scores", str(missing)]) == 1
    assert "absent.parquet: no such file" in capsys.readouterr().err

    bad = _jsonl(tmp_path / "bad.jsonl", [{"transaction_id": "tx0", "event_time": "2026-11-01T00:00:00Z"}])
    assert main(["model", "compare", "--active-scores", str(a), "--shadow-scores", str(bad)]) == 1
    assert "bad.jsonl row 1: missing or non-numeric 'score'" in capsys.readouterr().err

    other = _jsonl(tmp_path / "other.jsonl", [{"transaction_id": "zz", "event_time": 0, "score": 0.5}])
    assert main(["model", "compare", "--active-scores", str(a), "--shadow-scores", str(other)]) == 1
    err = capsys.readouterr().err
    assert "no events scored by both" in err and "a.parquet" in err and "other.jsonl" in err

    assert main(["model", "compare", "--active", "v1"]) == 2
    assert "--active and --shadow" in capsys.readouterr().err
