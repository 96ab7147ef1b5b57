"""`streamflow model evaluate` runs the handbook protocol end to end (on generated data of the same dates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fraud_models.data import Transactions
from fraud_models.evaluate import (
    BASELINES,
    CEILING_LABEL,
    DETECTOR_MODEL,
    EXPERIMENTS,
    SCENARIO_REFERENCE_LABEL,
)
from fraud_models.metrics import delay_visible_frauds
from streamflow_cli import main

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
    main_table, header, budget_table = table.partition("| split | budget (alerts/day) |")
    assert header
    rows = [line for line in main_table.splitlines() if line.startswith("| ch")]
    assert len(rows) == 6 + len(BASELINES) + len(EXPERIMENTS)  # 2 ceilings a split, 2 detector rows
    ceilings = [r for r in rows if CEILING_LABEL in r]
    assert [r.split("|")[1].strip() for r in ceilings] == ["ch3", "ch7"]
    for row in ceilings:  # a perfect ranking: AUC and AP 1, card precision its bound, above every model's
        cells = [c.strip() for c in row.split("|")]
        assert cells[3:5] == ["1.000", "1.000"]
        split_rows = [r for r in rows if r.split("|")[1].strip() == cells[1] and "ours" in r]
        assert all(float(r.split("|")[5]) <= float(cells[5]) for r in split_rows)
    visible = [r for r in rows if SCENARIO_REFERENCE_LABEL in r]  # the file has the simulator's scenarios
    assert [r.split("|")[1].strip() for r in visible] == ["ch3", "ch7"]
    for bound, row in zip(ceilings, visible, strict=True):
        assert 0.0 < float(row.split("|")[5]) <= float(bound.split("|")[5])
    assert "| ch3 | handbook: logistic regression (15 features) | 0.871 | 0.606 | 0.291 |" in table
    # The same model run through the detector's own logic (streamflow replay): its model score gives the
    # offline figures exactly (no training/serving skew), and the combined score is judged beside it.
    offline = next(r for r in rows if f"| {DETECTOR_MODEL} |" in r).split("|")[3:]
    detector_model = next(r for r in rows if "the detector as it runs, its model score" in r).split("|")[3:]
    assert detector_model == offline
    combined = next(r for r in rows if "the detector as it runs (rules + model, learned combiner" in r)
    assert all(0.0 <= float(c) <= 1.0 for c in combined.split("|")[3:8])
    # The alert budgets of that model (trained as `model train` trains it) against the test week
    budgets = [line for line in budget_table.splitlines() if line.startswith("| ch3 | ")]
    shown = [int(b.split("|")[2]) for b in budgets]  # the budgets the small file's tail can tell apart
    assert shown and shown == [50, 100, 200][: len(shown)]
    for line in budgets:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        threshold, validation, mean, top, share = map(float, cells[2:])
        assert 0.0 < threshold <= 1.0 and validation <= int(cells[1]) and 0.0 <= mean <= top
        assert 0.0 <= share <= 1.0
    for _, _, _, label, _ in EXPERIMENTS:
        row = next(r for r in rows if label in r)
        auc = float(row.split("|")[3])
        assert 0.0 <= auc <= 1.0


def test_evaluate_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "evaluate", "--data", str(tmp_path / "absent.parquet"), "--no-progress"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_a_compromised_terminal_is_delay_visible_once_its_first_fraud_label_arrived() -> None:
    day = 86_400.0
    rows = [  # (day, terminal, label, scenario)
        (0, 7, 1, 2),  # terminal 7's compromise starts
        (3, 7, 1, 2),  # 3 days in: its first label is not delivered yet
        (8, 7, 1, 2),  # 8 days in: the first fraud's label arrived on day 7
        (9, 7, 0, 0),  # the compromise ended
        (10, 7, 1, 2),  # a new compromise at the same terminal: invisible again
        (9, 8, 1, 2),  # terminal 8's compromise starts on day 9: unrelated to terminal 7's labels
        (1, 9, 1, 1),  # a large amount: always visible
        (2, 9, 1, 3),  # a compromised card's inflated amount: always visible
        (4, 9, 0, 0),  # genuine: never
    ]
    t = np.array([r[0] * day for r in rows])
    tx = Transactions(
        np.arange(len(rows)),
        np.arange(len(rows)),
        np.array([r[1] for r in rows]),
        np.ones(len(rows)),
        t,
        np.array([r[2] for r in rows], dtype=np.int8),
        scenario=np.array([r[3] for r in rows], dtype=np.int8),
    )
    visible = delay_visible_frauds(tx, 7 * day)
    assert visible.tolist() == [False, False, True, False, False, False, True, True, False]
