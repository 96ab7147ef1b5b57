"""Fuzz the parser: >= 10,000 malformed records all become DeadLetterRecords; valid ones between all parse."""

from __future__ import annotations

import json
import random
from collections import Counter

from fraud_jobs.generator import MALFORMATIONS, generate, malform
from fraud_jobs.schemas import DeadLetterRecord, ErrorType, ParseStats, Transaction, parse_transaction

# What each corruption may legitimately be reported as (the first error wins when several apply).
EXPECTED: dict[str, set[ErrorType]] = {
    "truncated_json": {ErrorType.INVALID_JSON},
    "amount_as_string": {ErrorType.WRONG_TYPE},
    "amount_nan": {ErrorType.NON_FINITE_AMOUNT},
    "amount_infinite": {ErrorType.NON_FINITE_AMOUNT},
    "amount_negative": {ErrorType.NEGATIVE_AMOUNT},
    "amount_huge": {ErrorType.AMOUNT_TOO_LARGE},
    "amount_bool": {ErrorType.WRONG_TYPE},
    "id_wrong_type": {ErrorType.WRONG_TYPE},
    "missing_key": {ErrorType.MISSING_FIELD},
    "duplicate_key": {ErrorType.INVALID_JSON},
    "bad_timestamp": {ErrorType.BAD_TIMESTAMP},
    "bad_geo": {ErrorType.INVALID_GEO, ErrorType.WRONG_TYPE},
    "oversize": {ErrorType.OVERSIZE_PAYLOAD},
    "utf16_encoded": {ErrorType.INVALID_ENCODING},
    "latin1_encoded": {ErrorType.INVALID_ENCODING},
    "not_an_object": {ErrorType.NOT_AN_OBJECT},
    "empty_payload": {ErrorType.INVALID_JSON},
    "binary_garbage": {ErrorType.INVALID_ENCODING},
    "deeply_nested": {ErrorType.INVALID_JSON},
    "bad_schema_version": {ErrorType.WRONG_TYPE, ErrorType.UNSUPPORTED_SCHEMA_VERSION},
    "id_control_chars": {ErrorType.INVALID_VALUE},
}
PER_KIND = 500  # x 21 kinds = 10,500 malformed records


def test_every_corruption_kind_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MALFORMATIONS)


def test_ten_thousand_malformed_records_all_reach_the_dlq_and_valid_ones_all_parse() -> None:
    rng = random.Random(20261129)
    valid = [rec.payload for rec in generate(2_000, seed=11).records]
    stream: list[tuple[bytes, str | None]] = []
    for kind in sorted(MALFORMATIONS):
        for _ in range(PER_KIND):
            source = json.loads(rng.choice(valid))
            stream.append((malform(source, rng, kind)[1], kind))
    stream.extend((payload, None) for payload in valid)
    rng.shuffle(stream)
    assert sum(1 for _, kind in stream if kind) >= 10_000

    stats = ParseStats()
    reasons: Counter[str] = Counter()
    for raw, kind in stream:
        result = parse_transaction(raw, stats=stats)
        if kind is None:
            assert isinstance(result, Transaction), result
            continue
        assert isinstance(result, DeadLetterRecord), (kind, raw[:200])
        assert result.error_type in EXPECTED[kind], (kind, result.error_type, result.error_message)
        assert result.error_message
        assert result.original_bytes() == raw[: len(result.original_bytes())]
        reasons[result.error_type.value] += 1
    assert stats.parsed == len(valid)
    assert sum(stats.dead_letters.values()) == len(MALFORMATIONS) * PER_KIND
    assert stats.dead_letters == reasons


def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    valid = generate(200, seed=5).records[0].payload
    for i in range(3_000):
        if i % 2:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        else:  # flip a few bytes of a valid record: may or may not stay valid, must never raise
            data = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            raw = bytes(data)
        result = parse_transaction(raw)
        assert isinstance(result, Transaction | DeadLetterRecord)
        if isinstance(result, DeadLetterRecord):
            assert result.error_message
        else:  # what the job does between its stages must work for whatever the parse let through
            assert Transaction.model_validate_json(result.model_dump_json()) == result


def test_deeply_nested_json_is_a_dead_letter_not_a_crash() -> None:
    raw = b"[" * 5_000 + b"]" * 5_000
    result = parse_transaction(raw)
    assert isinstance(result, DeadLetterRecord)
    assert result.error_type in {ErrorType.INVALID_JSON, ErrorType.NOT_AN_OBJECT}


def test_a_timestamp_outside_the_range_in_utc_is_refused_at_parse_not_downstream() -> None:
    """Found by fuzzing: the year was checked before the conversion to UTC, so 2100-12-31T23:30-05:00
    parsed, became 2101 and failed the next stage's re-validation (a processing error, not bad input)."""
    for when in ("2100-12-31T23:30:00-05:00", "2000-01-01T00:30:00+14:00"):
        raw = _record(event_time=when)
        result = parse_transaction(raw)
        assert isinstance(result, DeadLetterRecord), when
        assert result.error_type is ErrorType.BAD_TIMESTAMP and "UTC" in result.error_message
    edge = parse_transaction(_record(event_time="2100-12-31T18:59:59-05:00"))
    assert isinstance(edge, Transaction) and edge.event_time.year == 2100


def test_ids_with_control_characters_are_refused() -> None:
    """Found by fuzzing: a NUL in an id parsed fine, and PostgreSQL refuses NUL in text, so an alert for it
    would fail the alert writer (a job restart loop) instead of reaching the DLQ."""
    for field, value in (("customer_id", "C\x00"), ("terminal_id", "T\n1"), ("device_id", "D\x1b")):
        result = parse_transaction(_record(**{field: value}))
        assert isinstance(result, DeadLetterRecord), field
        assert result.error_type is ErrorType.INVALID_VALUE and field in result.error_message
    ok = parse_transaction(_record(customer_id="Müller 東京"))
    assert isinstance(ok, Transaction) and ok.customer_id == "Müller 東京"


def _record(**changes: str) -> bytes:
    rec = {
        "transaction_id": "t1",
        "customer_id": "C1",
        "terminal_id": "T1",
        "amount": 10.0,
        "event_time": "2026-03-02T10:00:00Z",
        **changes,
    }
    return json.dumps(rec).encode()
