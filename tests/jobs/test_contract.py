"""Contract: every producer's output parses in every consumer (generator, alerts, DLQ, labels, control)."""

from __future__ import annotations

import json
from pathlib import Path

from fraud_jobs.config import DetectorConfig, apply_control
from fraud_jobs.generator import generate
from fraud_jobs.logic import EnrichedTransaction
from fraud_jobs.replay import iter_jsonl, load_input, replay
from fraud_jobs.schemas import (
    ControlMessage,
    DeadLetterRecord,
    FraudAlert,
    Label,
    Transaction,
    parse_control,
    parse_label,
    parse_transaction,
)


def test_generator_output_parses_as_transactions_v1_and_v2() -> None:
    result = generate(1_000, seed=4, malformed_ratio=0.05)
    versions = set()
    for rec in result.records:
        parsed = parse_transaction(rec.payload)
        if rec.malformed is None:
            assert isinstance(parsed, Transaction), parsed
            versions.add(parsed.schema_version)
        else:
            assert isinstance(parsed, DeadLetterRecord)
    assert versions == {1, 2}


def test_generator_control_message_parses_and_applies() -> None:
    result = generate(500, seed=1)
    parsed = parse_control(result.control.model_dump_json().encode())
    assert isinstance(parsed, ControlMessage)
    cfg = apply_control(DetectorConfig(), parsed)
    assert cfg.blocklist.customers == frozenset(result.control.blocklist_add.customers)
    assert cfg.blocklist.terminals


def test_alerts_and_dead_letters_written_by_replay_parse_back(tmp_path: Path) -> None:
    gen = generate(3_000, seed=8, malformed_ratio=0.02)
    path = tmp_path / "tx.jsonl"
    path.write_bytes(b"".join(r.payload + b"\n" for r in gen.records))
    cfg = apply_control(DetectorConfig(), gen.control)
    with (tmp_path / "a.jsonl").open("w") as alerts, (tmp_path / "d.jsonl").open("w") as dlq:
        replay(load_input(path), cfg, None, alerts, dlq)
    alert_lines = (tmp_path / "a.jsonl").read_text().splitlines()
    dlq_lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert alert_lines and dlq_lines
    for line in alert_lines:
        alert = FraudAlert.model_validate_json(line)
        assert alert.rule_hits
    for line in dlq_lines:
        DeadLetterRecord.model_validate_json(line)
    assert len(list(iter_jsonl(tmp_path / "d.jsonl"))) == sum(gen.malformed.values())


def test_labels_as_the_case_system_writes_them_parse() -> None:
    tx = parse_transaction(generate(50, seed=2).records[0].payload)
    assert isinstance(tx, Transaction)
    label = Label(
        transaction_id=tx.transaction_id,
        is_fraud=True,
        confirmed_at=tx.event_time,
        terminal_id=tx.terminal_id,
        customer_id=tx.customer_id,
        tx_event_time=tx.event_time,
    )
    assert parse_label(label.model_dump_json().encode()) == label


def test_enriched_transaction_crosses_the_stage_boundary_unchanged() -> None:
    tx = parse_transaction(generate(50, seed=2).records[3].payload)
    assert isinstance(tx, Transaction)
    enriched = EnrichedTransaction(tx, 3, 1, (1.0, 0.25, 7.0, 0.1, 30.0, 0.05))
    again = EnrichedTransaction.from_json(enriched.to_json())
    assert again == enriched
    assert json.loads(enriched.to_json())["tx"]["transaction_id"] == tx.transaction_id
