"""The job's Python functions: what is rare, or must keep its one Python definition.

The per-event work is Java (:mod:`fraud_jobs.flink.jvm`, wired in :mod:`fraud_jobs.flink.topology`). Here:
the records the JVM parser defers (:class:`ParseFallback`: the reasons of refused records are
:mod:`fraud_jobs.schemas`), the control plane (:class:`ParseControl`, :class:`ControlManager`, with
:mod:`fraud_jobs.flink.control`), the model's load check (:func:`load_scorer`, run by the entry point)
and the PostgreSQL writers. Every failure becomes a dead letter on :data:`DLQ_TAG` (never a job restart,
never a silent drop).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.control import accept_control
from fraud_jobs.flink.records import TX, format_source, parse_source
from fraud_jobs.schemas import (
    ControlMessage,
    DeadLetterRecord,
    ErrorType,
    Label,
    Source,
    Stage,
    Transaction,
    dead_letter,
    parse_control,
    parse_label,
    parse_transaction,
)
from fraud_jobs.scoring import Scorer
from pyflink.common import Row, Types
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import (
    KeyedProcessFunction,
    ProcessFunction,
)
from pyflink.datastream.state import (
    ListStateDescriptor,
    ValueStateDescriptor,
)

__all__ = [
    "DLQ_TAG",
    "MODEL_SCORE_ROWS_TYPE",
    "RECORD_TYPE",
    "AlertWriter",
    "ControlManager",
    "ModelScoreWriter",
    "ParseControl",
    "ParseFallback",
    "load_scorer",
]

DLQ_TAG: Final = OutputTag("dlq", Types.STRING())
_STR: Final = Types.STRING()
RECORD_TYPE: Final = Types.ROW_NAMED(
    ["kind", "topic", "partition", "offset", "value"],
    [_STR, _STR, Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())],
)
"""A Kafka record as the JVM parser reads it (``io.streamflow.detector.ParseStage.RECORD``)."""
MODEL_SCORE_ROWS_TYPE: Final = Types.ROW([_STR, _STR])
"""Row(constant key, JSON list of ``gold.model_scores`` rows) from the JVM's decide step: per row
``[transaction_id, model_version, role, score, ml_score, alert, customer_id, event_ts, scored_at]``."""


class _DlqCounters:
    """DLQ records by error type as Flink counters (``dlq`` in group ``error_type=<type>``)."""

    def __init__(self, group: Any) -> None:
        self._group = group
        self._counters: dict[str, Any] = {}

    def count(self, record: DeadLetterRecord) -> str:
        kind = record.error_type.value
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = self._group.add_group("error_type", kind).counter("dlq")
        counter.inc()
        text: str = record.model_dump_json()
        return text


class ParseControl(ProcessFunction):  # type: ignore[misc]
    """Control-topic row -> ControlMessage JSON, or a DLQ record."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dlq = _DlqCounters(runtime_context.get_metrics_group())

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        raw = bytes(value["value"]) if value["value"] is not None else b""
        source = Source(value["topic"], value["partition"], value["offset"])
        msg = parse_control(raw, source)
        if isinstance(msg, DeadLetterRecord):
            yield DLQ_TAG, self.dlq.count(msg)
            return
        yield json.dumps([msg.model_dump_json(), format_source(source)])


class ControlManager(KeyedProcessFunction):  # type: ignore[misc]
    """The single place that accepts control messages (parallelism 1, one key): validates each against the
    live config, keeps the accepted list in keyed state and broadcasts the whole list."""

    def __init__(self, base_config_json: str) -> None:
        self.base_config_json = base_config_json

    def open(self, runtime_context: RuntimeContext) -> None:
        self.base = DetectorConfig.model_validate_json(self.base_config_json)
        self.accepted = runtime_context.get_state(ValueStateDescriptor("accepted-controls", Types.STRING()))
        group = runtime_context.get_metrics_group()
        self.applied = group.counter("control_applied")
        self.dlq = _DlqCounters(group)

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        text, source = json.loads(value)
        msg = ControlMessage.model_validate_json(text)
        try:
            accepted = accept_control(self.base, self.accepted.value(), msg)
        except ValueError as exc:
            record = dead_letter(text, ErrorType.INVALID_VALUE, str(exc), Stage.PROCESS, parse_source(source))
            yield DLQ_TAG, self.dlq.count(record)
            return
        self.accepted.update(accepted)
        self.applied.inc()
        yield accepted


class ParseFallback(ProcessFunction):  # type: ignore[misc]
    """The records the JVM parser was not sure of: dead letters with the Python parser's reason, or the
    record again as its canonical JSON, which the JVM parser accepts (:data:`RECORD_TYPE` in and out)."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.dlq = _DlqCounters(runtime_context.get_metrics_group())

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        kind, topic, partition, offset, raw = value
        source = Source(topic, partition, offset)
        data = b"" if raw is None else bytes(raw)
        parsed: Transaction | Label | DeadLetterRecord = (
            parse_transaction(data, source) if kind == TX else parse_label(data, source)
        )
        if isinstance(parsed, DeadLetterRecord):
            yield DLQ_TAG, self.dlq.count(parsed)
            return
        yield Row(kind, topic, partition, offset, parsed.model_dump_json().encode("utf-8"))


def load_scorer(uri: str, sha256: str | None) -> Scorer:
    """The production scorer (fraud_models.scorer), checked against the detector's feature schema."""
    from fraud_jobs.scoring import check_scorer
    from fraud_models.features import FEATURE_SCHEMA_ID
    from fraud_models.scorer import load_model

    return check_scorer(load_model(uri, expected_sha256=sha256, expected_schema_id=FEATURE_SCHEMA_ID))


