"""`streamflow model quality`: per fold, the model alone, the detector's emitted score and the handbook's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from fraud_models.cli import register
from fraud_models.detector_quality import SERIES
from streamflow_cli import main

from tests.models.synth import generate, write_handbook_parquet

WINDOWS = ["--train-window", "2018-05-27..2018-06-02", "--test-window", "2018-06-10..2018-06-16"]


def test_quality_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2018-04-01 + 77 days: 39 days of feature history before fold 2's fit week, then the test week.
    data = write_handbook_parquet(
        tmp_path / "tx.parquet", generate(days=77, customers=80, terminals=30, seed=5, compromised_share=0.4)
    )
    out_json, out_md = tmp_path / "quality.json", tmp_path / "quality.md"
    args = ["model", "quality", "--data", str(data), *WINDOWS, "--folds", "2", "--no-progress"]
    assert main([*args, "--json", str(out_json), "--write", str(out_md)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == out_md.read_text().strip()
    report = json.loads(out_json.read_text())
    folds: list[dict[str, Any]] = [*report["folds"], report["ch3"]]
    assert [f["fold"] for f in folds] == ["f1", "f2", "ch3"]
    assert [f["test"]["start"][:10] for f in folds] == ["2018-06-03", "2018-05-27", "2018-06-10"]
    for fold in folds:
        for key, _ in SERIES:
            assert all(0.0 <= fold[key][m] <= 1.0 for m in ("auc", "ap", "cp")), (fold["fold"], key)
        # The detector ran the fold's own model: its model score gives the model alone's figures exactly.
        assert fold["modelGap"] == 0.0
    # The detector column is the emitted (rules + model) score, not the model's own.
    assert any(f["detector"] != f["model"] for f in folds)
    # The model carries a learned combiner (as `model train` fits it), and the detector used it.
    assert "rules + model, learned combiner" in report["settings"]
    assert "our model fits on each fold's 7-day fit window" in report["settings"]
    rows = [line for line in printed.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| fold | fit → test | model alone")
    assert [r.split("|")[1].strip() for r in rows[1:4]] == ["f1", "f2", "ch3"]
    assert rows[4].startswith("| mean of the 2 folds |")
    mean_ap = (report["folds"][0]["rf"]["ap"] + report["folds"][1]["rf"]["ap"]) / 2
    assert f"{mean_ap:.3f}" in rows[4].split("|")[5]


def test_quality_judges_the_fixed_blend_on_request_and_longer_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_handbook_parquet(
        tmp_path / "tx.parquet", generate(days=77, customers=60, terminals=20, seed=7, compromised_share=0.4)
    )
    out_json, page = tmp_path / "quality.json", tmp_path / "evaluation.md"
    page.write_text(
        "# Page\n\n<!-- streamflow model quality: begin -->\nold table\n"
        "<!-- streamflow model quality: end -->\n\nText after.\n"
    )
    args = ["model", "quality", "--data", str(data), *WINDOWS, "--folds", "1", "--no-progress"]
    assert (
        main([*args, "--fixed-blend", "--fit-days", "14", "--json", str(out_json), "--write", str(page)]) == 0
    )
    printed = capsys.readouterr().out
    # a page with the command's markers keeps its text: only the table between them is replaced
    text = page.read_text()
    assert text.startswith("# Page\n\n<!-- streamflow model quality: begin -->\n| fold |")
    assert text.endswith("<!-- streamflow model quality: end -->\n\nText after.\n")
    assert printed.strip() in text and "old table" not in text
    report = json.loads(out_json.read_text())
    assert "rules + model, alpha 0.2" in report["settings"]
    assert "our model fits on up to 14 days before each fold's fit-window end" in report["settings"]


def test_quality_needs_the_detector(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="area"))  # no hooks: the detector (fraud_jobs) is not wired in
    args = parser.parse_args(["model", "quality", "--data", str(tmp_path / "x.parquet"), "--no-progress"])
    assert args.func(args) == 2
    assert "the detector is not available here" in capsys.readouterr().err


def test_quality_says_how_many_folds_the_data_allows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_handbook_parquet(
        tmp_path / "tx.parquet", generate(days=77, customers=40, terminals=20, seed=3, compromised_share=0.4)
    )
    assert main(["model", "quality", "--data", str(data), *WINDOWS, "--folds", "3", "--no-progress"]) == 1
    assert "use fewer folds" in capsys.readouterr().err
