"""Wire schemas: compatibility rules, every DLQ reason, DLQ payload handling, alert ids."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fraud_jobs.schemas import (
    DLQ_PAYLOAD_LIMIT,
    LATEST_TRANSACTION_VERSION,
    DeadLetterRecord,
    ErrorType,
    FraudAlert,
    Label,
    ParseStats,
    PaymentMethod,
    RuleHit,
    Source,
    Stage,
    Transaction,
    alert_id_for,
    dead_letter,
    parse_control,
    parse_label,
    parse_transaction,
)
from pydantic import ValidationError


def tx_dict(**overrides: Any) -> dict[str, Any]:
    """A valid v1 transaction as it appears on the wire."""
    base: dict[str, Any] = {
        "transaction_id": "tx-1",
        "customer_id": "C1",
        "terminal_id": "T1",
        "amount": 42.5,
        "event_time": "2026-03-02T12:00:00Z",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def tx_bytes(**overrides: Any) -> bytes:
    return json.dumps(tx_dict(**overrides)).encode()


def test_v1_record_gets_v2_defaults() -> None:
    tx = parse_transaction(tx_bytes())
    assert isinstance(tx, Transaction)
    assert tx.schema_version == 1
    assert (tx.payment_method, tx.channel, tx.device_id, tx.lat, tx.lon) == (None, None, None, None, None)
    assert tx.event_time == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert tx.ts == tx.event_time.timestamp()


def test_v2_record_parses_optional_fields() -> None:
    raw = tx_bytes(
        schema_version=2, payment_method="wallet", channel="mobile", device_id="D1", lat=50.85, lon=4.35
    )
    tx = parse_transaction(raw)
    assert isinstance(tx, Transaction)
    assert tx.payment_method is PaymentMethod.WALLET
    assert (tx.lat, tx.lon, tx.has_geo) == (50.85, 4.35, True)


def test_offsets_are_normalised_to_utc() -> None:
    tx = parse_transaction(tx_bytes(event_time="2026-03-02T14:00:00+02:00"))
    assert isinstance(tx, Transaction)
    assert tx.event_time == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert tx.event_time.utcoffset() == timedelta(0)


def test_unknown_fields_are_ignored_and_future_versions_counted() -> None:
    stats = ParseStats()
    raw = tx_bytes(schema_version=LATEST_TRANSACTION_VERSION + 5, loyalty_tier="gold", nested={"a": [1, 2]})
    tx = parse_transaction(raw, stats=stats)
    assert isinstance(tx, Transaction)
    assert tx.is_future_version
    assert not hasattr(tx, "loyalty_tier")
    assert stats.future_version == 1
    assert stats.by_version[LATEST_TRANSACTION_VERSION + 5] == 1
    parse_transaction(tx_bytes(), stats=stats)
    assert (stats.parsed, stats.future_version) == (2, 1)


def test_the_largest_schema_version_a_jvm_long_holds_parses_as_a_future_version() -> None:
    parsed = parse_transaction(tx_bytes(schema_version=2**63 - 1), Source("t", 0, 0))
    assert isinstance(parsed, Transaction) and parsed.is_future_version


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"transaction_id": "x", ', ErrorType.INVALID_JSON),
        (b"", ErrorType.INVALID_JSON),
        (b"\xff\xfe{}", ErrorType.INVALID_ENCODING),
        (json.dumps(tx_dict()).encode("utf-16"), ErrorType.INVALID_ENCODING),
        (b"[1, 2]", ErrorType.NOT_AN_OBJECT),
        (b"null", ErrorType.NOT_AN_OBJECT),
        (tx_bytes(padding="x" * 20_000), ErrorType.OVERSIZE_PAYLOAD),
        (tx_bytes(amount=...), ErrorType.MISSING_FIELD),
        (tx_bytes(event_time=...), ErrorType.MISSING_FIELD),
        (tx_bytes(amount="42.50"), ErrorType.WRONG_TYPE),
        (tx_bytes(amount=True), ErrorType.WRONG_TYPE),
        (tx_bytes(customer_id=17), ErrorType.WRONG_TYPE),
        (tx_bytes(schema_version="2"), ErrorType.WRONG_TYPE),
        (tx_bytes(amount=math.nan), ErrorType.NON_FINITE_AMOUNT),
        (tx_bytes(amount=math.inf), ErrorType.NON_FINITE_AMOUNT),
        (tx_bytes(amount=-0.01), ErrorType.NEGATIVE_AMOUNT),
        (tx_bytes(amount=1e12), ErrorType.AMOUNT_TOO_LARGE),
        (tx_bytes(event_time="2026-03-02T12:00:00"), ErrorType.BAD_TIMESTAMP),
        (tx_bytes(event_time="not a time"), ErrorType.BAD_TIMESTAMP),
        (tx_bytes(event_time=1772452800), ErrorType.BAD_TIMESTAMP),
        (tx_bytes(event_time="1899-12-31T00:00:00Z"), ErrorType.BAD_TIMESTAMP),
        (tx_bytes(lat=50.0), ErrorType.INVALID_GEO),
        (tx_bytes(lat=95.0, lon=0.0), ErrorType.INVALID_GEO),
        (tx_bytes(schema_version=0), ErrorType.UNSUPPORTED_SCHEMA_VERSION),
        (tx_bytes(schema_version=2**63), ErrorType.UNSUPPORTED_SCHEMA_VERSION),  # beyond a JVM long
        (tx_bytes(customer_id=""), ErrorType.INVALID_VALUE),
        (tx_bytes(currency="euro"), ErrorType.INVALID_VALUE),
        (tx_bytes(channel="fax"), ErrorType.INVALID_VALUE),
    ],
)
def test_each_bad_record_names_its_reason(raw: bytes, reason: ErrorType) -> None:
    stats = ParseStats()
    result = parse_transaction(raw, Source("payments.transactions", 3, 1234), stats)
    assert isinstance(result, DeadLetterRecord)
    assert result.error_type is reason, result.error_message
    assert result.error_message
    assert (result.source_topic, result.source_partition, result.source_offset) == (
        "payments.transactions",
        3,
        1234,
    )
    assert stats.dead_letters[reason.value] == 1
    assert result.original_bytes() == raw[:DLQ_PAYLOAD_LIMIT]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (tx_bytes()[:-1] + b', "terminal_id": "T2"}', "terminal_id"),
        (tx_bytes()[:-1] + b', "\\u0063ustomer_id" : "C2"}', "customer_id"),  # escaped, space before ':'
        (b'{"amount": 1, ' + tx_bytes()[1:], "amount"),
        (tx_bytes(geo={"a": 1})[:-2] + b', "a": 2}}', "a"),  # nested objects are checked too
    ],
)
def test_a_duplicated_key_is_refused_naming_it(raw: bytes, key: str) -> None:
    # parsers disagree on which duplicate wins (ours and Flink's JSON_VALUE keep the last one), so the
    # record would be keyed, stored and read as different transactions: it is refused instead
    result = parse_transaction(raw, Source("payments.transactions", 0, 7))
    assert isinstance(result, DeadLetterRecord)
    assert result.error_type is ErrorType.INVALID_JSON
    assert result.error_message == f"invalid JSON: duplicate key {key!r}"


def test_keys_that_only_look_repeated_are_accepted() -> None:
    text = tx_bytes(note='"terminal_id": "T9"', meta={"terminal_id": "T9", "x": {"amount": 1}})
    assert isinstance(parse_transaction(text, Source("payments.transactions", 0, 8)), Transaction)


def test_dead_letter_cuts_at_10kb_and_keeps_the_size() -> None:
    raw = b'{"x": "' + b"a" * 30_000 + b'"}'
    dl = dead_letter(raw, ErrorType.OVERSIZE_PAYLOAD, "too big", Stage.PARSE)
    assert dl.payload_truncated
    assert dl.payload_size == len(raw)
    assert len(dl.payload.encode()) == DLQ_PAYLOAD_LIMIT
    assert dl.payload_encoding == "utf-8"


def test_dead_letter_keeps_undecodable_bytes_as_base64() -> None:
    raw = b"\x00\xff\xfe garbage"
    dl = dead_letter(raw, ErrorType.INVALID_ENCODING, "bad", Stage.PARSE)
    assert dl.payload_encoding == "base64"
    assert base64.b64decode(dl.payload) == raw
    assert not dl.payload_truncated


def test_dead_letter_cut_inside_a_multibyte_character_stays_text() -> None:
    raw = ("a" + "é" * DLQ_PAYLOAD_LIMIT).encode()  # 1 + 2 bytes each: the 10 KB cut splits an "é"
    dl = dead_letter(raw, ErrorType.OVERSIZE_PAYLOAD, "big", Stage.PARSE)
    assert dl.payload_encoding == "utf-8"
    assert dl.payload_truncated
    assert dl.payload == "a" + "é" * ((DLQ_PAYLOAD_LIMIT - 1) // 2)


def test_dead_letter_round_trips_through_json() -> None:
    dl = parse_transaction(b"{oops", Source("t", 0, 7))
    assert isinstance(dl, DeadLetterRecord)
    again = DeadLetterRecord.model_validate_json(dl.model_dump_json())
    assert again == dl


def test_alert_id_is_deterministic_and_checked() -> None:
    assert alert_id_for("tx-1") == alert_id_for("tx-1") != alert_id_for("tx-2")
    fields: dict[str, Any] = {
        "transaction_id": "tx-1",
        "customer_id": "C1",
        "terminal_id": "T1",
        "amount": 10.0,
        "score": 0.9,
        "rule_score": 0.9,
        "rule_hits": [RuleHit(code="FR-005", reason="blocked", weight=1.0)],
        "event_time": "2026-03-02T12:00:00Z",
        "detection_time": "2026-03-02T12:00:01Z",
    }
    alert = FraudAlert(alert_id=alert_id_for("tx-1"), **fields)
    assert FraudAlert.model_validate_json(alert.model_dump_json()) == alert
    with pytest.raises(ValidationError, match="alert_id"):
        FraudAlert(alert_id=alert_id_for("tx-2"), **fields)
    with pytest.raises(ValidationError):
        FraudAlert(alert_id=alert_id_for("tx-1"), **{**fields, "score": 1.5})


def test_labels_parse_and_refuse_confirmation_before_the_transaction() -> None:
    label = {
        "transaction_id": "tx-1",
        "is_fraud": True,
        "confirmed_at": "2026-03-09T12:00:00Z",
        "terminal_id": "T1",
        "customer_id": "C1",
        "tx_event_time": "2026-03-02T12:00:00Z",
    }
    parsed = parse_label(json.dumps(label).encode())
    assert isinstance(parsed, Label) and parsed.is_fraud
    early = parse_label(json.dumps({**label, "confirmed_at": "2026-03-01T00:00:00Z"}).encode())
    assert isinstance(early, DeadLetterRecord) and early.error_type is ErrorType.INVALID_VALUE
    wrong = parse_label(json.dumps({**label, "is_fraud": "yes"}).encode())
    assert isinstance(wrong, DeadLetterRecord) and wrong.error_type is ErrorType.WRONG_TYPE


def test_control_messages_parse_or_dead_letter() -> None:
    ok = parse_control(
        json.dumps(
            {
                "message_id": "m1",
                "issued_at": "2026-03-02T12:00:00Z",
                "rules": {"FR-002": {"max_count": 3}},
                "blocklist_add": {"customers": ["C9"]},
            }
        ).encode()
    )
    assert not isinstance(ok, DeadLetterRecord)
    assert ok.rules == {"FR-002": {"max_count": 3}}
    assert ok.blocklist_add.customers == ("C9",)
    bad = parse_control(b'{"message_id": "m2", "issued_at": "2026-03-02T12:00:00Z", "alpha": 3}')
    assert isinstance(bad, DeadLetterRecord) and bad.error_type is ErrorType.INVALID_VALUE


def test_newer_label_and_control_versions_parse_with_the_fields_known_here() -> None:
    label = {
        "schema_version": 3,
        "transaction_id": "tx-1",
        "is_fraud": False,
        "confirmed_at": "2026-03-09T12:00:00Z",
        "terminal_id": "T1",
        "customer_id": "C1",
        "tx_event_time": "2026-03-02T12:00:00Z",
        "analyst": "new field",
    }
    parsed = parse_label(json.dumps(label).encode())
    assert isinstance(parsed, Label) and parsed.schema_version == 3
    control = parse_control(
        b'{"schema_version": 2, "message_id": "m", "issued_at": "2026-03-02T12:00:00Z", "x": 1}'
    )
    assert not isinstance(control, DeadLetterRecord) and control.schema_version == 2
