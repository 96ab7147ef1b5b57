"""Skeletons of the detector designs issue #17 asks to compare, side by side with the pass-through in one run.

Every candidate reads the same pre-filled Kafka topic through the same Kafka table source (bounded at the
offsets latest at start) and writes one record per event to its own topic through an exactly-once Kafka sink;
none has detector logic except where its name says so. Rates come from the brokers' append times of the
output (``message.timestamp.type=LogAppendTime``), so JVM and job start-up are excluded and every sink is
timed the same way; medians of ``--repeat`` rounds after an unmeasured warm-up round.

Candidates (``--candidates``, in this order each round):

* ``passthrough``: a Python map from the record to its text (the PyFlink ceiling; ``benchmarks/detector.py``).
* ``two_stage``: today's architecture without logic: keyed by terminal, then by customer, one ValueState
  read and written per event in each Python stage (``benchmarks/detector.py``'s skeleton).
* ``one_stage``: one keyed Python stage (by customer, keyed on the JVM) with one ValueState; JSON parsed in
  Python, as terminal features produced on the JVM would leave it.
* ``one_stage_typed``: the same, but the JVM parses the fields and hands Python a typed row.
* ``sql``: the features on the JVM, no Python: the record parsed by ``JSON_VALUE``, customer count/sum over
  the last 1, 7 and 30 days and terminal counts over 1, 7 and 30 days as event-time ``OVER`` windows
  (Flink SQL allows one window per ``SELECT``, so they are six chained aggregations), to a JSON sink.
* ``sql_pandas``: ``sql`` plus a pandas UDF that scores the 24 feature columns with the shipped-size
  compiled model in Arrow batches (process mode only: PyFlink's thread mode runs no pandas UDF).
* ``sql_udf``: ``sql`` plus a plain Python scalar UDF scoring one row per call with the same model.

``--peer`` also runs the alternative a user might pick instead of Flink: a plain confluent-kafka
consumer/producer loop with the detector's pure logic (both keyed steps, the compiled model) and in-memory
state, without exactly-once or fault tolerance; and the same loop passing records through.

Needs the local stack: ``eval "$(streamflow dev env)"``.

    python benchmarks/detector_candidates.py [--events 60000] [--repeat 3] [--mode thread|process]
        [--candidates passthrough,two_stage,...] [--bundle-size N] [--arrow-batch-size N] [--peer]
        [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from detector import _consume, _drop_topics, _model, _produce, _reader, _settings
from fraud_jobs.flink.settings import FlinkSettings, JobSettings
from fraud_jobs.generator import generate

CANDIDATES = (
    "passthrough",
    "two_stage",
    "one_stage",
    "one_stage_typed",
    "sql",
    "sql_pandas",
    "sql_udf",
    "jvm_stage",
    "jvm_features",
    "jvm_features_pandas",
)
PROCESS_ONLY = ("sql_pandas", "jvm_features_pandas")
ROLES = ("transactions", "alerts", "dlq", "labels", "control", "scores")


def _topics(bootstrap: str, run: str, outputs: list[str]) -> dict[str, str]:
    names = {role: f"cand-{run}-{role}" for role in (*ROLES, *outputs)}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    append_time = {"message.timestamp.type": "LogAppendTime"}
    new = [NewTopic(n, 1, 1, config=append_time if role in outputs else {}) for role, n in names.items()]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)
    return names


def _rate(bootstrap: str, topic: str, expected: int, timeout_s: float = 180.0) -> float:
    """Output records per second between the first and the last broker append time."""
    stamps = [msg.timestamp()[1] for msg in _consume(bootstrap, topic, expected, timeout_s)]
    if len(stamps) < expected:
        raise RuntimeError(f"{topic}: {len(stamps)} of {expected} records within {timeout_s:.0f}s")
    stamps.sort()
    span_s = (stamps[-1] - stamps[0]) / 1000.0
    return len(stamps) / span_s if span_s > 0 else float("nan")


# --- the jobs -------------------------------------------------------------------------------------------


def _env(settings: JobSettings, extra: dict[str, str]) -> tuple[Any, Any, dict[str, str]]:
    from fraud_jobs.flink.topology import flink_configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    conf = flink_configuration(settings)
    for key, value in extra.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    return env, StreamTableEnvironment.create(env), settings.kafka.client_properties({})


def _passthrough(settings: JobSettings, out: str, extra: dict[str, str], model: Any) -> None:
    from fraud_jobs.flink.topology import _kafka_sink, _source_table
    from pyflink.common import Types

    env, t_env, props = _env(settings, extra)
    rows = _source_table(t_env, "src", settings.topics.transactions, props, settings, "earliest-offset")
    mapped = rows.map(lambda row: bytes(row["value"]).decode("utf-8", "replace"), output_type=Types.STRING())
    mapped.sink_to(_kafka_sink(out, "passthrough", props, settings))
    env.execute("cand-passthrough")


def _keyed_stage(name: str, emit: Callable[[Any], Any]) -> Any:
    from pyflink.common import Types
    from pyflink.datastream.functions import KeyedProcessFunction
    from pyflink.datastream.state import ValueStateDescriptor

    class Stage(KeyedProcessFunction):  # type: ignore[misc]
        def open(self, runtime_context: Any) -> None:
            self.state = runtime_context.get_state(ValueStateDescriptor(name, Types.PICKLED_BYTE_ARRAY()))

        def process_element(self, value: Any, ctx: Any) -> Any:
            self.state.update((self.state.value() or 0) + 1)
            yield emit(value)

    return Stage()


def _two_stage(settings: JobSettings, out: str, extra: dict[str, str], model: Any) -> None:
    from fraud_jobs.flink.records import TX
    from fraud_jobs.flink.topology import _kafka_sink, _key_by_field0
    from keyed_source import KEYED_ELEMENT_TYPE, SOURCE_TYPE, keyed_source
    from pyflink.common import Row, Types

    def by_terminal(value: Any) -> Any:
        text = bytes(value[5]).decode("utf-8", "replace")
        return Row(str(json.loads(text).get("customer_id", "")), text)

    env, t_env, props = _env(settings, extra)
    source = keyed_source(t_env, "src", TX, settings.topics.transactions, props, settings, "earliest-offset")
    stage1 = _key_by_field0(source, SOURCE_TYPE).process(
        _keyed_stage("t", by_terminal), output_type=KEYED_ELEMENT_TYPE
    )
    stage2 = _key_by_field0(stage1, KEYED_ELEMENT_TYPE).process(
        _keyed_stage("c", lambda value: value), output_type=Types.STRING()
    )
    stage2.sink_to(_kafka_sink(out, "two-stage", props, settings))
    env.execute("cand-two-stage")


def _create_source(t_env: Any, settings: JobSettings, props: dict[str, str], parsed: bool) -> None:
    """The detector's Kafka table source; ``parsed`` adds JVM-parsed columns and an event-time watermark."""
    from fraud_jobs.flink.topology import _create_source as create

    create(t_env, "src_raw", settings.topics.transactions, props, settings, "earliest-offset")
    if parsed:
        t_env.execute_sql(
            "CREATE TEMPORARY VIEW src AS SELECT"
            " JSON_VALUE(s, '$.transaction_id') AS transaction_id,"
            " JSON_VALUE(s, '$.customer_id') AS customer_id,"
            " JSON_VALUE(s, '$.terminal_id') AS terminal_id,"
            " CAST(JSON_VALUE(s, '$.amount') AS DOUBLE) AS amount,"
            " CAST(REPLACE(REPLACE(JSON_VALUE(s, '$.event_time'), 'T', ' '), 'Z', '') AS TIMESTAMP(3)) AS ts"
            " FROM (SELECT CAST(`value` AS STRING) AS s FROM src_raw)"
        )


