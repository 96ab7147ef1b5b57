"""Wire schemas of the detector and the never-raising parse path.

Every record that crosses a topic boundary is one of these models. Producers and consumers share them, so a
contract test can prove that whatever one side writes the other side reads. The parse functions turn bytes
into a model *or* a :class:`DeadLetterRecord` naming the reason: a stream job must never crash on bad input
and must never drop it silently.

Compatibility rules:

* unknown fields are ignored (forward compatible: newer producers may add fields);
* a ``schema_version`` newer than :data:`LATEST_TRANSACTION_VERSION` is parsed with the fields we know and
  counted in :class:`ParseStats` (``future_version``);
* a v1 transaction gets ``None`` for every v2 field (backward compatible).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError, from_json

__all__ = [
    "DLQ_PAYLOAD_LIMIT",
    "LATEST_TRANSACTION_VERSION",
    "MAX_AMOUNT",
    "MAX_PAYLOAD_BYTES",
    "Channel",
    "ControlMessage",
    "DeadLetterRecord",
    "ErrorType",
    "FraudAlert",
    "Label",
    "ParseStats",
    "PaymentMethod",
    "RuleHit",
    "Source",
    "Stage",
    "Transaction",
    "alert_id_for",
    "dead_letter",
    "decode_json_object",
    "parse_control",
    "parse_label",
    "parse_transaction",
    "validate_transaction",
]

LATEST_TRANSACTION_VERSION: Final = 2
MAX_PAYLOAD_BYTES: Final = 16 * 1024
"""A transaction is ~400 bytes; anything above this is garbage or an attack, not a transaction."""
DLQ_PAYLOAD_LIMIT: Final = 10 * 1024
MAX_AMOUNT: Final = 1_000_000.0
"""Amounts above this are a producer bug (cents sent as units, overflow), not a purchase."""
_MAX_SCHEMA_VERSION: Final = 2**63 - 1
"""A record's schema version is a 64-bit integer on every reader (the detector's JVM stages read a long)."""
_MAX_ID_LEN: Final = 128
_MIN_YEAR: Final = 2000
_MAX_YEAR: Final = 2100
_ALERT_NAMESPACE: Final = uuid.UUID("6f1f0f3e-5b7a-4c1e-9a51-0d3c7e2b9f10")


class ErrorType(StrEnum):
    """Why a record went to the dead-letter queue (a metric label, so a closed set)."""

    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    OVERSIZE_PAYLOAD = "oversize_payload"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    BAD_TIMESTAMP = "bad_timestamp"
    NON_FINITE_AMOUNT = "non_finite_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    INVALID_GEO = "invalid_geo"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    PROCESSING_ERROR = "processing_error"


class Stage(StrEnum):
    """Where in the pipeline a record failed."""

    PARSE = "parse"
    VALIDATE = "validate"
    PROCESS = "process"
    SCORE = "score"
    SINK = "sink"


class PaymentMethod(StrEnum):
    CARD_PRESENT = "card_present"
    CARD_NOT_PRESENT = "card_not_present"
    CONTACTLESS = "contactless"
    WALLET = "wallet"
    BANK_TRANSFER = "bank_transfer"


class Channel(StrEnum):
    POS = "pos"
    ECOMMERCE = "ecommerce"
    ATM = "atm"
    MOBILE = "mobile"


class Source(NamedTuple):
    """Where a record came from, so a DLQ entry can be traced back and replayed."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


# ----------------------------------------------------------------------------------------------------------
# field validators shared by the models


def _err(kind: ErrorType, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind.value, message, ctx or None)


