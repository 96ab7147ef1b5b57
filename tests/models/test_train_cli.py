"""`streamflow model train` on generated data: every artifact, a manifest that parses, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_models.scorer import load_model, sha256_file
from streamflow_cli import main

from tests.models.synth import generate, write_handbook_parquet

ARTIFACTS = (
    "model.joblib",
    "model.npz",
    "model_card.json",
    "model_card.md",
    "fraudmodel.yaml",
    "roc.png",
    "pr.png",
)


@pytest.fixture(scope="module")
def handbook_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tx.parquet"
    return write_handbook_parquet(path, generate(days=40, customers=150, terminals=60, seed=11))


def _train(data: Path, out: Path, *extra: str, algorithm: str = "logistic_regression") -> int:
    return main(
        [
            "model",
            "train",
            "--data",
            str(data),
            "--algorithm",
            algorithm,
            "--label-delay",
            "7d",
            "--no-progress",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.mark.parametrize("algorithm", ["logistic_regression", "isolation_forest", "hist_gradient_boosting"])
def test_train_writes_every_artifact_and_a_manifest_that_loads(
    handbook_file: Path, tmp_path: Path, algorithm: str
) -> None:
    out = tmp_path / "model"
    rc = _train(
        handbook_file,
        out,
        "--train-window",
        "2018-04-15..2018-04-28",
        "--test-window",
        "2018-05-03..2018-05-10",
        "--version",
        f"{algorithm}-test",
        *(("--param", "max_iter=20") if algorithm == "hist_gradient_boosting" else ()),
        *(("--param", "n_estimators=30") if algorithm == "isolation_forest" else ()),
        algorithm=algorithm,
    )
    assert rc == 0
    for name in ARTIFACTS:
        assert (out / name).stat().st_size > 0, name
    manifest = yaml.safe_load((out / "fraudmodel.yaml").read_text())
    assert manifest["apiVersion"] == "streamflow.io/v1alpha1" and manifest["kind"] == "FraudModel"
    spec = manifest["spec"]
    assert spec["algorithm"] == algorithm and spec["version"] == f"{algorithm}-test"
    assert spec["featureSchemaId"] == FEATURE_SCHEMA_ID
    assert spec["artifact"]["sha256"] == sha256_file(out / "model.npz")
    assert spec["trainingWindow"] == {"start": "2018-04-15T00:00:00Z", "end": "2018-04-28T23:59:59Z"}
    assert set(spec["metrics"]) == {
        "auc",
        "averagePrecision",
        "precisionAtAlertRate",
        "alertRate",
        "cardPrecisionAt100",
    }
    assert 0.5 < spec["metrics"]["auc"] <= 1.0  # the generated fraud is learnable
    card = json.loads((out / "model_card.json").read_text())
    assert spec["metrics"]["cardPrecisionAt100"] == round(card["metrics"]["card_precision_at_100"], 6)
    ceilings = card["card_precision_at_100_ceilings"]  # the file has the simulator's scenarios
    assert list(ceilings) == ["perfect_ranking"]  # the scenario reference is no ceiling: kept apart
    reference = card["card_precision_at_100_scenario_reference"]
    assert 0.0 < reference <= ceilings["perfect_ranking"] <= 1.0
    assert (
        f"Scenario reference (not a bound; models can exceed it): {reference:.3f}"
        in (out / "model_card.md").read_text()
    )
    assert card["artifacts"]["model.joblib"] == sha256_file(out / "model.joblib")
    assert card["compiled_max_abs_diff"] <= 1e-9
    for key in ("card_precision_at_100", "precision_at_0.5pct", "recall_at_1pct", "average_precision"):
        assert key in card["metrics"]
    model = load_model(
        spec["artifact"]["uri"],
        expected_sha256=spec["artifact"]["sha256"],
        expected_schema_id=FEATURE_SCHEMA_ID,
    )
    assert model.algorithm == algorithm
    assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The learned combiner: fitted on the window's last quarter (4 of 14 days) by a probe model fitted
    # before it, shipped in the artifact, described in the card.
    combiner = card["combiner"]
    assert combiner["probe_window"] == {"start": "2018-04-15T00:00:00Z", "end": "2018-04-25T00:00:00Z"}
    assert combiner["fitted_on"] == {"start": "2018-04-25T00:00:00Z", "end": "2018-04-29T00:00:00Z"}
    assert combiner["rows"] > 0 and combiner["frauds"] > 0
    assert set(combiner["rule_hits"]) == {"FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "FR-007"}
    assert model.combiner is not None and model.combiner.to_meta() == {
        k: combiner[k] for k in ("bias", "model_weight", "rule_weights")
    }
    assert "The artifact carries a learned combiner" in (out / "model_card.md").read_text()
    # Thresholds by alert budget, measured on the combiner's held-out rows, in the card and the manifest
    alerting = card["alerting"]
    assert spec["alerting"] == alerting
    budgets = alerting["budgets"]
    assert budgets[0]["alertsPerDay"] == 1 and len(budgets) >= 3
    for b in budgets:
        assert b["validationAlertsPerDay"] <= b["alertsPerDay"] and 0.0 < b["threshold"] <= 1.0
        assert b["evaluationAlertsPerDay"] >= 0.0
    assert [b["threshold"] for b in budgets] == sorted((b["threshold"] for b in budgets), reverse=True)
    assert alerting["eventsPerDay"] > budgets[-1]["alertsPerDay"]
    assert "| budget (alerts/day) | threshold |" in (out / "model_card.md").read_text()


def test_train_with_the_fixed_blend_ships_no_combiner(handbook_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    window = ("--train-window", "2018-04-15..2018-04-28", "--test-window", "2018-05-03..2018-05-10")
    assert _train(handbook_file, out, *window, "--fixed-blend") == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["combiner"] is None
    assert (
        load_model(
            str(out / "model.npz"), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID
        ).combiner
        is None
    )
    assert "the pipeline's fixed blend (alpha)" in (out / "model_card.md").read_text()


def test_train_without_test_window_holds_out_the_last_days(handbook_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert _train(handbook_file, out, "--train-window", "2018-04-10..2018-05-09") == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["training_window"] == {"start": "2018-04-10T00:00:00Z", "end": "2018-05-02T00:00:00Z"}
    assert card["evaluation_window"] == {"start": "2018-05-02T00:00:00Z", "end": "2018-05-10T00:00:00Z"}


def test_train_accepts_project_jsonl(tmp_path: Path) -> None:
    cols = generate(days=30, customers=100, terminals=40, seed=12)
    path = tmp_path / "tx.jsonl"
    with path.open("w") as handle:
        for i in range(len(cols["event_time"])):
            record = {
                "transaction_id": f"t{cols['transaction_id'][i]}",
                "customer_id": f"c{cols['customer_id'][i]}",
                "terminal_id": f"m{cols['terminal_id'][i]}",
                "amount": float(cols["amount"][i]),
                "event_time": np.datetime_as_string(np.datetime64(int(cols["event_time"][i]), "s")) + "Z",
                "is_fraud": bool(cols["label"][i]),
            }
            handle.write(json.dumps(record) + "\n")
    out = tmp_path / "model"
    assert _train(path, out, "--train-window", "2018-04-10..2018-04-30") == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["rows_fit"] > 0
    # No simulator scenarios in the project's records: only the perfect-ranking ceiling is known.
    assert list(card["card_precision_at_100_ceilings"]) == ["perfect_ranking"]
    assert card["card_precision_at_100_scenario_reference"] is None


def _error(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path, *args: str, code: int = 1, **kw: Any
) -> str:
    """The command's stderr; ``code`` 1 for a failure on the data, 2 for a usage error (a bad argument)."""
    assert _train(data, tmp_path / "out", *args, **kw) == code
    return capsys.readouterr().err


