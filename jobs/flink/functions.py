"""The job's Flink functions: each loads state, calls the pure logic, stores state and emits.

Nothing here decides anything about fraud: parsing is :mod:`fraud_jobs.schemas`, the two keyed stages are
:func:`fraud_jobs.logic.terminal_step` / :func:`fraud_jobs.logic.customer_step`, live config is
:mod:`fraud_jobs.flink.control`. Every failure becomes a dead letter on :data:`DLQ_TAG` (never a job
restart, never a silent drop).

Every Python operator and every state access crosses the Python/JVM boundary, which costs more than the
rules. So there are exactly two Python operators on the hot path: stage 1 parses the raw Kafka record itself
(the JVM extracted its key), stage 2 receives a compact pickled tuple (:mod:`fraud_jobs.flink.records`);
both emit ``Row(key, element)`` that the JVM keys directly (no PyFlink key-selector operator), and per key
there is exactly one ``bytes`` ValueState.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.control import accept_control, fold_controls
from fraud_jobs.flink.records import LABEL, TX, format_source, model_score_rows, parse_source, score_json
from fraud_jobs.logic import (
    EnrichedTransaction,
    apply_label_customer,
    apply_label_terminal,
    customer_step,
    terminal_step,
)
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
from pyflink.common.time import Time
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import (
    KeyedBroadcastProcessFunction,
    KeyedProcessFunction,
    ProcessFunction,
)
from pyflink.datastream.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)

__all__ = [
    "ALERT_TAG",
    "CONTROL_STATE",
    "DLQ_TAG",
    "KEYED_ELEMENT_TYPE",
    "MODEL_SCORES_TAG",
    "SOURCE_TYPE",
    "AlertWriter",
    "ControlManager",
    "CustomerStage",
    "ModelScoreWriter",
    "ParseControl",
    "TerminalStage",
]

DLQ_TAG: Final = OutputTag("dlq", Types.STRING())
ALERT_TAG: Final = OutputTag("alerts", Types.STRING())
_STR: Final = Types.STRING()
SOURCE_TYPE: Final = Types.ROW(
    [_STR, Types.ROW([_STR, _STR, _STR, Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])]
)
"""Row(key, records.SOURCE_FIELDS row): what the JVM keys by field 0 into stage 1."""
KEYED_ELEMENT_TYPE: Final = Types.ROW([Types.STRING(), Types.PICKLED_BYTE_ARRAY()])
"""Row(customer_id, records.Element): stage 1's output, keyed by field 0 into stage 2."""
MODEL_SCORES_TAG: Final = OutputTag("model-scores", Types.ROW([Types.STRING(), Types.PICKLED_BYTE_ARRAY()]))
"""Row(constant key, records.model_score_rows of one transaction) for :class:`ModelScoreWriter`."""
_MODEL_SCORES_KEY: Final = "model-scores"
CONTROL_STATE: Final = MapStateDescriptor("controls", Types.STRING(), Types.STRING())
_CONTROL_KEY: Final = "accepted"
_LOG: Final = logging.getLogger(__name__)


def _ttl(ttl_s: float) -> StateTtlConfig:
    """Processing-time TTL for inactive keys (the logic also resets state older than ttl in event time).

    Cleanup is RocksDB's compaction filter, configured explicitly: PyFlink 2.2's default background cleanup
    builds a ``Duration.of_days(30)`` through the Py4J gateway when the state is created, and a thread-mode
    TaskManager has no gateway, so the task fails in ``open`` on a real cluster (the local mini-cluster hides
    it; FLINK-40628). The periodic compaction time is not passed to Java by PyFlink anyway.
    """
    return (
        StateTtlConfig.new_builder(Time.milliseconds(max(1, int(ttl_s * 1000))))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .disable_cleanup_in_background()
        .cleanup_in_rocksdb_compact_filter(1000, Time.days(30))
        .build()
    )


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


class _LocalCounter:
    """A Flink counter counted in Python and pushed to the JVM in batches (see :class:`_BatchedMetrics`)."""

    __slots__ = ("_counter", "pending")

    def __init__(self, counter: Any) -> None:
        self._counter = counter
        self.pending = 0

    def inc(self, n: int = 1) -> None:
        self.pending += n

    def flush(self) -> None:
        if self.pending:
            self._counter.inc(self.pending)
            self.pending = 0


_FLUSH_EVERY: Final = 512
_FLUSH_MS: Final = 500