def _one_stage(settings: JobSettings, out: str, extra: dict[str, str], model: Any) -> None:
    from fraud_jobs.flink.topology import _kafka_sink, _key_by_field0
    from pyflink.common import Types

    env, t_env, props = _env(settings, extra)
    _create_source(t_env, settings, props, parsed=False)
    table = t_env.sql_query(
        "SELECT COALESCE(JSON_VALUE(CAST(`value` AS STRING), '$.customer_id'), '') AS k, ROW(`value`) AS e"
        " FROM src_raw"
    )
    row_type = Types.ROW([Types.STRING(), Types.ROW([Types.PRIMITIVE_ARRAY(Types.BYTE())])])
    source = t_env.to_append_stream(table, row_type)

    def emit(element: Any) -> str:  # the keyed function gets field 1 of Row(key, element)
        return str(json.loads(bytes(element[0]).decode("utf-8", "replace"))["transaction_id"])

    stage = _key_by_field0(source, row_type).process(_keyed_stage("c", emit), output_type=Types.STRING())
    stage.sink_to(_kafka_sink(out, "one-stage", props, settings))
    env.execute("cand-one-stage")


def _one_stage_typed(settings: JobSettings, out: str, extra: dict[str, str], model: Any) -> None:
    from fraud_jobs.flink.topology import _kafka_sink, _key_by_field0
    from pyflink.common import Types

    env, t_env, props = _env(settings, extra)
    _create_source(t_env, settings, props, parsed=False)
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW typed AS SELECT COALESCE(JSON_VALUE(s, '$.customer_id'), '') AS k,"
        " ROW(JSON_VALUE(s, '$.transaction_id'), JSON_VALUE(s, '$.terminal_id'),"
        " CAST(JSON_VALUE(s, '$.amount') AS DOUBLE), JSON_VALUE(s, '$.event_time')) AS e"
        " FROM (SELECT CAST(`value` AS STRING) AS s FROM src_raw)"
    )
    string = Types.STRING()
    row_type = Types.ROW([string, Types.ROW([string, string, Types.DOUBLE(), string])])
    source = t_env.to_append_stream(t_env.from_path("typed"), row_type)
    stage = _key_by_field0(source, row_type).process(_keyed_stage("c", lambda e: e[0]), output_type=string)
    stage.sink_to(_kafka_sink(out, "one-stage-typed", props, settings))
    env.execute("cand-one-stage-typed")


