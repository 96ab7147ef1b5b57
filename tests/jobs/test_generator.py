"""Generator: deterministic by seed, every pattern injected, malformed records on request, stream order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fraud_jobs.generator import PATTERNS, generate, write_jsonl


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = generate(800, seed=5, malformed_ratio=0.05)
    b = generate(800, seed=5, malformed_ratio=0.05)
    c = generate(800, seed=6, malformed_ratio=0.05)
    assert [r.payload for r in a.records] == [r.payload for r in b.records]
    assert a.control == b.control
    assert [r.payload for r in a.records] != [r.payload for r in c.records]


def test_count_patterns_and_malformed_share() -> None:
    result = generate(4_000, seed=1, malformed_ratio=0.1)
    assert len(result.records) == 4_000
    assert sum(1 for r in result.records if r.malformed) == 400 == sum(result.malformed.values())
    assert set(result.injected) == set(PATTERNS)
    valid = [json.loads(r.payload) for r in result.records if r.malformed is None]
    by_pattern = {p: sum(1 for v in valid if v["fraud_pattern"] == p) for p in PATTERNS}
    assert by_pattern == dict(result.injected)
    assert all(v["is_fraud"] == (v["fraud_pattern"] is not None) for v in valid)
    assert len({v["transaction_id"] for v in valid}) == len(valid)
    times = [v["event_time"] for v in valid]
    assert times == sorted(times)  # stream order


def test_blocklisted_entries_are_in_the_control_message() -> None:
    result = generate(2_000, seed=2)
    valid = [json.loads(r.payload) for r in result.records]
    blocked = [v for v in valid if v["fraud_pattern"] == "blocklist"]
    control = result.control.blocklist_add
    assert blocked
    assert all(
        v["customer_id"] in control.customers or v["terminal_id"] in control.terminals for v in blocked
    )


def test_jsonl_output_is_one_record_per_line(tmp_path: Path) -> None:
    result = generate(1_000, seed=3, malformed_ratio=0.2)
    path = tmp_path / "out.jsonl"
    assert write_jsonl(result.records, path) == 1_000
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1_001
    assert lines[:-1] == [r.payload for r in result.records]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"count": 0}, "count"),
        ({"count": 10, "malformed_ratio": 1.0}, "malformed"),
        ({"count": 10, "days": 2}, "days"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, int | float], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        generate(**kwargs)  # type: ignore[arg-type]


def test_kafka_output_fails_loudly_when_nothing_is_acknowledged() -> None:
    """No broker listens on this port: the records are reported as unacknowledged, never dropped quietly."""
    from fraud_jobs.generator import write_kafka

    records = generate(20, seed=1).records
    with pytest.raises(RuntimeError, match="20 records unacknowledged"):
        write_kafka(records, "transactions", "127.0.0.1:1", timeout_s=2.0)
