"""Elements between the job's operators: source references survive the trip; score records are complete."""

from __future__ import annotations

import json

import pytest
from fraud_jobs.flink.records import format_source, parse_source, score_json
from fraud_jobs.logic import ScoreRecord
from fraud_jobs.schemas import Source


def test_source_round_trip_with_colons_in_topic() -> None:
    for source in (Source("payments.transactions", 2, 1234), Source("a:b", 0, 0)):
        assert parse_source(format_source(source)) == source
    assert parse_source("garbage") == Source("garbage", None, None)


def test_score_json_carries_the_decision() -> None:
    record = ScoreRecord("t1", "c1", "x1", 1.5e9, 12.5, 0.6, 0.6, None, ("FR-001",), True)
    data = json.loads(score_json(record, detected_at=1.5e9 + 0.2))
    assert data["transaction_id"] == "t1" and data["rule_codes"] == ["FR-001"] and data["alert"] is True
    assert data["detected_at"] - data["event_ts"] == pytest.approx(0.2)


def test_score_json_and_model_score_rows_carry_both_models() -> None:
    from fraud_jobs.flink.records import model_score_rows

    plain = ScoreRecord("t1", "c1", "x1", 1.5e9, 12.5, 0.6, 0.6, 0.2, ("FR-001",), True, "m1")
    data = json.loads(score_json(plain, detected_at=1.5e9))
    assert data["model_version"] == "m1" and "shadow_score" not in data
    assert model_score_rows(plain, 1.5e9 + 1) == (
        ("t1", "m1", "active", 0.6, 0.2, True, "c1", 1.5e9, 1.5e9 + 1),
    )
    shadowed = plain._replace(
        shadow_model_version="m2", shadow_score=0.3, shadow_ml_score=0.9, shadow_alert=False
    )
    data = json.loads(score_json(shadowed, detected_at=1.5e9))
    assert (data["shadow_model_version"], data["shadow_score"], data["shadow_ml_score"]) == ("m2", 0.3, 0.9)
    assert data["shadow_alert"] is False and "shadow_error" not in data
    rows = model_score_rows(shadowed, 1.5e9 + 1)
    assert [r[1:4] for r in rows] == [("m1", "active", 0.6), ("m2", "shadow", 0.3)]
    failed = plain._replace(shadow_model_version="m2", shadow_error="RuntimeError: x")
    assert json.loads(score_json(failed))["shadow_error"] == "RuntimeError: x"
    assert len(model_score_rows(failed, 0.0)) == 1  # no shadow row without a shadow score