def _check_time(value: Any) -> datetime:
    """ISO-8601 with an explicit offset; naive or out-of-range times are refused (never guessed)."""
    if type(value) is datetime and value.tzinfo is UTC and _MIN_YEAR <= value.year <= _MAX_YEAR:
        return value  # already normalised (replay rows, re-validated models): the common case, kept cheap
    if isinstance(value, datetime):
        parsed = value
    elif type(value) is str:
        if len(value) > 40:
            raise _err(ErrorType.BAD_TIMESTAMP, "timestamp string too long ({n} chars)", n=len(value))
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _err(ErrorType.BAD_TIMESTAMP, "not an ISO-8601 timestamp: {v}", v=value[:40]) from None
    else:
        raise _err(ErrorType.BAD_TIMESTAMP, "must be an ISO-8601 string, got {got}", got=type(value).__name__)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _err(ErrorType.BAD_TIMESTAMP, "timestamp has no UTC offset: {v}", v=str(value)[:40])
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        raise _err(ErrorType.BAD_TIMESTAMP, "timestamp year {y} outside 2000..2100", y=parsed.year)
    utc = parsed.astimezone(UTC)
    if not _MIN_YEAR <= utc.year <= _MAX_YEAR:  # 2100-12-31T23:00-05:00 is in 2101: checked in UTC too, or
        # the normalised value would fail the next stage's re-validation instead of the parse
        raise _err(ErrorType.BAD_TIMESTAMP, "timestamp {v} is outside 2000..2100 in UTC", v=str(value)[:40])
    return utc