class _BatchedMetrics:
    """Per-event counters of a keyed stage, pushed every 512 events and at most 500 ms after the first
    unpushed one (a processing-time timer), so an idle job still reports every event.

    In thread mode each ``counter.inc()`` is a call into the JVM that costs as much as a state access
    (measured in the job: 40-150 µs under load, more than the rules); batching keeps the counts exact.
    """

    _local: list[_LocalCounter]
    _since_flush: int
    _timer_armed: bool

    def _counter(self, group: Any, name: str) -> _LocalCounter:
        counter = _LocalCounter(group.counter(name))
        if not hasattr(self, "_local"):
            self._local, self._since_flush, self._timer_armed = [], 0, False
        self._local.append(counter)
        return counter

    def _counted(self, ctx: Any) -> None:
        """Call at the start of every element: this element's counts are pushed by the armed timer at the
        latest."""
        self._since_flush += 1
        if self._since_flush >= _FLUSH_EVERY:
            self._flush_metrics()
        if not self._timer_armed:
            ctx.timer_service().register_processing_time_timer(int(time.time() * 1000) + _FLUSH_MS)
            self._timer_armed = True

    def _flush_metrics(self) -> None:
        for counter in self._local:
            counter.flush()
        self._since_flush = 0

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        self._timer_armed = False
        self._flush_metrics()
        yield from ()

    def close(self) -> None:
        if hasattr(self, "_local"):
            self._flush_metrics()


class _LiveConfigMixin:
    """Live DetectorConfig of a keyed stage: the file config folded with the broadcast control list."""

    base_config_json: str
    _cfg: DetectorConfig | None

    def _open_config(self) -> None:
        self._base = DetectorConfig.model_validate_json(self.base_config_json)
        self._cfg = None

    def _fold(self, controls_json: str | None) -> DetectorConfig:
        cfg, problems = fold_controls(self._base, controls_json)
        for problem in problems:  # accepted once, no longer applicable to this file config: say so
            _LOG.warning("control message skipped: %s", problem)
        return cfg

    def _config(self, ctx: Any) -> DetectorConfig:
        if self._cfg is None:  # first element after (re)start: the broadcast state may hold controls
            self._cfg = self._fold(ctx.get_broadcast_state(CONTROL_STATE).get(_CONTROL_KEY))
        return self._cfg

    def process_broadcast_element(self, value: str, ctx: Any) -> None:
        ctx.get_broadcast_state(CONTROL_STATE).put(_CONTROL_KEY, value)
        self._cfg = self._fold(value)


def _wire_text(wire: Any) -> str:
    """The transaction of a stage-2 element as JSON for its dead letter (the wire tuple if it is damaged)."""
    try:
        text: str = EnrichedTransaction.from_wire(wire).tx.model_dump_json()
    except Exception:
        text = json.dumps(wire, default=repr)
    return text


def _failed(payload: bytes | str, exc: Exception, stage: Stage, source: str) -> DeadLetterRecord:
    return dead_letter(
        payload, ErrorType.PROCESSING_ERROR, f"{type(exc).__name__}: {exc}", stage, parse_source(source)
    )