_FEATURE_SQL = """
SELECT transaction_id, amount, ts,
  c1_n, c1_s, c7_n, c7_s, c30_n, c30_s, t1_n, t7_n,
  COUNT(*) OVER (PARTITION BY terminal_id ORDER BY ts
    RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW) AS t30_n
FROM (SELECT *, COUNT(*) OVER (PARTITION BY terminal_id ORDER BY ts
        RANGE BETWEEN INTERVAL '7' DAY PRECEDING AND CURRENT ROW) AS t7_n
  FROM (SELECT *, COUNT(*) OVER (PARTITION BY terminal_id ORDER BY ts
          RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW) AS t1_n
    FROM (SELECT *, COUNT(*) OVER w AS c30_n, SUM(amount) OVER w AS c30_s FROM (
      SELECT *, COUNT(*) OVER w AS c7_n, SUM(amount) OVER w AS c7_s FROM (
        SELECT *, COUNT(*) OVER w AS c1_n, SUM(amount) OVER w AS c1_s FROM src
        WINDOW w AS (PARTITION BY customer_id ORDER BY ts
          RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW))
      WINDOW w AS (PARTITION BY customer_id ORDER BY ts
        RANGE BETWEEN INTERVAL '7' DAY PRECEDING AND CURRENT ROW))
    WINDOW w AS (PARTITION BY customer_id ORDER BY ts
      RANGE BETWEEN INTERVAL '30' DAY PRECEDING AND CURRENT ROW))))
"""
_FEATURES = ("amount", "c1_n", "c1_s", "c7_n", "c7_s", "c30_n", "c30_s", "t1_n", "t7_n", "t30_n")