_NO_CONTROL_CHARS: Final = r"^[^\x00-\x1f\x7f]*$"
"""Ids and device ids end up in PostgreSQL text columns (which refuse NUL) and in logs: no control chars."""
_Id = Annotated[str, Field(min_length=1, max_length=_MAX_ID_LEN, pattern=_NO_CONTROL_CHARS)]
_UnitFloat = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class _Wire(BaseModel):
    """Base of every wire model: unknown fields are ignored so newer producers never break older consumers."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


# ----------------------------------------------------------------------------------------------------------
# transactions


class Transaction(_Wire):
    """A card transaction; v1 has the core fields, v2 adds optional payment, device and geo fields.

    Validation is native pydantic-core in strict mode (no int-for-string or string-for-number coercion),
    with one Python validator for the timestamp: ~2 µs per record. :func:`_from_validation_error` maps the
    error to a DLQ reason.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False)

    schema_version: int = Field(default=1, ge=1, le=_MAX_SCHEMA_VERSION)
    transaction_id: _Id
    customer_id: _Id
    terminal_id: _Id
    amount: float = Field(ge=0.0, le=MAX_AMOUNT)
    event_time: datetime = Field(strict=False)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # v2 (all optional; a v1 event gets None)
    payment_method: PaymentMethod | None = Field(default=None, strict=False)
    channel: Channel | None = Field(default=None, strict=False)
    device_id: str | None = Field(default=None, max_length=_MAX_ID_LEN, pattern=_NO_CONTROL_CHARS)
    lat: float | None = Field(default=None, ge=-90.0, le=90.0)
    lon: float | None = Field(default=None, ge=-180.0, le=180.0)

    @field_validator("event_time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime:
        return _check_time(value)

    @model_validator(mode="after")
    def _geo_pair(self) -> Transaction:
        if (self.lat is None) != (self.lon is None):
            raise _err(ErrorType.INVALID_GEO, "lat and lon must be given together")
        return self

    @property
    def ts(self) -> float:
        """Event time as epoch seconds (UTC), the unit of every state and feature computation."""
        return self.event_time.timestamp()

    @property
    def has_geo(self) -> bool:
        return self.lat is not None

    @property
    def is_future_version(self) -> bool:
        return self.schema_version > LATEST_TRANSACTION_VERSION


# ----------------------------------------------------------------------------------------------------------
# alerts


class RuleHit(_Wire):
    """One rule that fired: a stable code for machines and a reason sentence for the analyst."""

    code: str = Field(pattern=r"^FR-\d{3}$")
    reason: str = Field(min_length=1, max_length=500)
    weight: float = Field(ge=0.0, le=1.0)


def alert_id_for(transaction_id: str) -> str:
    """Deterministic alert id: re-processing a transaction (replay, restart) yields the same id, so sinks
    can upsert and stay idempotent."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, transaction_id))


class FraudAlert(_Wire):
    schema_version: int = Field(default=1, ge=1)  # newer versions parse with the fields known here
    alert_id: _Id
    transaction_id: _Id
    customer_id: _Id
    terminal_id: _Id
    amount: float = Field(ge=0.0, le=MAX_AMOUNT, allow_inf_nan=False)
    score: _UnitFloat
    rule_score: _UnitFloat
    ml_score: _UnitFloat | None = None
    rule_hits: tuple[RuleHit, ...]
    model_version: str | None = None
    event_time: datetime
    detection_time: datetime

    @field_validator("event_time", "detection_time", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime:
        return _check_time(value)

    @model_validator(mode="after")
    def _id_matches(self) -> FraudAlert:
        if self.alert_id != alert_id_for(self.transaction_id):
            raise _err(ErrorType.INVALID_VALUE, "alert_id is not derived from transaction_id")
        return self


# ----------------------------------------------------------------------------------------------------------
# dead letters


class DeadLetterRecord(_Wire):
    """A record that could not be processed, with everything needed to find, understand and replay it.

    ``payload`` holds the original bytes cut at 10 KB: as text when they were valid UTF-8, otherwise base64
    (``payload_encoding``); ``payload_size`` is the original size, ``payload_truncated`` says if it was cut.
    """

    schema_version: int = Field(default=1, ge=1)  # newer versions parse with the fields known here
    payload: str
    payload_encoding: Literal["utf-8", "base64"]
    payload_size: int = Field(ge=0)
    payload_truncated: bool
    error_type: ErrorType
    error_message: str = Field(max_length=2000)
    stage: Stage
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    failed_at: datetime

    @field_validator("failed_at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime:
        return _check_time(value)

    def original_bytes(self) -> bytes:
        """The stored (possibly truncated) payload as bytes."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


def dead_letter(
    raw: bytes | str,
    error_type: ErrorType,
    message: str,
    stage: Stage,
    source: Source | None = None,
    failed_at: datetime | None = None,
) -> DeadLetterRecord:
    """Build a DLQ record; cuts the payload at 10 KB on a character boundary for text."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    size = len(data)
    cut = data[:DLQ_PAYLOAD_LIMIT]
    try:
        text = cut.decode("utf-8")
        encoding: Literal["utf-8", "base64"] = "utf-8"
    except UnicodeDecodeError as exc:
        if size > DLQ_PAYLOAD_LIMIT and exc.start >= DLQ_PAYLOAD_LIMIT - 3:
            text, encoding = cut[: exc.start].decode("utf-8"), "utf-8"  # the cut split a multi-byte character
        else:
            text, encoding = base64.b64encode(cut).decode("ascii"), "base64"
    src = source or Source()
    return DeadLetterRecord.model_construct(
        payload=text,
        payload_encoding=encoding,
        payload_size=size,
        payload_truncated=size > DLQ_PAYLOAD_LIMIT,
        error_type=error_type,
        error_message=message[:2000],
        stage=stage,
        source_topic=src.topic,
        source_partition=src.partition,
        source_offset=src.offset,
        failed_at=failed_at or datetime.now(UTC),
        schema_version=1,
    )


# ----------------------------------------------------------------------------------------------------------
# labels and control


class Label(_Wire):
    """A confirmed outcome for a transaction, delivered late by case management.

    It carries the routing fields so both keyed stages (terminal, customer) can apply it without a lookup.
    """

    schema_version: int = Field(default=1, ge=1, le=_MAX_SCHEMA_VERSION)  # newer: the fields known here
    transaction_id: _Id
    is_fraud: bool
    confirmed_at: datetime
    terminal_id: _Id
    customer_id: _Id
    tx_event_time: datetime

    @field_validator("confirmed_at", "tx_event_time", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime:
        return _check_time(value)

    @field_validator("is_fraud", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        if type(value) is not bool:
            raise _err(
                ErrorType.WRONG_TYPE, "is_fraud must be true or false, got {got}", got=type(value).__name__
            )
        return value

    @model_validator(mode="after")
    def _order(self) -> Label:
        if self.confirmed_at < self.tx_event_time:
            raise _err(ErrorType.INVALID_VALUE, "confirmed_at is before the transaction's event time")
        return self


class BlocklistPatch(_Wire):
    customers: tuple[_Id, ...] = ()
    terminals: tuple[_Id, ...] = ()


class ControlMessage(_Wire):
    """A live change to the detector's configuration, applied through broadcast state without a restart.

    ``rules`` maps a rule code (``FR-001``) to the fields to change on that rule (thresholds, ``weight``,
    ``enabled``); every change is validated against :class:`fraud_jobs.config.DetectorConfig` when applied.
    """

    schema_version: int = Field(default=1, ge=1)  # newer versions parse with the fields known here
    message_id: _Id
    issued_at: datetime
    rules: dict[str, dict[str, float | int | bool]] = Field(default_factory=dict)
    alpha: _UnitFloat | None = None
    alert_threshold: _UnitFloat | None = None
    blocklist_add: BlocklistPatch = BlocklistPatch()
    blocklist_remove: BlocklistPatch = BlocklistPatch()

    @field_validator("issued_at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime:
        return _check_time(value)


# ----------------------------------------------------------------------------------------------------------
# parsing

_M = TypeVar("_M", bound=BaseModel)


@dataclass(slots=True)
class ParseStats:
    """Counters the caller exports as metrics (records by version, future versions, DLQ by reason)."""

    parsed: int = 0
    future_version: int = 0
    by_version: Counter[int] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)


def decode_json_object(
    raw: bytes, stage: Stage = Stage.PARSE, source: Source | None = None
) -> dict[str, Any] | DeadLetterRecord:
    """Bytes -> JSON object, or a DLQ record saying why not (size, encoding, syntax, not an object)."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        return dead_letter(
            raw,
            ErrorType.OVERSIZE_PAYLOAD,
            f"payload is {len(raw)} bytes > {MAX_PAYLOAD_BYTES}",
            stage,
            source,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return dead_letter(raw, ErrorType.INVALID_ENCODING, f"not UTF-8: {exc}", stage, source)
    try:
        obj = from_json(text, allow_inf_nan=True)  # NaN literals parse, so the amount check can name them
    except (ValueError, RecursionError) as exc:
        return dead_letter(raw, ErrorType.INVALID_JSON, f"invalid JSON: {exc}", stage, source)
    if type(obj) is not dict:
        return dead_letter(
            raw, ErrorType.NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}", stage, source
        )
    duplicate = _duplicate_key(text, len(obj))
    if duplicate is not None:
        return dead_letter(
            raw, ErrorType.INVALID_JSON, f"invalid JSON: duplicate key {duplicate!r}", stage, source
        )
    return obj