def test_bad_input_gets_a_clear_error(
    handbook_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pq.read_table(handbook_file)
    missing = tmp_path / "missing.parquet"
    pq.write_table(table.drop(["TX_AMOUNT"]), missing)
    err = _error(capsys, missing, tmp_path, "--train-window", "2018-04-10..2018-04-30")
    assert "missing column(s)" in err and "TX_AMOUNT" in err

    amounts = table.column("TX_AMOUNT").to_numpy().copy()
    amounts[5] = np.nan
    nan_file = tmp_path / "nan.parquet"
    pq.write_table(
        table.set_column(table.schema.get_field_index("TX_AMOUNT"), "TX_AMOUNT", pa.array(amounts)), nan_file
    )
    err = _error(capsys, nan_file, tmp_path, "--train-window", "2018-04-10..2018-04-30")
    assert "'TX_AMOUNT' has 1 missing or non-finite value(s)" in err

    no_fraud = tmp_path / "nofraud.parquet"
    zeros = pa.array(np.zeros(table.num_rows, dtype=np.int8))
    pq.write_table(table.set_column(table.schema.get_field_index("TX_FRAUD"), "TX_FRAUD", zeros), no_fraud)
    err = _error(capsys, no_fraud, tmp_path, "--train-window", "2018-04-10..2018-04-30")
    assert "no frauds: cannot train logistic_regression" in err

    bad_scenario = tmp_path / "scenario.parquet"
    sevens = pa.array(np.full(table.num_rows, 7, dtype=np.int8))
    index = table.schema.get_field_index("TX_FRAUD_SCENARIO")
    pq.write_table(table.set_column(index, "TX_FRAUD_SCENARIO", sevens), bad_scenario)
    err = _error(capsys, bad_scenario, tmp_path, "--train-window", "2018-04-10..2018-04-30")
    assert "'TX_FRAUD_SCENARIO' must be 0, 1, 2 or 3" in err

    err = _error(capsys, handbook_file, tmp_path, "--train-window", "2019-01-01..2019-01-07")
    assert "no transactions" in err

    err = _error(
        capsys, handbook_file, tmp_path, "--train-window", "2018-04-10..2018-04-30", "--param", "C", code=2
    )
    assert "argument --param: 'C' is not KEY=VALUE" in err

    err = _error(
        capsys, handbook_file, tmp_path, "--train-window", "2018-04-10..2018-04-30", "--param", "nope=1"
    )
    assert "invalid parameter for logistic_regression" in err

    err = _error(
        capsys, handbook_file, tmp_path, "--train-window", "2018-04-10..2018-04-30", "--version", "v 1"
    )
    assert "invalid version 'v 1'" in err

    err = _error(capsys, handbook_file, tmp_path, "--train-window", "2018-04-30..2018-04-10", code=2)
    assert "argument --train-window: window '2018-04-30..2018-04-10' is empty or reversed" in err

    err = _error(capsys, tmp_path / "absent.parquet", tmp_path, "--train-window", "2018-04-10..2018-04-30")
    assert "no such file" in err

    err = _error(
        capsys,
        handbook_file,
        tmp_path,
        "--train-window",
        "2018-04-10..2018-04-30",
        "--label-delay",
        "soon",
        code=2,
    )
    assert "argument --label-delay: invalid duration 'soon'" in err


def test_the_cli_offers_every_feature_set() -> None:
    import argparse

    from fraud_models.cli import register
    from fraud_models.training import FEATURE_SETS

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["model", "train", "--data", "d", "--algorithm", "hist_gradient_boosting", "--out", "o"]
    base += ["--train-window", "2018-07-25..2018-07-31"]
    for name in FEATURE_SETS:
        assert parser.parse_args([*base, "--feature-set", name]).feature_set == name
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--feature-set", "nonsense"])