def _sql_job(
    settings: JobSettings, out: str, extra: dict[str, str], model: Any, udf_kind: str | None
) -> None:
    """Features in chained OVER windows on the JVM; optionally scored by a Python UDF; a JSON Kafka sink."""
    _, t_env, props = _env(settings, extra)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE raw_wm (`value` BYTES, ts AS CAST(REPLACE(REPLACE("
        f"JSON_VALUE(CAST(`value` AS STRING), '$.event_time'), 'T', ' '), 'Z', '') AS TIMESTAMP(3)),"
        f" WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ({_source_options(settings, props)})"
    )
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW src AS SELECT"
        " JSON_VALUE(s, '$.transaction_id') AS transaction_id,"
        " JSON_VALUE(s, '$.customer_id') AS customer_id,"
        " JSON_VALUE(s, '$.terminal_id') AS terminal_id,"
        " CAST(JSON_VALUE(s, '$.amount') AS DOUBLE) AS amount, ts"
        " FROM (SELECT CAST(`value` AS STRING) AS s, ts FROM raw_wm)"
    )
    features = t_env.sql_query(_FEATURE_SQL)
    t_env.create_temporary_view("features", features)
    columns = ", ".join(_FEATURES)
    if udf_kind is None:
        select = "SELECT transaction_id, CAST(c1_n + t1_n AS DOUBLE) AS score FROM features"
    else:
        t_env.create_temporary_function("score", _score_udf(model, udf_kind))
        select = f"SELECT transaction_id, score({columns}) AS score FROM features"
    _json_sink(t_env, settings, out, f"sql-{udf_kind or 'none'}")
    t_env.sql_query(select).execute_insert("sink_out").wait()


def _json_sink(t_env: Any, settings: JobSettings, out: str, role: str) -> None:
    """Table ``sink_out`` (transaction_id, score): JSON to ``out`` through an exactly-once Kafka sink."""
    prefix = f"{settings.kafka.transactional_id_prefix}.{role}"
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE sink_out (transaction_id STRING, score DOUBLE) WITH ("
        f"'connector' = 'kafka', 'topic' = '{out}',"
        f" 'properties.bootstrap.servers' = '{settings.kafka.bootstrap_servers}', 'format' = 'json',"
        f" 'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = '{prefix}',"
        f" 'properties.transaction.timeout.ms' = '{settings.flink.transaction_timeout_ms}')"
    )


def _source_options(settings: JobSettings, props: dict[str, str]) -> str:
    options = {
        "connector": "kafka",
        "topic": settings.topics.transactions,
        "properties.group.id": settings.kafka.consumer_group,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "earliest-offset",
        "scan.bounded.mode": "latest-offset",
        "value.format": "raw",
        **{f"properties.{k}": v for k, v in props.items()},
    }
    return ", ".join(f"'{k}' = '{v}'" for k, v in options.items())


def _score_udf(model: Any, kind: str) -> Any:
    """The compiled model scoring the feature columns padded to the model's width (values are stand-ins)."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    uri, sha256 = model["uri"], model["sha256"]

    class Score(ScalarFunction):  # type: ignore[misc]
        def open(self, function_context: Any) -> None:
            from fraud_models.features import FEATURE_SCHEMA_ID
            from fraud_models.scorer import load_model

            self.model = load_model(uri, expected_sha256=sha256, expected_schema_id=FEATURE_SCHEMA_ID)
            self.width = self.model.n_features

        def eval(self, *columns: Any) -> Any:
            import numpy as np

            if kind == "pandas":
                import pandas as pd

                block = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
                padded = np.zeros((len(block), self.width))
                padded[:, : block.shape[1]] = block
                return pd.Series(self.model.score_batch(padded))
            row = [float(c) for c in columns]
            return float(self.model.score(row + [0.0] * (self.width - len(row))))

    return udf(Score(), result_type=DataTypes.DOUBLE(), func_type="pandas" if kind == "pandas" else "general")


_JAVA = """
package streamflow.bench;

import java.util.ArrayList;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

public class Bench {
  /** Field 0 of a Row, as the key. */
  public static class Field0 implements KeySelector<Row, String> {
    public String getKey(Row row) { return (String) row.getField(0); }
  }

  /** One ValueState read and written per event: the JVM twin of the one-stage Python skeleton. */
  public static class Count extends KeyedProcessFunction<String, Row, String> {
    private transient ValueState<Long> seen;
    public void open(OpenContext context) {
      seen = getRuntimeContext().getState(new ValueStateDescriptor<>("seen", Long.class));
    }
    public void processElement(Row row, Context ctx, Collector<String> out) throws Exception {
      Long n = seen.value();
      seen.update(n == null ? 1L : n + 1L);
      out.collect((String) row.getField(1));
    }
  }

  /** Row(customer, tx, amount, epoch seconds) -> Row(tx, n1, s1, n7, s7, n30, s30): exact rolling
   *  windows (t - w, t] over the customer's last 30 days, kept as parallel arrays in one ValueState. */
  public static class Features extends KeyedProcessFunction<String, Row, Row> {
    private transient ValueState<ArrayList<double[]>> history;
    public void open(OpenContext context) {
      history = getRuntimeContext().getState(new ValueStateDescriptor<>(
          "history", TypeInformation.of(new TypeHint<ArrayList<double[]>>() {})));
    }
    public void processElement(Row row, Context ctx, Collector<Row> out) throws Exception {
      double amount = (Double) row.getField(2);
      double ts = (Double) row.getField(3);
      ArrayList<double[]> h = history.value();
      if (h == null) { h = new ArrayList<>(); }
      h.removeIf(e -> e[0] <= ts - 30 * 86400.0);
      h.add(new double[] {ts, amount});
      double[] n = new double[3];
      double[] s = new double[3];
      double[] w = {86400.0, 7 * 86400.0, 30 * 86400.0};
      for (double[] e : h) {
        for (int i = 0; i < 3; i++) {
          if (e[0] > ts - w[i] && e[0] <= ts) { n[i] += 1; s[i] += e[1]; }
        }
      }
      history.update(h);
      out.collect(Row.of(row.getField(1), amount, n[0], s[0], n[1], s[1], n[2], s[2]));
    }
  }
}
"""


def _java_jar(work: Path) -> str:
    """Compile the JVM candidates against PyFlink's own Flink jars; the jar's file URL."""
    import subprocess

    import pyflink

    lib = Path(pyflink.__file__).parent / "lib"
    classpath = ":".join(str(p) for p in sorted(lib.glob("*.jar")))
    src = work / "java" / "streamflow" / "bench"
    src.mkdir(parents=True, exist_ok=True)
    (src / "Bench.java").write_text(_JAVA, encoding="utf-8")
    classes = work / "classes"
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", classpath, str(src / "Bench.java")], check=True, timeout=300
    )
    jar = work / "streamflow-bench.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, timeout=120)
    return jar.as_uri()


_JAVA_JAR: dict[str, str] = {}


def _jvm_job(settings: JobSettings, out: str, extra: dict[str, str], model: Any, kind: str) -> None:
    """A JVM keyed function (no Python on the hot path) counting, or computing the customer windows."""
    from fraud_jobs.flink.topology import _kafka_sink
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    env, t_env, props = _env(settings, extra)
    env.add_jars(_JAVA_JAR["url"])
    jvm = get_gateway().jvm
    _create_source(t_env, settings, props, parsed=False)
    string, double = Types.STRING(), Types.DOUBLE()
    if kind == "count":
        table = t_env.sql_query(
            "SELECT COALESCE(JSON_VALUE(s, '$.customer_id'), '') AS k,"
            " JSON_VALUE(s, '$.transaction_id') AS tx FROM (SELECT CAST(`value` AS STRING) AS s FROM src_raw)"
        )
        source = t_env.to_append_stream(table, Types.ROW([string, string]))
        j_out = source._j_data_stream.keyBy(jvm.streamflow.bench.Bench.Field0()).process(
            jvm.streamflow.bench.Bench.Count(), string.get_java_type_info()
        )
        DataStream(j_out).sink_to(_kafka_sink(out, "jvm-stage", props, settings))
        env.execute("cand-jvm-stage")
        return
    table = t_env.sql_query(
        "SELECT COALESCE(JSON_VALUE(s, '$.customer_id'), '') AS k, JSON_VALUE(s, '$.transaction_id') AS tx,"
        " CAST(JSON_VALUE(s, '$.amount') AS DOUBLE) AS amount,"
        " CAST(UNIX_TIMESTAMP(SUBSTRING(JSON_VALUE(s, '$.event_time') FROM 1 FOR 19),"
        " 'yyyy-MM-dd''T''HH:mm:ss') AS DOUBLE) AS ts"
        " FROM (SELECT CAST(`value` AS STRING) AS s FROM src_raw)"
    )
    source = t_env.to_append_stream(table, Types.ROW([string, string, double, double]))
    names = ["transaction_id", *_JVM_FEATURES]
    row_type = Types.ROW_NAMED(names, [string, *([double] * len(_JVM_FEATURES))])
    j_out = source._j_data_stream.keyBy(jvm.streamflow.bench.Bench.Field0()).process(
        jvm.streamflow.bench.Bench.Features(), row_type.get_java_type_info()
    )
    features = t_env.from_data_stream(DataStream(j_out))
    _json_sink(t_env, settings, out, f"jvm-{kind}")
    t_env.create_temporary_view("features", features)
    if kind == "pandas":
        t_env.create_temporary_function("score", _score_udf(model, "pandas"))
        select = f"SELECT transaction_id, score({', '.join(_JVM_FEATURES)}) AS score FROM features"
    else:
        select = "SELECT transaction_id, n1 + n7 AS score FROM features"
    t_env.sql_query(select).execute_insert("sink_out").wait()


_JVM_FEATURES = ("amount", "n1", "s1", "n7", "s7", "n30", "s30")


JOBS: dict[str, Callable[[JobSettings, str, dict[str, str], Any], None]] = {
    "passthrough": _passthrough,
    "two_stage": _two_stage,
    "one_stage": _one_stage,
    "one_stage_typed": _one_stage_typed,
    "sql": lambda s, o, e, m: _sql_job(s, o, e, m, None),
    "sql_pandas": lambda s, o, e, m: _sql_job(s, o, e, m, "pandas"),
    "sql_udf": lambda s, o, e, m: _sql_job(s, o, e, m, "general"),
    "jvm_stage": lambda s, o, e, m: _jvm_job(s, o, e, m, "count"),
    "jvm_features": lambda s, o, e, m: _jvm_job(s, o, e, m, "features"),
    "jvm_features_pandas": lambda s, o, e, m: _jvm_job(s, o, e, m, "pandas"),
}


# --- the peer: no Flink ---------------------------------------------------------------------------------


def _peer(bootstrap: str, source: str, out: str, n: int, model: Any, logic: bool) -> float:
    """A confluent-kafka loop: consume, (run both keyed steps with in-memory state,) produce; events/s."""
    from fraud_jobs.config import DetectorConfig
    from fraud_jobs.logic import customer_step, terminal_step
    from fraud_jobs.schemas import Transaction, parse_transaction
    from fraud_models.features import FEATURE_SCHEMA_ID
    from fraud_models.scorer import load_model

    cfg = DetectorConfig.model_validate({"blocklist": {"customers": ["CB-BENCH"]}})
    scorer = load_model(model["uri"], expected_sha256=model["sha256"], expected_schema_id=FEATURE_SCHEMA_ID)
    consumer = _reader(bootstrap, source)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    done = 0
    started = time.perf_counter()
    while done < n:
        for msg in consumer.consume(1000, 1.0):
            value = msg.value()
            if msg.error() or value is None:
                continue
            done += 1
            if not logic:
                payload: Any = value
            else:
                tx = parse_transaction(value)
                if not isinstance(tx, Transaction):
                    continue
                terminals[tx.terminal_id], enriched = terminal_step(terminals.get(tx.terminal_id), tx, cfg)
                customers[tx.customer_id], record, _alert = customer_step(
                    customers.get(tx.customer_id), enriched, cfg, scorer
                )
                payload = json.dumps(record._asdict())
            while True:
                try:
                    producer.produce(out, payload)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


# --- the run --------------------------------------------------------------------------------------------


def _round(
    bootstrap: str,
    jars: str,
    work: Path,
    run: str,
    payloads: list[bytes],
    model: Any,
    candidates: list[str],
    flink: dict[str, Any],
    extra: dict[str, str],
    peer: bool,
) -> dict[str, float]:
    topics = _topics(bootstrap, run, [*candidates, "peer_logic", "peer_passthrough"])
    rates: dict[str, float] = {}
    try:
        _produce(bootstrap, topics["transactions"], payloads)
        settings = _settings(bootstrap, topics, jars, work, model, bounded=True, **flink)
        for name in candidates:
            JOBS[name](settings, topics[name], extra, model)
            rates[name] = _rate(bootstrap, topics[name], len(payloads))
        if peer:
            for name, logic in (("peer_passthrough", False), ("peer_logic", True)):
                rates[name] = _peer(
                    bootstrap, topics["transactions"], topics[name], len(payloads), model, logic
                )
    finally:
        _drop_topics(bootstrap, list(topics.values()))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = FlinkSettings()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("thread", "process"), default=shipped.execution_mode)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--bundle-size", type=int, default=shipped.bundle_size)
    parser.add_argument("--bundle-time-ms", type=int, default=shipped.bundle_time_ms)
    parser.add_argument("--arrow-batch-size", type=int, default=10_000)
    parser.add_argument("--peer", action="store_true", help="also run the confluent-kafka peer")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "candidates.json")
    args = parser.parse_args()
    bootstrap = os.environ.get("STREAMFLOW_KAFKA_BOOTSTRAP")
    jars = os.environ.get("STREAMFLOW_FLINK_JARS")
    if not bootstrap or not jars:
        raise SystemExit('error: needs the local stack: eval "$(streamflow dev env)"')
    candidates = [c for c in args.candidates.split(",") if c]
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"error: unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    if args.mode == "thread":
        skipped = [c for c in candidates if c in PROCESS_ONLY]
        candidates = [c for c in candidates if c not in PROCESS_ONLY]
        if skipped:
            print(f"thread mode runs no pandas UDF: {', '.join(skipped)} left out")
    if "passthrough" not in candidates:
        candidates.insert(0, "passthrough")
    flink = {
        "execution_mode": args.mode,
        "bundle_size": args.bundle_size,
        "bundle_time_ms": args.bundle_time_ms,
    }
    extra = {"python.fn-execution.arrow.batch.size": str(args.arrow_batch_size)}
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="bench-candidates-"))
    payloads = [r.payload for r in generate(args.events, seed=11, days=30).records]
    model = _model(work, "hist_gradient_boosting")
    if any(c.startswith("jvm_") for c in candidates):
        _JAVA_JAR["url"] = _java_jar(work)
    rounds: list[dict[str, float]] = []
    try:
        warm = payloads[: min(len(payloads), 10_000)]
        _round(bootstrap, jars, work, f"{run}w", warm, model, candidates, flink, extra, peer=False)
        for n in range(args.repeat):
            rates = _round(
                bootstrap, jars, work, f"{run}{n}", payloads, model, candidates, flink, extra, args.peer
            )
            rounds.append(rates)
            base = rates["passthrough"]
            print(
                f"round {n + 1}: "
                + ", ".join(f"{k} {v:,.0f} ev/s ({v / base:.3f})" for k, v in rates.items())
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = list(rounds[0])
    medians = {k: statistics.median(r[k] for r in rounds) for k in names}
    ratios = {k: statistics.median(r[k] / r["passthrough"] for r in rounds) for k in names}
    print("median: " + ", ".join(f"{k} {medians[k]:,.0f} ev/s ({ratios[k]:.3f})" for k in names))
    result = {
        "benchmark": "detector_candidates",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "mode": args.mode,
        "parallelism": 1,
        "bundle": {"size": args.bundle_size, "time_ms": args.bundle_time_ms},
        "arrow_batch_size": args.arrow_batch_size,
        "checkpoint_interval_s": 1,
        "events": args.events,
        "rounds": [{k: round(v, 1) for k, v in r.items()} for r in rounds],
        "median_eps": {k: round(v, 1) for k, v in medians.items()},
        "ratio_to_passthrough": {k: round(v, 3) for k, v in ratios.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
