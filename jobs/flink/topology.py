"""Wires the detector job: Kafka in -> parse -> terminal stage -> customer stage -> Kafka/PostgreSQL out.

::

    transactions --+                                                      +--> alerts (Kafka, exactly-once)
                   +--union--> key_by terminal: --> key_by customer: --> +--> PostgreSQL (idempotent)
    labels --------+           parse + stage 1      stage 2             +--> scores (Kafka, optional)
                                  ^                    ^                 +--> model scores (PostgreSQL,
    control --parse--> manager (p=1) --broadcast-------+                      with a shadow model)
    every DLQ side output -------------------------------------------------------> dlq (Kafka, exactly-once)

Sources are Kafka tables (the Table API's Kafka connector) because their metadata columns carry
topic/partition/offset, which a DLQ record must name, and because SQL's JSON_VALUE reads the terminal_id
on the JVM: the records are keyed without a Python operator, and parsing happens inside stage 1 (which
checks that the parsed terminal_id is the key). Both keyed stages are keyed by the JVM's
``KeyByKeySelector`` on field 0 of a ``Row(key, element)``, exactly what PyFlink's ``key_by`` does after
its extra Python key-selector operator: each Python operator on the hot path costs a Python/JVM crossing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fraud_jobs.flink.functions import (
    ALERT_TAG,
    CONTROL_STATE,
    DLQ_TAG,
    KEYED_ELEMENT_TYPE,
    MODEL_SCORES_TAG,
    SOURCE_TYPE,
    AlertWriter,
    ControlManager,
    CustomerStage,
    ModelScoreWriter,
    ParseControl,
    TerminalStage,
)
from fraud_jobs.flink.records import LABEL, TX
from fraud_jobs.flink.settings import JobSettings
from pyflink.common import Configuration, Types
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream, KeyedStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from pyflink.java_gateway import get_gateway
from pyflink.table import StreamTableEnvironment

__all__ = ["build", "flink_configuration"]

_STARTUP = {"group": "group-offsets", "earliest": "earliest-offset", "latest": "latest-offset"}


def flink_configuration(settings: JobSettings) -> Configuration:
    """Job-level Flink options; unset settings leave the cluster's flinkConfiguration alone."""
    flink = settings.flink
    conf = Configuration()
    values = {
        "execution.checkpointing.mode": settings.checkpointing.mode,
        "execution.checkpointing.interval": f"{int(settings.checkpointing.interval_seconds * 1000)}ms",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "python.execution-mode": flink.execution_mode,
        "python.fn-execution.bundle.size": str(flink.bundle_size),
        "python.fn-execution.bundle.time": str(flink.bundle_time_ms),
        "python.state.cache-size": str(flink.state_cache_size),
        "execution.buffer-timeout.interval": None
        if flink.buffer_timeout_ms is None
        else f"{flink.buffer_timeout_ms}ms",
        "pipeline.jars": flink.jars,
        "state.backend.type": flink.state_backend,
        "execution.checkpointing.dir": flink.checkpoint_dir,
        "execution.state-recovery.path": flink.restore_from,
    }
    for key, value in {**values, **flink.extra}.items():
        if value is not None:
            conf.set_string(key, value)
    return conf


