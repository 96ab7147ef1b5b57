"""Wires the detector job: Kafka in -> parse -> terminal stage -> customer stage -> score and decide -> out.

::

    transactions --> parse (JVM) --+-------------------------------+
    labels --------> parse (JVM) --+                               |
                         | not sure                               v
                         +--> parse (Python) --> parse (JVM) --> key_by terminal: --> key_by customer:
                                   | refused                         stage 1 (JVM)        stage 2 (JVM)
                                   v                                     ^                    |
    control --parse--> manager (Python, p=1) --broadcast-----------------+--------------------+
                                                                                              v
         alerts (Kafka, exactly-once or at-least-once), PostgreSQL <-- decide: models + FR-006 (JVM)
         scores (Kafka, optional), model scores (PostgreSQL)
    every DLQ side output ---------------------------------------------------------> dlq (Kafka, exactly-once)

Per event, only the JVM works: the parser, the keyed state, the features, the rules and the model scorer
are Java (``fraud_jobs/flink/java``, each class proven equal to its Python definition by
tests/jobs/flink/jvm); the scorer reads the artifact the entry point fetched and checked. Python keeps what
is rare or needs its one definition: the reasons of refused records (the Python parser), the acceptance of
control messages, the PostgreSQL writers. docs/performance.md has the measurements that chose this design.

Sources are Kafka tables (the Table API's Kafka connector) because their metadata columns carry
topic/partition/offset, which a DLQ record must name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fraud_jobs.flink.functions import (
    DLQ_TAG,
    MODEL_SCORE_ROWS_TYPE,
    RECORD_TYPE,
    AlertWriter,
    ControlManager,
    ModelScoreWriter,
    ParseControl,
    ParseFallback,
    load_scorer,
)
from fraud_jobs.flink.jvm import detector_jar
from fraud_jobs.flink.records import LABEL, TX
from fraud_jobs.flink.settings import CHANGELOG_PATH, JobSettings, ModelSettings
from fraud_models.artifacts import fetch, redact
from fraud_models.features import FEATURE_SCHEMA_ID
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
        "python.fn-execution.arrow.batch.size": str(flink.bundle_size),
        "python.state.cache-size": str(flink.state_cache_size),
        "execution.buffer-timeout.interval": None
        if flink.buffer_timeout_ms is None
        else f"{flink.buffer_timeout_ms}ms",
        "pipeline.jars": flink.jars,
        "state.backend.type": flink.state_backend,
        "state.changelog.enabled": None if flink.changelog is None else str(flink.changelog).lower(),
        "state.changelog.storage": "filesystem" if flink.changelog else None,
        CHANGELOG_PATH: flink.changelog_path,
        # the changelog backend cannot take the full first checkpoint NO_CLAIM (Flink's default) demands
        "execution.state-recovery.claim-mode": "CLAIM" if flink.changelog else None,
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


def _record_source(
    t_env: StreamTableEnvironment,
    name: str,
    kind: str,
    topic: str,
    props: Mapping[str, str],
    settings: JobSettings,
    startup: str,
) -> DataStream:
    """``Row(kind, topic, partition, offset, value)`` per Kafka record, what the JVM parser reads."""
    _create_source(t_env, name, topic, props, settings, startup)
    table = t_env.sql_query(
        f"SELECT '{_quote(kind)}' AS kind, `topic`, `partition`, `offset`, `value` FROM `{name}`"
    )
    return _pin_uids(t_env.to_append_stream(table, RECORD_TYPE), name)


def _shipped(graph_jvm: Any, spec: ModelSettings | None, role: str) -> Any:
    """The model as a ``ShippedModel`` for the decide step, or None.

    The entry point fetches and checks the artifact here (``load_model``: sha256, feature schema, format), so
    a model that cannot be scored with stops the job before it is submitted, with Python's message (a
    shadow's says it was the shadow); the checked bytes then travel in the job graph to every task.
    """
    if spec is None:
        return None
    try:
        load_scorer(spec.uri, spec.sha256)
        data = fetch(spec.uri, expected_sha256=spec.sha256).read_bytes()
    except Exception as exc:
        if role == "active":
            raise
        raise _named(exc, f"{role} model {redact(spec.uri)}: {exc}") from exc
    return graph_jvm.ShippedModel(
        role, spec.version, redact(spec.uri), spec.sha256, FEATURE_SCHEMA_ID, bytearray(data)
    )


def build(settings: JobSettings, environ: Mapping[str, str] | None = None) -> StreamExecutionEnvironment:
    """A StreamExecutionEnvironment holding the whole detector graph, ready to ``execute``."""
    environ = os.environ if environ is None else environ
    props = settings.kafka.client_properties(environ)
    dsn = settings.database.dsn(environ) if settings.database is not None else None
    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings))
    env.add_jars(detector_jar().as_uri())
    if settings.flink.parallelism is not None:
        env.set_parallelism(settings.flink.parallelism)
    t_env = StreamTableEnvironment.create(env)
    detector = get_gateway().jvm.io.streamflow.detector
    graph = detector.DetectorGraph
    topics = settings.topics
    startup = _STARTUP[settings.flink.starting_offsets]
    base = settings.detector.model_dump_json()
    string = Types.STRING()

    txs = _record_source(t_env, "src_transactions", TX, topics.transactions, props, settings, startup)
    labels = _record_source(t_env, "src_labels", LABEL, topics.labels, props, settings, startup)
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
    controls = graph.controls(accepted._j_data_stream)

    # Parsing on the JVM; what it is not sure of goes to the Python parser and comes back canonical.
    parse_tx = graph.parse(txs._j_data_stream, False, "parse-transactions")
    parse_labels = graph.parse(labels._j_data_stream, False, "parse-labels")
    deferred = DataStream(graph.deferred(parse_tx)).union(DataStream(graph.deferred(parse_labels)))
    fallback = (
        deferred.process(ParseFallback(), output_type=RECORD_TYPE).name("parse-python").uid("parse-python")
    )
    parse_canonical = graph.parse(fallback._j_data_stream, True, "parse-canonical")
    events = graph.union(graph.union(parse_tx, parse_labels), parse_canonical)

    terminal = graph.terminalStage(events, controls, base)
    model, shadow = settings.model, settings.shadow_model
    customer = graph.customerStage(terminal, controls, base, model is not None or shadow is not None)
    write_model_scores = dsn is not None and shadow is not None
    decide = graph.decide(
        customer,
        _shipped(detector, model, "active"),
        _shipped(detector, shadow, "shadow"),
        bool(topics.scores),
        write_model_scores,
    )
    alerts = DataStream(graph.alerts(decide))
    exactly_once = settings.kafka.alert_delivery == "exactly-once"
    alerts.sink_to(_kafka_sink(topics.alerts, "alerts", props, settings, exactly_once=exactly_once)).name(
        "alerts-kafka"
    ).uid("alerts-kafka")
    if dsn is not None and settings.database is not None:
        alerts.process(AlertWriter(dsn, settings.database.table), output_type=string).name(
            "alerts-postgres"
        ).uid("alerts-postgres")
    if write_model_scores and dsn is not None and settings.database is not None:
        model_scores = DataStream(graph.modelScores(decide))
        _key_by_field0(model_scores, MODEL_SCORE_ROWS_TYPE).process(
            ModelScoreWriter(
                dsn,
                settings.database.model_scores_table,
                settings.database.model_scores_batch_rows,
                settings.database.model_scores_flush_ms,
            ),
            output_type=string,
        ).name("model-scores-postgres").uid("model-scores-postgres")
    if topics.scores:
        DataStream(decide).sink_to(_kafka_sink(topics.scores, "scores", props, settings)).name(
            "scores-kafka"
        ).uid("scores-kafka")
    dlq = parsed_control.get_side_output(DLQ_TAG).union(
        accepted.get_side_output(DLQ_TAG),
        fallback.get_side_output(DLQ_TAG),
        *(DataStream(graph.deadLetters(op)) for op in (parse_canonical, terminal, customer, decide)),
    )
    dlq.sink_to(_kafka_sink(topics.dlq, "dlq", props, settings)).name("dlq-kafka").uid("dlq-kafka")
    return env


def _named(exc: Exception, message: str) -> Exception:
    """``exc``'s type with ``message`` (e.g. ModelLoadError stays ModelLoadError), else a RuntimeError."""
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(message)


def _control_key(_value: Any) -> str:
    return "control"