class ModelScoreWriter(KeyedProcessFunction):  # type: ignore[misc]
    """Writes ``gold.model_scores`` (active and shadow rows) in batches, idempotent by (transaction_id,
    model_version) with ``ON CONFLICT DO NOTHING``.

    PyFlink's thread mode gives a Python function no hook before a checkpoint, so rows must not wait in
    Python memory: they wait in keyed ListState (one constant key), which every checkpoint stores. A
    restart then finds the rows a checkpoint took but the database never got, and writes them; rows
    written after the checkpoint are written again by the replay and ignored by the conflict clause. A
    batch goes out when ``batch_rows`` rows wait or ``flush_ms`` after the first one (a processing-time
    timer, checkpointed too); psycopg pipelines ``executemany`` into one round trip.
    """

    def __init__(self, dsn: str, table: str, batch_rows: int = 500, flush_ms: int = 200) -> None:
        self.dsn = dsn
        self.table = table
        self.batch_rows = batch_rows
        self.flush_ms = flush_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        self.conn = _connect_checked(self.dsn, self.table)
        self.sql = (
            f"INSERT INTO {self.table} (transaction_id, model_version, role, score, ml_score, alert,"
            " customer_id, event_time, scored_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (transaction_id, model_version) DO NOTHING"
        )
        self.pending = runtime_context.get_list_state(
            ListStateDescriptor("model-score-rows", Types.PICKLED_BYTE_ARRAY())
        )
        self.waiting = 0
        self.timer_at: int | None = None
        group = runtime_context.get_metrics_group()
        self.written = group.counter("model_scores_written_postgres")
        self.batches = group.counter("model_score_batches")

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        self.pending.add(value)
        self.waiting += len(json.loads(value))
        if self.waiting >= self.batch_rows:
            self._flush()
        elif self.timer_at is None:
            self.timer_at = ctx.timer_service().current_processing_time() + self.flush_ms
            ctx.timer_service().register_processing_time_timer(self.timer_at)
        yield from ()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        self.timer_at = None
        self._flush()
        yield from ()

    def _flush(self) -> None:
        rows = [
            (tx_id, version, role, score, ml, alert, customer, _utc(event_ts), _utc(scored_at))
            for entry in (self.pending.get() or ())
            for (tx_id, version, role, score, ml, alert, customer, event_ts, scored_at) in _score_rows(entry)
        ]
        if rows:
            try:
                with self.conn.cursor() as cur:
                    cur.executemany(self.sql, rows)
            except Exception:
                if not self.conn.closed:
                    raise
                self.conn = _connect_checked(self.dsn, self.table)  # one reconnect, then fail the operator
                with self.conn.cursor() as cur:
                    cur.executemany(self.sql, rows)
            self.written.inc(len(rows))
            self.batches.inc()
        self.pending.clear()
        self.waiting = 0

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()


def _score_rows(entry: str | tuple[tuple[Any, ...], ...]) -> Any:
    """The rows of one pending entry: JSON from the JVM's decide step, or the tuple of rows that the Python
    stage of earlier jobs stored (still in a savepoint taken by one)."""
    return json.loads(entry) if isinstance(entry, str) else entry


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _connect_checked(dsn: str, table: str) -> Any:
    """An autocommit connection with synchronous commits, after checking that ``table`` exists.

    A row is written before the checkpoint that covers its input completes, and never replayed after it:
    its commit must be durable when acknowledged, even on a server whose default is
    ``synchronous_commit=off`` (there a crash lost acknowledged alerts: tests/chaos).
    """
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True, application_name="fraud-detector")
    conn.execute("SET synchronous_commit = on")
    schema, name = table.split(".")
    found = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s", (schema, name)
    ).fetchone()
    if found is None:
        conn.close()
        raise RuntimeError(f"table {table} does not exist: run `streamflow db migrate` first")
    return conn


class AlertWriter(ProcessFunction):  # type: ignore[misc]
    """Writes alerts to PostgreSQL, idempotent by alert_id (INSERT ... ON CONFLICT DO NOTHING).

    A replay after a restart from checkpoint re-sends alerts with the same deterministic id, so the table
    holds each alert once. A database outage fails the operator (Flink restarts it and replays from the
    checkpoint) rather than losing alerts.
    """

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn = dsn
        self.table = table

    def open(self, runtime_context: RuntimeContext) -> None:
        self.conn = _connect_checked(self.dsn, self.table)
        self.sql = (
            f"INSERT INTO {self.table} (alert_id, transaction_id, customer_id, terminal_id, amount, score,"
            " rule_score, ml_score, rule_hits, model_version, event_time, detection_time)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
            " ON CONFLICT (alert_id) DO NOTHING"
        )
        self.written = runtime_context.get_metrics_group().counter("alerts_written_postgres")

    def process_element(self, value: str, ctx: ProcessFunction.Context) -> Iterator[Any]:
        a = json.loads(value)
        params = (
            a["alert_id"],
            a["transaction_id"],
            a["customer_id"],
            a["terminal_id"],
            a["amount"],
            a["score"],
            a["rule_score"],
            a["ml_score"],
            json.dumps(a["rule_hits"]),
            a["model_version"],
            a["event_time"],
            a["detection_time"],
        )
        try:
            self.conn.execute(self.sql, params)
        except Exception:
            if not self.conn.closed:
                raise
            self.conn = _connect_checked(self.dsn, self.table)
            self.conn.execute(self.sql, params)  # one reconnect; a second failure fails the operator
        self.written.inc()
        yield from ()

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