def _create_source(
    t_env: StreamTableEnvironment,
    name: str,
    topic: str,
    props: Mapping[str, str],
    settings: JobSettings,
    startup: str,
) -> None:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.group.id": settings.kafka.consumer_group,
        "properties.isolation.level": "read_committed",
        "properties.auto.offset.reset": "earliest",
        "scan.startup.mode": startup,
        "value.format": "raw",
        **{f"properties.{k}": v for k, v in props.items()},
    }
    if settings.flink.bounded:
        options["scan.bounded.mode"] = "latest-offset"
    with_clause = ", ".join(f"'{k}' = '{_quote(v)}'" for k, v in options.items())
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE `{name}` (`topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL,"
        f" `offset` BIGINT METADATA VIRTUAL, `value` BYTES) WITH ({with_clause})"
    )


def _source_table(
    t_env: StreamTableEnvironment,
    name: str,
    topic: str,
    props: Mapping[str, str],
    settings: JobSettings,
    startup: str,
) -> DataStream:
    """Rows (topic, partition, offset, value) of one topic (the control topic, benchmarks)."""
    _create_source(t_env, name, topic, props, settings, startup)
    return _pin_uids(t_env.to_data_stream(t_env.from_path(name)), name)


def _keyed_source(
    t_env: StreamTableEnvironment,
    name: str,
    kind: str,
    topic: str,
    props: Mapping[str, str],
    settings: JobSettings,
    startup: str,
) -> DataStream:
    """``Row(terminal_id, Row(kind, terminal_id, topic, partition, offset, value))`` per record.

    The key is '' when the JVM cannot read a string terminal_id (bad JSON, missing field): stage 1 then
    parses the record and sends it to the DLQ with the parser's reason.
    """
    _create_source(t_env, name, topic, props, settings, startup)
    key = "COALESCE(JSON_VALUE(CAST(`value` AS STRING), '$.terminal_id'), '')"
    table = t_env.sql_query(
        f"SELECT k, ROW('{_quote(kind)}', k, `topic`, `partition`, `offset`, `value`)"
        f" FROM (SELECT {key} AS k, `topic`, `partition`, `offset`, `value` FROM `{name}`)"
    )
    return _pin_uids(t_env.to_append_stream(table, SOURCE_TYPE), name)


def _pin_uids(stream: DataStream, name: str) -> DataStream:
    """Give the planner's operators behind ``stream`` fixed uids (``<name>-<depth>-<kind>``).

    The Kafka source's split offsets are operator state; without a uid the planner's operators get
    hashes of their place in the graph, so a savepoint would not restore into a job whose graph changed
    (a shadow model adds operators). Walks the transformation's inputs back to the source; the depth
    from this end, not Flink's global transformation counter, makes the uid stable across submissions.
    """
    pending = [(stream._j_data_stream.getTransformation(), 0)]
    while pending:
        transformation, depth = pending.pop()
        if transformation.getUid() is None:
            kind = str(transformation.getClass().getSimpleName()).removesuffix("Transformation").lower()
            transformation.setUid(f"{name}-{depth}-{kind}")
        inputs = transformation.getInputs()
        pending.extend((inputs.get(i), depth + 1) for i in range(inputs.size()))
    return stream


def _key_by_field0(stream: DataStream, value_type: Any) -> KeyedStream:
    """Key a stream of ``Row(key: STRING, element)`` on the JVM; the keyed Python function gets ``element``.

    This is the second half of PyFlink's ``DataStream.key_by`` (its first half is a Python operator
    producing the same ``Row(key, element)``), used here because our operators emit that row themselves.
    """
    selector = get_gateway().jvm.KeyByKeySelector()
    j_keyed = stream._j_data_stream.keyBy(selector, Types.ROW([Types.STRING()]).get_java_type_info())
    return KeyedStream(j_keyed, value_type, stream)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _kafka_sink(
    topic: str, role: str, props: Mapping[str, str], settings: JobSettings, *, exactly_once: bool = True
) -> KafkaSink:
    """A Kafka sink of strings: transactional (``exactly_once``), else plain writes with acks=all and
    idempotence, visible at once and repeated after a failure from the last checkpoint."""
    builder = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.kafka.bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
    )
    if exactly_once:
        builder = (
            builder.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(f"{settings.kafka.transactional_id_prefix}.{role}")
            .set_property("transaction.timeout.ms", str(settings.flink.transaction_timeout_ms))
        )
    else:
        builder = (
            builder.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .set_property("acks", "all")
            .set_property("enable.idempotence", "true")
        )
    for key, value in props.items():
        if key != "bootstrap.servers":
            builder = builder.set_property(key, value)
    return builder.build()


def build(settings: JobSettings, environ: Mapping[str, str] | None = None) -> StreamExecutionEnvironment:
    """A StreamExecutionEnvironment holding the whole detector graph, ready to ``execute``."""
    environ = os.environ if environ is None else environ
    props = settings.kafka.client_properties(environ)
    dsn = settings.database.dsn(environ) if settings.database is not None else None
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings))
    if settings.flink.parallelism is not None:
        env.set_parallelism(settings.flink.parallelism)
    t_env = StreamTableEnvironment.create(env)
    topics = settings.topics
    startup = _STARTUP[settings.flink.starting_offsets]
    base = settings.detector.model_dump_json()
    string = Types.STRING()

    txs = _keyed_source(t_env, "src_transactions", TX, topics.transactions, props, settings, startup)
    labels = _keyed_source(t_env, "src_labels", LABEL, topics.labels, props, settings, startup)
    control_rows = _source_table(t_env, "src_control", topics.control, props, settings, "earliest-offset")

    parsed_control = (
        control_rows.process(ParseControl(), output_type=string).name("parse-control").uid("parse-ctl")
    )
    accepted = (
        parsed_control.key_by(_control_key, key_type=string)
        .process(ControlManager(base), output_type=string)
        .name("control-manager")
        .uid("control-manager")
        .set_parallelism(1)
    )
    broadcast = accepted.broadcast(CONTROL_STATE)

    enriched = (
        _key_by_field0(txs.union(labels), SOURCE_TYPE)
        .connect(broadcast)
        .process(TerminalStage(base), output_type=KEYED_ELEMENT_TYPE)
        .name("terminal-stage")
        .uid("terminal-stage")
    )
    model, shadow = settings.model, settings.shadow_model
    write_model_scores = dsn is not None and shadow is not None
    scored = (
        _key_by_field0(enriched, KEYED_ELEMENT_TYPE)
        .connect(broadcast)
        .process(
            CustomerStage(
                base,
                model.uri if model else None,
                model.sha256 if model else None,
                bool(topics.scores),
                shadow_uri=shadow.uri if shadow else None,
                shadow_sha256=shadow.sha256 if shadow else None,
                emit_model_scores=write_model_scores,
            ),
            output_type=string,
        )
        .name("customer-stage")
        .uid("customer-stage")
    )
    alerts = scored.get_side_output(ALERT_TAG)
    exactly_once = settings.kafka.alert_delivery == "exactly-once"
    alerts.sink_to(_kafka_sink(topics.alerts, "alerts", props, settings, exactly_once=exactly_once)).name(
        "alerts-kafka"
    ).uid("alerts-kafka")
    if dsn is not None and settings.database is not None:
        alerts.process(AlertWriter(dsn, settings.database.table), output_type=string).name(
            "alerts-postgres"
        ).uid("alerts-postgres")
    if write_model_scores and dsn is not None and settings.database is not None:
        model_scores = scored.get_side_output(MODEL_SCORES_TAG)
        _key_by_field0(model_scores, KEYED_ELEMENT_TYPE).process(
            ModelScoreWriter(
                dsn,
                settings.database.model_scores_table,
                settings.database.model_scores_batch_rows,
                settings.database.model_scores_flush_ms,
            ),
            output_type=string,
        ).name("model-scores-postgres").uid("model-scores-postgres")
    if topics.scores:
        scored.sink_to(_kafka_sink(topics.scores, "scores", props, settings)).name("scores-kafka").uid(
            "scores-kafka"
        )
    dlq = parsed_control.get_side_output(DLQ_TAG).union(
        accepted.get_side_output(DLQ_TAG),
        enriched.get_side_output(DLQ_TAG),
        scored.get_side_output(DLQ_TAG),
    )
    dlq.sink_to(_kafka_sink(topics.dlq, "dlq", props, settings)).name("dlq-kafka").uid("dlq-kafka")
    return env


def _control_key(_value: Any) -> str:
    return "control"
