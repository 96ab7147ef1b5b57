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
