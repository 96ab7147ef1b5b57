"""Kafka coordinates survive the trip between the job's operators as text."""

from __future__ import annotations

from fraud_jobs.flink.records import format_source, parse_source
from fraud_jobs.schemas import Source


def test_source_round_trip_with_colons_in_topic() -> None:
    for source in (Source("payments.transactions", 2, 1234), Source("a:b", 0, 0)):
        assert parse_source(format_source(source)) == source
    assert parse_source("garbage") == Source("garbage", None, None)
