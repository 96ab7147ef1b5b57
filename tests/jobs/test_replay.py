"""Replay: the same logic in event-time order, labels delivered late, outputs on disk, handbook input."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fraud_jobs.config import DetectorConfig, apply_control
from fraud_jobs.generator import PATTERN_RULE, generate, write_jsonl
from fraud_jobs.logic import customer_step, terminal_step
from fraud_jobs.replay import iter_jsonl, load_input, replay, run_replay
from fraud_jobs.schemas import DeadLetterRecord, FraudAlert, Stage
from fraud_jobs.scoring import ConstantScorer
from fraud_models.durations import parse_duration


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, object]]]:
    """A generated stream with malformed records, replayed once for all tests of this module."""
    base = tmp_path_factory.mktemp("gen")
    gen = generate(3_000, seed=3, malformed_ratio=0.02)
    write_jsonl(gen.records, base / "tx.jsonl")
    cfg = apply_control(DetectorConfig(), gen.control)
    run_replay(base / "tx.jsonl", base / "out", cfg)
    truth = {}
    for rec in gen.records:
        if rec.malformed is None:
            row = json.loads(rec.payload)
            truth[row["transaction_id"]] = row
    return base / "tx.jsonl", base / "out", truth


def test_replay_raises_the_right_alert_for_every_injected_pattern(
    generated: tuple[Path, Path, dict[str, dict[str, object]]],
) -> None:
    _, out, truth = generated
    alerts = {a["transaction_id"]: FraudAlert.model_validate(a) for a in iter_jsonl(out / "alerts.jsonl")}
    for tid, row in truth.items():
        pattern = row["fraud_pattern"]
        if pattern is None:
            continue
        assert tid in alerts, (pattern, row)
        assert PATTERN_RULE[str(pattern)] in {h.code for h in alerts[tid].rule_hits}, (pattern, alerts[tid])
    normal = [tid for tid, row in truth.items() if not row["is_fraud"]]
    false_alerts = [tid for tid in normal if tid in alerts]
    assert len(false_alerts) <= 0.01 * len(normal), [alerts[t].rule_hits for t in false_alerts]


def test_replay_writes_scores_for_every_valid_transaction_and_dlq_for_every_malformed_one(
    generated: tuple[Path, Path, dict[str, dict[str, object]]],
) -> None:
    _, out, truth = generated
    scores = pq.read_table(out / "scores.parquet")
    assert scores.num_rows == len(truth)
    assert set(scores.column("transaction_id").to_pylist()) == set(truth)
    assert {"score", "rule_score", "ml_score", "label", "rule_hits", "alert"} <= set(scores.column_names)
    labels = dict(
        zip(scores.column("transaction_id").to_pylist(), scores.column("label").to_pylist(), strict=True)
    )
    assert all(labels[tid] == row["is_fraud"] for tid, row in truth.items())
    assert pc.min(scores.column("score")).as_py() >= 0.0 and pc.max(scores.column("score")).as_py() <= 1.0
    dlq = [DeadLetterRecord.model_validate(d) for d in iter_jsonl(out / "dlq.jsonl")]
    assert len(dlq) == 60  # 2 % of 3,000
    assert all(d.error_message and d.source_offset for d in dlq)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scored"] == len(truth) and sum(summary["dead_letters"].values()) == 60


def _jsonl(path: Path, rows: Sequence[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(
    tid: str, when: str, terminal: str = "T1", customer: str = "C1", **extra: object
) -> dict[str, object]:
    return {
        "transaction_id": tid,
        "customer_id": customer,
        "terminal_id": terminal,
        "amount": 20.0,
        "event_time": when,
        **extra,
    }


@pytest.mark.parametrize(("delay", "hit_on"), [("7d", {"t8"}), ("2d", {"t3", "t8"}), ("10d", set())])
def test_labels_are_delivered_exactly_label_delay_later(tmp_path: Path, delay: str, hit_on: set[str]) -> None:
    rows = [
        _row("t8", "2026-03-09T12:00:00Z", customer="C3"),  # file order is not event-time order
        _row("t0", "2026-03-01T12:00:00Z", is_fraud=True),
        _row("t3", "2026-03-04T12:00:00Z", customer="C2"),
    ]
    cfg = DetectorConfig(label_delay_s=parse_duration(delay))
    records, labels, summary = replay(load_input(_jsonl(tmp_path / "l.jsonl", rows)), cfg)
    assert [r.transaction_id for r in records] == ["t0", "t3", "t8"]
    assert labels == [True, None, None]
    assert {r.transaction_id for r in records if "FR-007" in r.rule_codes} == hit_on
    assert summary.labels_delivered == (1 if hit_on else 0)  # only t0 is labelled


class FailingScorer(ConstantScorer):
    """A real scorer that cannot score large amounts (as a model with a bug might)."""

    def score(self, x: Sequence[float]) -> float:
        if x[0] > 1_000:
            raise ArithmeticError("amount out of the model's range")
        return super().score(x)


def test_a_processing_error_sends_the_transaction_to_the_dlq_and_the_stream_goes_on(tmp_path: Path) -> None:
    rows = [_row(f"t{i}", f"2026-03-01T12:0{i}:00Z", amount=5_000.0 if i == 1 else 20.0) for i in range(4)]
    with (tmp_path / "dlq.jsonl").open("w") as dlq_fh:
        records, _, summary = replay(
            load_input(_jsonl(tmp_path / "e.jsonl", rows)), DetectorConfig(), FailingScorer(0.2), None, dlq_fh
        )
    assert [r.transaction_id for r in records] == ["t0", "t2", "t3"]
    (dl,) = [DeadLetterRecord.model_validate(d) for d in iter_jsonl(tmp_path / "dlq.jsonl")]
    assert dl.stage is Stage.SCORE and "out of the model's range" in dl.error_message
    assert json.loads(dl.payload)["transaction_id"] == "t1"
    assert summary.dead_letters == {"processing_error": 1}


def test_project_parquet_input_is_replayed(tmp_path: Path) -> None:
    table = pa.table(
        {
            "transaction_id": ["a", "b", "c"],
            "customer_id": ["C1", "C1", "C2"],
            "terminal_id": ["T1", "T2", "T1"],
            "amount": [10.0, -5.0, 30.0],
            "event_time": pa.array(
                [datetime(2026, 3, 1, h) for h in (10, 11, 12)], pa.timestamp("us")
            ),  # naive: UTC by convention
        }
    )
    pq.write_table(table, tmp_path / "tx.parquet")
    data = load_input(tmp_path / "tx.parquet")
    assert [t.transaction_id for t in data.transactions] == ["a", "c"]
    assert data.transactions[0].event_time == datetime(2026, 3, 1, 10, tzinfo=UTC)
    (dl,) = data.dead_letters
    assert dl.error_type.value == "negative_amount" and json.loads(dl.payload)["transaction_id"] == "b"


def test_unusable_inputs_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_input(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unsupported extension"):
        load_input(tmp_path / "x.csv")
    pq.write_table(pa.table({"foo": [1]}), tmp_path / "foo.parquet")
    with pytest.raises(ValueError, match="neither the handbook columns"):
        load_input(tmp_path / "foo.parquet")
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("seven days")
    assert (
        parse_duration("7d") == 7 * 86400 and parse_duration("90") == 90.0 and parse_duration("1.5h") == 5400
    )


def test_handbook_slice_replays_with_labels_delivered_late(tmp_path: Path, handbook_data: Path) -> None:
    """The first two days of the handbook data (read with pyarrow filters), 1-day label delay."""
    columns = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
    table = pq.read_table(
        handbook_data, columns=columns, filters=[("TX_DATETIME", "<", datetime(2018, 4, 3))]
    )
    assert 15_000 < table.num_rows < 25_000
    pq.write_table(table, tmp_path / "slice.parquet")
    summary = run_replay(
        tmp_path / "slice.parquet", tmp_path / "out", DetectorConfig(label_delay_s=parse_duration("1d"))
    )
    scores = pq.read_table(tmp_path / "out" / "scores.parquet")
    assert scores.num_rows == table.num_rows == summary.scored
    assert (
        pc.sum(pc.cast(scores.column("label"), "int64")).as_py() == pc.sum(table.column("TX_FRAUD")).as_py()
    )
    # Every row is labelled; a label is delivered 1 day after its transaction and never before, so exactly
    # the transactions at least 1 day older than the last one have had their label delivered.
    last = pc.max(table.column("TX_DATETIME")).as_py()
    due = pc.sum(
        pc.cast(pc.less_equal(table.column("TX_DATETIME"), last - timedelta(days=1)), "int64")
    ).as_py()
    assert 0 < summary.labels_delivered == due
    assert summary.dead_letters == {}
    assert (tmp_path / "out" / "alerts.jsonl").exists()


def test_skipping_the_unread_feature_state_without_a_scorer_changes_no_score(tmp_path: Path) -> None:
    gen = generate(1_500, seed=12)
    write_jsonl(gen.records, tmp_path / "tx.jsonl")
    data = load_input(tmp_path / "tx.jsonl")
    data.labels = [None] * len(data.transactions)  # compare the stages alone, without label delivery
    fast, _, _ = replay(data, DetectorConfig())  # replay drops ml_features: no scorer reads them
    # The same stream through the keyed stages with the feature state maintained.
    cfg = DetectorConfig(ml_features=True)
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    full = []
    for tx in sorted(data.transactions, key=lambda t: t.event_time):
        terminals[tx.terminal_id], enriched = terminal_step(terminals.get(tx.terminal_id), tx, cfg)
        customers[tx.customer_id], record, _ = customer_step(customers.get(tx.customer_id), enriched, cfg)
        full.append(record)
    assert fast == full


def test_replay_with_a_scorer_records_the_ml_score(tmp_path: Path) -> None:
    gen = generate(800, seed=13)
    write_jsonl(gen.records, tmp_path / "tx.jsonl")
    records, _, _ = replay(load_input(tmp_path / "tx.jsonl"), DetectorConfig(), ConstantScorer(0.9))
    assert all(r.ml_score == 0.9 and "FR-006" in r.rule_codes for r in records)