_KEY_END: Final = re.compile(r'"\s*:')


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _duplicate_key(text: str, top_level_keys: int) -> str | None:
    """The first key that occurs twice in one object, if any.

    A duplicated key is ambiguous: parsers disagree on which value wins (ours and Flink's JSON_VALUE keep
    the last, others the first), so a record could be keyed, stored and analysed as different
    transactions. Every key ends in ``"`` and ``:``, so when those are no more than the top-level keys,
    there is neither nesting nor a duplicate (the common, flat case costs a regex count); otherwise the
    text is parsed again keeping every pair.
    """
    if len(_KEY_END.findall(text)) <= top_level_keys:
        return None
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        return str(exc)
    except (ValueError, RecursionError):  # from_json accepted it; a stricter corner is not our concern here
        pass
    return None


_AMOUNT_ERRORS: Final = {
    "finite_number": ErrorType.NON_FINITE_AMOUNT,
    "greater_than_equal": ErrorType.NEGATIVE_AMOUNT,
    "less_than_equal": ErrorType.AMOUNT_TOO_LARGE,
}
_GEO_FIELDS: Final = frozenset({"lat", "lon"})


def _classify(field_name: str, kind: str) -> ErrorType:
    """Map a pydantic error (field, type) onto the closed set of DLQ reasons."""
    if kind == "missing":
        return ErrorType.MISSING_FIELD
    if kind in ErrorType._value2member_map_:
        return ErrorType(kind)  # our own PydanticCustomError types
    if kind.endswith(("_type", "_parsing")) or kind in {"model_type", "dict_type", "is_instance_of"}:
        return ErrorType.WRONG_TYPE
    if field_name == "amount" and kind in _AMOUNT_ERRORS:
        return _AMOUNT_ERRORS[kind]
    if field_name in _GEO_FIELDS:
        return ErrorType.INVALID_GEO
    if field_name == "schema_version":
        return ErrorType.UNSUPPORTED_SCHEMA_VERSION
    return ErrorType.INVALID_VALUE


