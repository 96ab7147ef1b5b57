"""`streamflow model evaluate` runs the handbook protocol end to end (on generated data of the same dates)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fraud_models.evaluate import BASELINES, CEILING_LABEL, EXPERIMENTS
from fraud_operator.cli import main

from tests.models.synth import generate, write_handbook_parquet


def test_evaluate_prints_and_writes_the_side_by_side_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2018-04-01 + 137 days covers the history before 2018-07-11 and the last test day, 2018-08-14.
    data = write_handbook_parquet(
        tmp_path / "tx.parquet",
        generate(days=137, customers=80, terminals=30, seed=21, compromised_share=0.4),
    )
    out = tmp_path / "evaluation.md"
    assert main(["model", "evaluate", "--data", str(data), "--write", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    table = out.read_text()
    assert table.strip() == printed.strip()
    rows = [line for line in table.splitlines() if line.startswith("| ch")]
    assert len(rows) == 2 + len(BASELINES) + len(EXPERIMENTS)
    ceilings = [r for r in rows if CEILING_LABEL in r]
    assert [r.split("|")[1].strip() for r in ceilings] == ["ch3", "ch7"]
    for row in ceilings:  # a perfect ranking: AUC and AP 1, card precision its bound, above every model's
        cells = [c.strip() for c in row.split("|")]
        assert cells[3:5] == ["1.000", "1.000"]
        split_rows = [r for r in rows if r.split("|")[1].strip() == cells[1] and "ours" in r]
        assert all(float(r.split("|")[5]) <= float(cells[5]) for r in split_rows)
    assert "| ch3 | handbook: logistic regression (15 features) | 0.871 | 0.606 | 0.291 |" in table
    for _, _, _, label, _ in EXPERIMENTS:
        row = next(r for r in rows if label in r)
        auc = float(row.split("|")[3])
        assert 0.0 <= auc <= 1.0


def test_evaluate_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "evaluate", "--data", str(tmp_path / "absent.parquet"), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err