class TerminalStage(_BatchedMetrics, _LiveConfigMixin, KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """Stage 1, keyed by terminal_id: parses the Kafka record (bad ones go to the DLQ), adds the terminal
    features to transactions; labels update terminal risk. Both travel on, keyed by customer, to stage 2."""

    def __init__(self, base_config_json: str) -> None:
        self.base_config_json = base_config_json

    def open(self, runtime_context: RuntimeContext) -> None:
        self._open_config()
        desc = ValueStateDescriptor("terminal", Types.PICKLED_BYTE_ARRAY())
        desc.enable_time_to_live(_ttl(self._base.state_ttl_s))
        self.state = runtime_context.get_state(desc)
        group = runtime_context.get_metrics_group()
        self.events_in = self._counter(group, "events_in")
        self.labels_in = self._counter(group, "labels_in")
        self.future_versions = self._counter(group, "future_schema_version")
        self.labels_applied = self._counter(group, "labels_applied")
        self.dlq = _DlqCounters(group)

    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        self._counted(ctx)
        kind, key, topic, partition, offset, raw = value
        source = Source(topic, partition, offset)
        raw = b"" if raw is None else bytes(raw)
        if kind == TX:
            self.events_in.inc()
            parsed: Transaction | Label | DeadLetterRecord = parse_transaction(raw, source)
        else:
            self.labels_in.inc()
            parsed = parse_label(raw, source)
        if isinstance(parsed, DeadLetterRecord):
            yield DLQ_TAG, self.dlq.count(parsed)
            return
        if parsed.terminal_id != key:  # the JVM read another terminal_id (e.g. a duplicated JSON key)
            yield DLQ_TAG, self.dlq.count(_mismatch(raw, parsed.terminal_id, key, source))
            return
        cfg = self._config(ctx)
        where = format_source(source)
        try:
            if isinstance(parsed, Transaction):
                if parsed.is_future_version:
                    self.future_versions.inc()
                new_state, enriched = terminal_step(self.state.value(), parsed, cfg)
                self.state.update(new_state)
                yield Row(parsed.customer_id, (TX, where, enriched.to_wire()))
            else:
                self.state.update(apply_label_terminal(self.state.value(), parsed, cfg))
                self.labels_applied.inc()
                yield Row(parsed.customer_id, (LABEL, where, parsed.model_dump_json()))
        except Exception as exc:  # one bad event must not restart the job: DLQ with the reason
            yield DLQ_TAG, self.dlq.count(_failed(raw, exc, Stage.PROCESS, where))


def _mismatch(raw: bytes, parsed: str, key: str, source: Source) -> DeadLetterRecord:
    return dead_letter(
        raw,
        ErrorType.INVALID_VALUE,
        f"terminal_id is ambiguous: the record parses to {parsed!r} but the stream keyed it by {key!r}"
        " (duplicated JSON key?)",
        Stage.VALIDATE,
        source,
    )


def load_scorer(uri: str, sha256: str | None) -> Scorer:
    """The production scorer (fraud_models.scorer), checked against the detector's feature schema."""
    from fraud_jobs.scoring import check_scorer
    from fraud_models.features import FEATURE_SCHEMA_ID
    from fraud_models.scorer import load_model

    return check_scorer(load_model(uri, expected_sha256=sha256, expected_schema_id=FEATURE_SCHEMA_ID))


class CustomerStage(_BatchedMetrics, _LiveConfigMixin, KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """Stage 2, keyed by customer_id: rules, ML score, alert decision; labels update customer state.

    Main output: score records (one per transaction); alerts on :data:`ALERT_TAG`.
    """

    def __init__(
        self,
        base_config_json: str,
        model_uri: str | None,
        model_sha256: str | None,
        emit_scores: bool,
        shadow_uri: str | None = None,
        shadow_sha256: str | None = None,
        emit_model_scores: bool = False,
    ) -> None:
        self.base_config_json = base_config_json
        self.model_uri = model_uri
        self.model_sha256 = model_sha256
        self.emit_scores = emit_scores
        self.shadow_uri = shadow_uri
        self.shadow_sha256 = shadow_sha256
        self.emit_model_scores = emit_model_scores

    def open(self, runtime_context: RuntimeContext) -> None:
        self._open_config()
        desc = ValueStateDescriptor("customer", Types.PICKLED_BYTE_ARRAY())
        desc.enable_time_to_live(_ttl(self._base.state_ttl_s))
        self.state = runtime_context.get_state(desc)
        self.scorer = load_scorer(self.model_uri, self.model_sha256) if self.model_uri else None
        self.shadow: Scorer | None = None
        if self.shadow_uri:
            try:
                self.shadow = load_scorer(self.shadow_uri, self.shadow_sha256)
            except Exception as exc:  # the same refusal as for the active model, saying which one failed
                raise _named(exc, f"shadow model {self.shadow_uri}: {exc}") from exc
        group = runtime_context.get_metrics_group()
        self.group = group
        self.shadow_failed = group.counter("shadow_score_errors")
        self.scored = self._counter(group, "events_scored")
        self.alerts = group.counter("alerts")
        self.alerts_by_rule: dict[str, Any] = {}
        self.score_dist = group.distribution("score_permille")
        self.latency = group.distribution("event_time_to_alert_ms")
        self.dlq = _DlqCounters(group)

    def _count_rules(self, codes: tuple[str, ...]) -> None:
        for code in codes:
            counter = self.alerts_by_rule.get(code)
            if counter is None:
                counter = self.alerts_by_rule[code] = self.group.add_group("rule", code).counter("alerts")
            counter.inc()

    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        self._counted(ctx)
        kind, source, payload = value
        cfg = self._config(ctx)
        if kind == LABEL:
            try:
                label = Label.model_validate_json(payload)
                self.state.update(apply_label_customer(self.state.value(), label, cfg))
            except Exception as exc:
                yield DLQ_TAG, self.dlq.count(_failed(payload, exc, Stage.PROCESS, source))
            return
        try:
            enriched = EnrichedTransaction.from_wire(payload)
            now = datetime.now(UTC)
            new_state, record, alert = customer_step(
                self.state.value(), enriched, cfg, self.scorer, now, self.shadow
            )
        except Exception as exc:
            yield DLQ_TAG, self.dlq.count(_failed(_wire_text(payload), exc, Stage.SCORE, source))
            return
        self.state.update(new_state)
        self.scored.inc()
        self.score_dist.update(int(record.score * 1000))
        if alert is not None:
            self.alerts.inc()
            self._count_rules(record.rule_codes)
            self.latency.update(max(0, int((now.timestamp() - record.event_ts) * 1000)))
            yield ALERT_TAG, alert.model_dump_json()
        if record.shadow_error is not None:
            self.shadow_failed.inc()
            _LOG.warning("shadow model failed on %s: %s", record.transaction_id, record.shadow_error)
        if self.emit_scores:
            yield score_json(record, now.timestamp())
        if self.emit_model_scores:
            rows = model_score_rows(record, now.timestamp())
            if rows:
                yield MODEL_SCORES_TAG, Row(_MODEL_SCORES_KEY, rows)


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

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        self.pending.add(value)
        self.waiting += len(value)
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
            for group in (self.pending.get() or ())
            for (tx_id, version, role, score, ml, alert, customer, event_ts, scored_at) in group
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


def _named(exc: Exception, message: str) -> Exception:
    """``exc``'s type with ``message`` (e.g. ModelLoadError stays ModelLoadError), else a RuntimeError."""
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(message)


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