def _from_validation_error(exc: ValidationError) -> tuple[ErrorType, str]:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<record>"
    error_type = _classify(str(first["loc"][0]) if first["loc"] else "", first["type"])
    extra = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_type, f"{loc}: {first['msg']}{extra}"


def validate_transaction(
    obj: dict[str, Any],
    raw: bytes | str,
    source: Source | None = None,
    stats: ParseStats | None = None,
) -> Transaction | DeadLetterRecord:
    """A decoded JSON object (or a row from a file) -> Transaction, or a DLQ record with the reason."""
    try:
        tx = Transaction.model_validate(obj)
    except ValidationError as exc:
        error_type, message = _from_validation_error(exc)
        if stats is not None:
            stats.dead_letters[error_type.value] += 1
        return dead_letter(raw, error_type, message, Stage.VALIDATE, source)
    if stats is not None:
        stats.parsed += 1
        stats.by_version[tx.schema_version] += 1
        if tx.schema_version > LATEST_TRANSACTION_VERSION:
            stats.future_version += 1
    return tx


def parse_transaction(
    raw: bytes, source: Source | None = None, stats: ParseStats | None = None
) -> Transaction | DeadLetterRecord:
    """Bytes from the wire -> Transaction or DeadLetterRecord; never raises (a job must not restart)."""
    try:
        obj = decode_json_object(raw, Stage.PARSE, source)
        if isinstance(obj, DeadLetterRecord):
            if stats is not None:
                stats.dead_letters[obj.error_type.value] += 1
            return obj
        return validate_transaction(obj, raw, source, stats)
    except Exception as exc:  # defensive: a parser bug must still end in the DLQ, not in a restart loop
        if stats is not None:
            stats.dead_letters[ErrorType.PROCESSING_ERROR.value] += 1
        return dead_letter(
            raw, ErrorType.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}", Stage.PARSE, source
        )


def _parse_model(model: type[_M], raw: bytes, source: Source | None) -> _M | DeadLetterRecord:
    try:
        obj = decode_json_object(raw, Stage.PARSE, source)
        if isinstance(obj, DeadLetterRecord):
            return obj
        try:
            return model.model_validate(obj)
        except ValidationError as exc:
            error_type, message = _from_validation_error(exc)
            return dead_letter(raw, error_type, message, Stage.VALIDATE, source)
    except Exception as exc:  # defensive, as in parse_transaction
        return dead_letter(
            raw, ErrorType.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}", Stage.PARSE, source
        )


def parse_label(raw: bytes, source: Source | None = None) -> Label | DeadLetterRecord:
    """Bytes from the labels topic -> Label or DeadLetterRecord; never raises."""
    return _parse_model(Label, raw, source)


def parse_control(raw: bytes, source: Source | None = None) -> ControlMessage | DeadLetterRecord:
    """Bytes from the control topic -> ControlMessage or DeadLetterRecord; never raises."""
    return _parse_model(ControlMessage, raw, source)
