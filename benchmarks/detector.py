"""Throughput of the Flink detector vs a pass-through Python map, and event-time-to-alert latency.

Each round, same source, same mode: three jobs read the same pre-filled Kafka topic through the same Kafka
table source (bounded at the offsets latest at start), run the same Python execution mode, parallelism,
bundle settings and exactly-once Kafka sink:

* the pass-through maps each record to its text (the PyFlink ceiling);
* the same pass-through in thread mode (the faster mode for a per-record Python map, so the stricter
  baseline of the two);
* with ``--skeleton``, the earlier architecture with no logic: a Python stage keyed by terminal and one
  keyed by customer, each reading and writing one ValueState per event;
* the detector is the full job (:func:`fraud_jobs.flink.topology.build`).

Throughput is records / (last - first output timestamp), so JVM and job start-up are excluded; rates
and ratios are the medians of ``--repeat`` rounds (3), after an unmeasured round that warms up the JVM.
Every job runs as the operator deploys it unless told otherwise: its state backend with the options the
operator sets for it, and the managed memory its default TaskManager has. The connector and detector jars
are on the JVM's class path, loaded once for all jobs, so the warm-up round's compiled code serves the
measured rounds as it serves a long-running job (``--classes per-job``: each job loads and compiles them
anew).
Each round also runs the detector on a backlog of the latency runs' kind of events (:class:`LatencyStream`:
many customers, each paying about twice). Then, ``--latency-runs`` times (3) for each alert delivery, the
two alternating, the detector runs unbounded while such events stamped with the wall clock are produced at
half of a maximum found just before (``--latency-rate-from``: by default live, raised until the job falls
behind), after a 10 s warm-up that is reported apart. The job is the operator's, without a scores topic
(``--latency-from scores``: with one, as until step 10 of ``docs/performance.md``); latency is taken three
ways:

* ``in_job``: detection time (the decide step) - event time, over the alerts, the decisions that leave a
  record (with a scores topic over every score record); also per second;
* ``alerts``: the alert's ``detection_time - event_time`` (blocklisted customers make ~2% alerts);
* ``committed``: when a read_committed consumer receives the alert - event time; includes the checkpoint
  interval, because exactly-once sinks publish only on checkpoint completion.

Needs the local stack: ``eval "$(streamflow dev env)"``.

    python benchmarks/detector.py [--events 1200000] [--repeat 3] [--latency-seconds 20] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from cpu_by_second import CpuBySecond  # benchmarks/cpu_by_second.py
from fraud_jobs.flink.jvm import detector_jar
from fraud_jobs.flink.settings import FlinkSettings, JobSettings
from fraud_jobs.generator import generate
from fraud_operator.api.flink import FlinkSpec, Resources
from fraud_operator.render.flink import ROCKSDB_DEFAULTS
from streamflow_dev.procs import free_port

ROLES = ("transactions", "alerts", "dlq", "labels", "control", "scores")
LATENCY_LINGER_MS = 1
BLOCKLISTED = b"CB-BENCH"
BLOCKLISTED_EVERY = 50
"""Every 50th event of the latency stream is the blocklisted customer's: an alert each, in order."""
TAIL_RECORDS = 20
"""How many of the last records of the decisions topic tell how far the job has decided."""
EVENT_HEAD = (
    b'{"transaction_id": "%s-%d", "customer_id": "%s", "terminal_id": "T%05d", "amount": %r, "event_time": "'
)
EVENT_TAIL = b'"}'
MAX_STREAM_EVENT_RATE = 20_000
"""Events per second of event time in the latency stream the maximum rate is measured on."""
LIVE_START = 0.4
"""The live maximum's search starts at this share of the rounds' median rate on the latency stream."""
LIVE_STEPS = 12
"""Steps of the live maximum's search, each a tenth faster: the last is 1.1 times that median rate."""
PAYMENTS_PER_CUSTOMER = 2.0
"""How often a customer of the latency stream pays, on average, within one run: the pool is the run's events
over this, so at any rate and length (under the velocity rule's 10 minutes) the alerts are the blocklisted
customer's 2% plus ~1% velocity hits (a sixth payment), and over 40% of events are a customer's first. A fixed
pool of 200,000 had each customer pay 9 times at 30,000 events/s and a quarter of the events alerted; one of
10,000 had two thirds alert."""


class LatencyStream:
    """The latency run's events: many customers paying rarely (over 40% of events a customer's first, so
    the state backend reads and writes keys it has not cached), 2,000 terminals, uniform amounts.

    The same stream, with event times spaced at a nominal rate, is what the maximum rate the latency runs
    take half of is measured on: half of a rate measured on another stream is not half the load."""

    def __init__(self, events: int, seed: int = 1) -> None:
        self.customers = max(1_000, round(events / PAYMENTS_PER_CUSTOMER))
        self._rng = random.Random(seed)

    def head(self, n: int, prefix: str, customer: bytes | None = None) -> bytes:
        """Event ``n`` (``<prefix>-<n>``) up to its event time; every 50th is the blocklisted customer's.
        With :data:`EVENT_TAIL` after the time, the same JSON as json.dumps of the record. Built ahead of a
        paced run, so that what the load generator does while the job is measured is little more than the
        produce call: it shares the two cores with the job."""
        rng = self._rng
        if customer is None:
            customer = BLOCKLISTED if n % BLOCKLISTED_EVERY == 0 else b"C%07d" % rng.randrange(self.customers)
        return EVENT_HEAD % (prefix.encode(), n, customer, rng.randrange(2000), round(rng.uniform(5, 200), 2))

    def event(self, n: int, prefix: str, event_time: datetime, customer: bytes | None = None) -> bytes:
        return self.head(n, prefix, customer) + event_time.isoformat().encode() + EVENT_TAIL

    def backlog(self, events: int, rate: float) -> list[bytes]:
        """``events`` events whose event times are ``1 / rate`` s apart, ending now."""
        start = datetime.now(UTC).timestamp() - events / rate
        return [self.event(n, "max", datetime.fromtimestamp(start + n / rate, UTC)) for n in range(events)]


FLINK_MEMORY_UNITS = {"k": 2**-10, "kb": 2**-10, "m": 1, "mb": 1, "g": 2**10, "gb": 2**10}


def _mebibytes(size: str) -> float:
    """A Flink memory size (``2048m``, ``2g``) in MiB."""
    number = size.rstrip("kmgb")
    return float(number) * FLINK_MEMORY_UNITS[size[len(number) :]]


def shipped_managed_memory() -> str:
    """The managed memory of the operator's default TaskManager under Flink's default memory model: the
    process size less the JVM overhead (10%, within 192 MiB and 1 GiB) and the metaspace (256 MiB), of
    which 40%. A mini-cluster gets 128 MiB unless told, a fifth of it: RocksDB's write buffers and block
    cache come out of this memory."""
    process = _mebibytes(str(Resources.model_fields["memory"].default))
    overhead = min(max(0.1 * process, 192.0), 1024.0)
    return f"{int(0.4 * (process - overhead - 256.0))}m"


def shipped_state_options() -> dict[str, str]:
    """The state backend the operator renders by default, with the options it sets for it."""
    backend = str(FlinkSpec.model_fields["state_backend"].default)
    options = {"state.backend.type": backend, "taskmanager.memory.managed.size": shipped_managed_memory()}
    return {**options, **(ROCKSDB_DEFAULTS if backend == "rocksdb" else {})}


def _share_classes(jars: str) -> dict[str, str]:
    """Put the connector and detector jars on the JVM's class path (PyFlink's launcher appends
    ``$HADOOP_CLASSPATH``) and load classes parent-first: every job then uses the same classes and the
    code the JIT compiled for the jobs before it. In their own class loaders, each job compiles them again
    (measured: the C2 and C1 compiler threads had 39% of the JVM's CPU samples over a run). Must run
    before the first job starts the JVM."""
    paths = [jar.removeprefix("file://") for jar in jars.split(";") if jar]
    existing = os.environ.get("HADOOP_CLASSPATH")
    os.environ["HADOOP_CLASSPATH"] = os.pathsep.join(
        [*paths, str(detector_jar()), *([existing] if existing else [])]
    )
    return {"classloader.resolve-order": "parent-first"}


def _topics(bootstrap: str, run: str) -> dict[str, str]:
    names = {
        role: f"bench-{run}-{role}" for role in (*ROLES, "passthrough", "passthrough_thread", "skeleton")
    }
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names.values()]).values():
        future.result(timeout=30)
    return names


def _drop_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.exception(timeout=30)


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    for payload in payloads:
        while True:
            try:
                producer.produce(topic, payload)
                break
            except BufferError:
                producer.poll(0.2)
    assert producer.flush(60) == 0


def _reader(bootstrap: str, topic: str) -> Any:
    """A read_committed consumer of partition 0 of ``topic`` from its first offset, in a fresh group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    return consumer


def _consume(
    bootstrap: str, topic: str, expected: int | None, timeout_s: float, quiet_s: float | None = None
) -> list[Any]:
    """Committed records of ``topic`` until ``expected`` have come, or nothing more for ``quiet_s``, or
    ``timeout_s`` has passed."""
    consumer = _reader(bootstrap, topic)
    out: list[Any] = []
    last = time.monotonic()
    deadline = last + timeout_s
    while (expected is None or len(out) < expected) and time.monotonic() < deadline:
        if quiet_s is not None and time.monotonic() - last >= quiet_s:
            break
        for msg in consumer.consume(10_000, 0.5):
            if not msg.error():
                out.append(msg)
                last = time.monotonic()
    consumer.close()
    return out


def _rate(messages: list[Any]) -> float:
    return _span_rate(sorted(m.timestamp()[1] for m in messages))


def _second_half_rate(messages: list[Any]) -> float:
    """The rate over the later half of the output: the steady state, after the job's first seconds, in
    which its classes (loaded per job, so compiled anew by the JIT in every job) still run interpreted."""
    stamps = sorted(m.timestamp()[1] for m in messages)
    return _span_rate(stamps[len(stamps) // 2 :])


def _span_rate(stamps_ms: list[int]) -> float:
    span_s = (stamps_ms[-1] - stamps_ms[0]) / 1000.0 if stamps_ms else 0.0
    return len(stamps_ms) / span_s if span_s > 0 else float("nan")


def _model(work: Path, algorithm: str) -> dict[str, Any] | None:
    """A compiled model of the shipped size (the algorithm's default parameters: 300 trees of 7 leaves for
    gradient boosting, 100 for IsolationForest), so FR-006 and the ML feature state run as in production.
    It is fitted on random features: its scores mean nothing, its per-event cost is the real one."""
    if algorithm == "none":
        return None
    import numpy as np
    from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
    from fraud_models.scorer import compile_model
    from fraud_models.training import make_estimator

    rng = np.random.default_rng(7)
    x = rng.normal(size=(5000, len(FEATURE_NAMES)))
    y = (x[:, 0] + rng.normal(scale=2.0, size=len(x)) > 2.5).astype(int)
    estimator = make_estimator(algorithm)
    if algorithm == "isolation_forest":
        estimator.fit(x)
    else:
        estimator.fit(x, y)
    columns = list(range(len(FEATURE_NAMES)))
    model = compile_model(estimator, algorithm=algorithm, columns=columns, version=f"bench-{algorithm}")
    path = work / f"bench-{algorithm}.npz"
    sha256 = model.save(path)
    return {
        "version": f"bench-{algorithm}",
        "uri": path.as_uri(),
        "sha256": sha256,
        "feature_schema_id": FEATURE_SCHEMA_ID,
    }


def _settings(
    bootstrap: str,
    topics: dict[str, str],
    jars: str,
    work: Path,
    model: dict[str, Any] | None = None,
    **flink: Any,
) -> JobSettings:
    tag = uuid.uuid4().hex[:6]
    return JobSettings.model_validate(
        {
            **({"model": model} if model else {}),
            "pipeline": {"name": f"bench-{tag}", "namespace": "bench"},
            "kafka": {
                "bootstrap_servers": bootstrap,
                "consumer_group": f"bench-{tag}",
                "transactional_id_prefix": f"bench-{tag}",
            },
            "topics": {role: topics[role] for role in ROLES},
            "detector": {"blocklist": {"customers": [BLOCKLISTED.decode()]}},
            "checkpointing": {"interval_seconds": 1},
            "flink": {
                "jars": jars,
                "parallelism": 1,
                "starting_offsets": "earliest",
                "checkpoint_dir": (work / f"ck-{tag}").as_uri(),
                **flink,
            },
        }
    )


def _job_env(settings: JobSettings) -> tuple[Any, Any, dict[str, str]]:
    """The environment, table environment and Kafka properties every benchmark job starts from."""
    from fraud_jobs.flink.topology import flink_configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment(flink_configuration(settings))
    env.set_parallelism(1)
    return env, StreamTableEnvironment.create(env), settings.kafka.client_properties({})


def _passthrough(settings: JobSettings, out_topic: str) -> None:
    """The PyFlink ceiling: the detector's own source and sink, a Python map in between."""
    from fraud_jobs.flink.topology import _kafka_sink, _source_table
    from pyflink.common import Types

    env, t_env, props = _job_env(settings)
    rows = _source_table(t_env, "src", settings.topics.transactions, props, settings, "earliest-offset")
    mapped = rows.map(lambda row: bytes(row["value"]).decode("utf-8", "replace"), output_type=Types.STRING())
    mapped.sink_to(_kafka_sink(out_topic, "passthrough", props, settings))
    env.execute("bench-passthrough")


def _skeleton(settings: JobSettings, out_topic: str) -> None:
    """The architecture the issue prescribes with no detector logic in it: the detector's own keyed source,
    a stage keyed by terminal and a stage keyed by customer, each reading and writing one small ValueState
    per event, the same sink. It is the ceiling for any detector built this way: what it loses against the
    pass-through is the price of two keyed Python stages, before a single rule runs."""
    from fraud_jobs.flink.records import TX
    from fraud_jobs.flink.topology import _kafka_sink, _key_by_field0
    from keyed_source import KEYED_ELEMENT_TYPE, SOURCE_TYPE, keyed_source
    from pyflink.common import Row, Types
    from pyflink.datastream.functions import KeyedProcessFunction
    from pyflink.datastream.state import ValueStateDescriptor

    class Stage(KeyedProcessFunction):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self.name = name

        def open(self, runtime_context: Any) -> None:
            desc = ValueStateDescriptor(self.name, Types.PICKLED_BYTE_ARRAY())
            self.state = runtime_context.get_state(desc)

        def count(self) -> int:
            seen: int = (self.state.value() or 0) + 1
            self.state.update(seen)
            return seen

    class ByTerminal(Stage):
        def process_element(self, value: Any, ctx: Any) -> Any:
            text = bytes(value[5]).decode("utf-8", "replace")
            self.count()
            yield Row(str(json.loads(text).get("customer_id", "")), text)

    class ByCustomer(Stage):
        def process_element(self, value: Any, ctx: Any) -> Any:
            self.count()
            yield value

    env, t_env, props = _job_env(settings)
    source = keyed_source(t_env, "src", TX, settings.topics.transactions, props, settings, "earliest-offset")
    stage1 = _key_by_field0(source, SOURCE_TYPE).process(ByTerminal("t"), output_type=KEYED_ELEMENT_TYPE)
    stage2 = _key_by_field0(stage1, KEYED_ELEMENT_TYPE).process(ByCustomer("c"), output_type=Types.STRING())
    stage2.sink_to(_kafka_sink(out_topic, "skeleton", props, settings))
    env.execute("bench-skeleton")


def _detector(settings: JobSettings) -> None:
    from fraud_jobs.flink.topology import build

    build(settings, environ={}).execute("bench-detector")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000.0 for v in values_s]
    if not ms:
        return {"count": 0}
    return {
        "count": len(ms),
        "p50_ms": round(_pct(ms, 0.50), 1),
        "p99_ms": round(_pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }


def _rest(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _checkpoints(port: int, job_id: str) -> dict[str, Any]:
    """Flink's own summary of the job's completed checkpoints so far: end-to-end duration (trigger to the
    last acknowledgement, which the exactly-once sinks' commit then follows) and full state size; and, for
    the latest one, each chain's slowest subtask split into its synchronous and asynchronous snapshot
    phases and its barrier alignment."""
    overview = _rest(port, f"/jobs/{job_id}/checkpoints")
    summary, latest = overview["summary"], overview["latest"]["completed"]
    names = {v["id"]: v["name"] for v in _rest(port, f"/jobs/{job_id}")["vertices"]}
    phases: dict[str, dict[str, int]] = {}
    for vertex in (
        (_rest(port, f"/jobs/{job_id}/checkpoints/details/{latest['id']}")["tasks"]) if latest else ()
    ):
        detail = _rest(port, f"/jobs/{job_id}/checkpoints/details/{latest['id']}/subtasks/{vertex}")
        subtasks = [t for t in detail["subtasks"] if "checkpoint" in t]
        phases[names.get(vertex, vertex)] = {
            "end_to_end": max(t["end_to_end_duration"] for t in subtasks),
            "sync": max(t["checkpoint"]["sync"] for t in subtasks),
            "async": max(t["checkpoint"]["async"] for t in subtasks),
            "alignment": max(t["alignment"]["duration"] for t in subtasks),
        }
    return {
        "completed": overview["counts"]["completed"],
        "end_to_end_ms": {k: summary["end_to_end_duration"][k] for k in ("min", "p50", "p99", "max")},
        "state_bytes": {k: summary["state_size"][k] for k in ("p50", "max")},
        "latest_by_operator_ms": phases,
    }


def _gc() -> dict[str, float]:
    """Garbage-collector counters of the JVM the mini-cluster runs in (PyFlink's gateway JVM, so all jobs
    of this run): collections and milliseconds per collector since it started, read from its MXBeans. (The
    REST API's TaskManager metrics are refreshed by a fetcher and were stale or empty when read here.)"""
    from pyflink.java_gateway import get_gateway

    out: dict[str, float] = {}
    for bean in get_gateway().jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans():
        name = str(bean.getName()).replace(" ", "_")
        out[f"{name}.Count"] = float(bean.getCollectionCount())
        out[f"{name}.Time"] = float(bean.getCollectionTime())
    return out


def _processes() -> dict[str, int]:
    """The processes a latency run's CPU is reported for: this one (the load generator and the alert
    reader), the JVM the mini-cluster runs in, and the Kafka broker."""
    from pyflink.java_gateway import get_gateway

    found = {
        "benchmark": os.getpid(),
        "flink": int(get_gateway().jvm.java.lang.ProcessHandle.current().pid()),
    }
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if b"kafka.Kafka" in (entry / "cmdline").read_bytes().split(b"\0"):  # the broker's main class
                    found["kafka"] = int(entry.name)
    return found


class _LiveJob:
    """The detector unbounded, from the topics' latest offsets, with a producer that feeds it wall-clock
    events of a :class:`LatencyStream` at a pace: what a latency run and a search for the live maximum
    both drive."""

    def __init__(self, bootstrap: str, settings: JobSettings, events: int) -> None:
        from fraud_jobs.flink.topology import build

        self.bootstrap = bootstrap
        self.topics = settings.topics
        self.port = free_port()
        extra = {**settings.flink.extra, "rest.port": str(self.port)}
        unbounded = settings.with_flink(bounded=False, starting_offsets="latest", extra=extra)
        self.client = build(unbounded, environ={}).execute_async("bench-detector-latency")
        self.job_id = str(self.client.get_job_id())
        # linger.ms=1 lets the producer batch what is due within a millisecond (at most 1 ms more latency,
        # counted in what is measured); with 0, every record is a produce request of its own, which at 17,000
        # events/s took the broker 0.66 of a core, a third of this machine, taken from the job.
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": LATENCY_LINGER_MS})
        self.stream = LatencyStream(events)
        # With a scores topic every decision is a record on it; without one (as the operator deploys the
        # job) the alerts are the decisions that can be seen: every 50th event's and ~1% more.
        self.every_event = self.topics.scores is not None
        self.decisions = self.topics.scores or self.topics.alerts

    def wait_until_scoring(self) -> None:
        """Return once a probe event is decided (scored; without a scores topic, alerted): the job is up."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"w-{uuid.uuid4().hex[:6]}",
                "isolation.level": "read_committed",
            }
        )
        consumer.assign([TopicPartition(self.decisions, 0, 0)])
        probe_customer = b"C-WARM" if self.every_event else BLOCKLISTED
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            probe = self.stream.event(-1, "lat", datetime.now(UTC), customer=probe_customer)
            self.producer.produce(self.topics.transactions, probe)
            self.producer.flush(5)
            msg = consumer.poll(2.0)
            if msg is not None and not msg.error():
                consumer.close()
                return
        raise RuntimeError("the detector did not score a warm-up event within 180 s")

    def send(self, first: int, count: int, prefix: str, rate: float) -> float:
        """Paced in steps of at least a millisecond: each step sends every event due by then, stamped with
        the step's start (a sleep per event would be a system call and a wake-up each, 17,000 a second), so
        an event's measured latency includes its wait within the step. Returns when the pace began."""
        heads = [self.stream.head(n, prefix) for n in range(first, first + count)]
        producer, topic = self.producer, self.topics.transactions
        started = time.perf_counter()
        i = 0
        while i < count:
            due = min(count, int((time.perf_counter() - started) * rate) + 1)
            stamp = datetime.now(UTC).isoformat().encode()
            for head in heads[i:due]:
                producer.produce(topic, head + stamp + EVENT_TAIL)
            i = due
            producer.poll(0)
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(max(ahead, 0.001))
        return started

    def decided_through(self, prefix: str) -> int | None:
        """The highest ``n`` of the ``<prefix>-<n>`` events decided so far, from the last records of the
        decisions topic, read uncommitted (decided, its checkpoint complete or not). The job decides in
        order, so without a scores topic this is at most a blocklisted event's spacing behind."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"e-{uuid.uuid4().hex[:6]}",
                "isolation.level": "read_uncommitted",
                "enable.auto.commit": False,
            }
        )
        best: int | None = None
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.decisions, 0), 10)
            consumer.assign([TopicPartition(self.decisions, 0, max(low, high - TAIL_RECORDS))])
            deadline, seen = time.monotonic() + 5, False
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    if seen:  # caught up; the last offsets may be transaction markers, never delivered
                        break
                    continue
                value, offset = msg.value(), msg.offset()
                if msg.error() or value is None or offset is None:
                    continue
                seen = True
                head, _, number = json.loads(value)["transaction_id"].partition("-")
                if head == prefix:
                    best = int(number) if best is None else max(best, int(number))
                if offset >= high - 1:
                    break
        finally:
            consumer.close()
        return best

    def behind(self, sent: int) -> int:
        """Of the ``sent`` events ``max-0`` onwards (the live maximum's search), how many are not yet
        decided."""
        decided = self.decided_through("max")
        return sent - (0 if decided is None else decided + 1)

    def wait_decided(self, prefix: str, first: int, count: int, timeout_s: float = 120.0) -> None:
        """Wait until the last of events ``first .. first + count - 1`` that leaves a record on the decisions
        topic (every one with a scores topic, else the last blocklisted one) is decided."""
        last = first + count - 1
        if not self.every_event:
            last -= last % BLOCKLISTED_EVERY  # Python's % keeps a negative number's multiple below it
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            decided = self.decided_through(prefix)
            if decided is not None and decided >= last:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the detector did not decide {prefix}-{last} within {timeout_s:.0f} s")


def _live_max(
    bootstrap: str, settings: JobSettings, start_rate: float, step_s: float = 12.0, growth: float = 1.1
) -> dict[str, Any]:
    """The highest rate the detector keeps up with while the load generator and the broker share the
    machine with it: a live stream raised by ``growth`` every ``step_s`` seconds from ``start_rate``,
    until the events sent and not yet scored at the end of a step exceed what half a second brings; the
    maximum is the last step it kept up with. A backlog's rate (the job alone on the cores, reading full
    batches) is more than it sustains live."""
    job = _LiveJob(bootstrap, settings, int(sum(start_rate * step_s * growth**k for k in range(LIVE_STEPS))))
    steps: list[dict[str, float]] = []
    try:
        job.wait_until_scoring()
        rate, first, kept_up = start_rate, 0, 0.0
        for _ in range(LIVE_STEPS):
            count = int(rate * step_s)
            job.send(first, count, "max", rate)
            job.producer.flush(30)
            time.sleep(0.5)
            lag = job.behind(first + count)
            steps.append({"rate_eps": round(rate, 1), "behind_after_step": lag})
            if lag > rate / 2:
                break
            kept_up = round(rate, 1)
            first += count
            rate *= growth
    finally:
        job.client.cancel().result()
    return {"max_eps": kept_up, "steps": steps}


def _latency(
    bootstrap: str, settings: JobSettings, rate: float, seconds: float, warmup_s: float = 10.0
) -> dict[str, Any]:
    """Run the detector unbounded and feed it wall-clock events at ``rate`` per second.

    The first ``warmup_s`` seconds of events (ids ``warm-*``) are not measured, and measuring starts once
    they are all scored: a freshly started JVM runs its first seconds interpreted and every customer's
    state is created then, which is start-up cost, not the steady state an SRE sees. Their latency is
    reported beside the measured one.

    With a scores topic the in-job latency is taken over every decision; without one, as the operator
    deploys the job, over the alerts (the decisions that leave a record), whose p99 was 0.88-1.35 times the
    p99 over every decision, higher in most, in the runs that had both."""
    topics = settings.topics
    job = _LiveJob(bootstrap, settings, int(rate * (warmup_s + seconds)))
    stream, port, job_id, client = job.stream, job.port, job.job_id, job.client
    job.wait_until_scoring()
    total = int(rate * seconds)
    received: dict[str, float] = {}
    stop = threading.Event()

    def read_alerts() -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"a-{uuid.uuid4().hex[:6]}",
                "isolation.level": "read_committed",
            }
        )
        consumer.assign([TopicPartition(topics.alerts, 0, 0)])
        while not stop.is_set():
            # poll returns as soon as a record is there; consume(n, timeout) would wait for n records or
            # the whole timeout and add up to that wait to every alert's measured latency
            msg = consumer.poll(0.05)
            value = msg.value() if msg is not None and not msg.error() else None
            if value is not None:
                received[json.loads(value)["transaction_id"]] = time.time()
        consumer.close()

    reader = threading.Thread(target=read_alerts, daemon=True)
    reader.start()
    warm = int(rate * warmup_s)
    job.send(-warm, warm, "warm", rate)
    job.producer.flush(30)
    job.wait_decided("warm", -warm, warm)  # drained: measure the steady state, not the backlog
    gc_before = _gc()
    cpu = CpuBySecond(_processes(), by_thread={"flink", "benchmark"})
    cpu.start()
    measured_from = job.send(0, total, "lat", rate)
    job.producer.flush(30)
    cpu.stop()
    gc_during = {k: v - gc_before.get(k, 0.0) for k, v in _gc().items()}
    checkpoints = _checkpoints(port, job_id)
    achieved = total / (time.perf_counter() - measured_from)
    job.wait_decided("lat", 0, total)
    if job.every_event:
        everything = [
            json.loads(m.value()) for m in _consume(bootstrap, job.decisions, warm + total + 1, 120)
        ]
        alerted = sum(1 for s in everything if s["alert"])  # every one, warm-up included, is on the topic
        alerts = [json.loads(m.value()) for m in _consume(bootstrap, topics.alerts, alerted, 60)]
        decided = [(s["transaction_id"], s["event_ts"], s["detected_at"]) for s in everything]
    else:
        time.sleep(2 * settings.checkpointing.interval_seconds)  # the last decisions' checkpoint commits
        alerts = [json.loads(m.value()) for m in _consume(bootstrap, topics.alerts, None, 120, quiet_s=2.0)]
        decided = [(a["transaction_id"], *_alert_times(a)) for a in alerts]
    time.sleep(2)
    stop.set()
    reader.join(5)
    client.cancel().result()
    warm_in_job = [done - at for tid, at, done in decided if tid.startswith("warm-")]
    measured = [(at, done) for tid, at, done in decided if tid.startswith("lat-") and tid != "lat--1"]
    in_job = [done - at for at, done in measured]
    first = min((at for at, _ in measured), default=0.0)
    by_second: dict[int, list[float]] = {}
    for at, done in measured:
        by_second.setdefault(int(at - first), []).append(done - at)
    alert_lat, committed = [], []
    for a in alerts:
        if not a["transaction_id"].startswith("lat-") or a["transaction_id"] == "lat--1":
            continue
        event_ts, detected = _alert_times(a)
        alert_lat.append(detected - event_ts)
        if a["transaction_id"] in received:
            committed.append(received[a["transaction_id"]] - event_ts)
    return {
        "target_rate_eps": round(rate, 1),
        "achieved_rate_eps": round(achieved, 1),
        "events": total,
        "customers": stream.customers,
        "in_job_over": "scores" if job.every_event else "alerts",
        "scored": len(measured),
        "in_job": _summary(in_job),
        "alerts": _summary(alert_lat),
        "committed": _summary(committed),
        "warmup": {"seconds": warmup_s, "in_job": _summary(warm_in_job)},
        "checkpoints": checkpoints,
        "gc_while_measured": gc_during,
        "in_job_by_second": [
            {"second": sec, "p50_ms": round(_pct(v, 0.5) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
            for sec, v in sorted(by_second.items())
        ],
        "cpu_by_second": cpu.seconds(since=first),
    }


def _alert_times(alert: dict[str, Any]) -> tuple[float, float]:
    """An alert's event time and detection time, in seconds since the epoch."""
    return (
        datetime.fromisoformat(alert["event_time"]).timestamp(),
        datetime.fromisoformat(alert["detection_time"]).timestamp(),
    )


def _scored(settings: JobSettings, source: str) -> JobSettings:
    """``settings`` without the scores topic when the in-job latency is taken from the alerts."""
    if source == "scores":
        return settings
    return settings.model_copy(update={"topics": settings.topics.model_copy(update={"scores": None})})


def _delivered(settings: JobSettings, delivery: str) -> JobSettings:
    """``settings`` with the alerts topic's guarantee set to ``delivery``."""
    kafka = settings.kafka.model_copy(update={"alert_delivery": delivery})
    return settings.model_copy(update={"kafka": kafka})


def _variant(flink: dict[str, Any], options: str) -> dict[str, Any]:
    """``flink`` with ``KEY=VALUE,...`` applied: a FlinkSettings field by its name, anything else as a
    further Flink option."""
    changed = {**flink, "extra": dict(flink["extra"])}
    for key, value in (kv.split("=", 1) for kv in options.split(",")):
        if key in FlinkSettings.model_fields:
            changed[key] = value
        else:
            changed["extra"][key] = value
    return changed


def _round(
    bootstrap: str,
    jars: str,
    work: Path,
    run: str,
    payloads: list[bytes],
    model: dict[str, Any] | None,
    flink: dict[str, Any],
    skeleton: bool = False,
    variants: dict[str, dict[str, Any]] | None = None,
    latency_stream: list[bytes] | None = None,
) -> dict[str, float]:
    """One side-by-side measurement over the same fresh topic: the pass-through in the detector's mode and
    in thread mode (the faster of the two, so the stricter baseline), the detector, the detector with each
    variant's further Flink options (``detector[<name>]``, on its own output topics), and the two-stage
    skeleton when asked. Then the detector (and each variant) on ``latency_stream``, the latency runs'
    kind of events (``detector.latency_stream``): the maximum they take half of."""
    topics = _topics(bootstrap, run)
    variant_topics = {name: _topics(bootstrap, f"{run}{name}") for name in variants or {}}
    stream_topics = (
        {name: _topics(bootstrap, f"{run}s{name}") for name in ("", *(variants or {}))}
        if latency_stream
        else {}
    )
    rates: dict[str, float] = {}
    try:
        _produce(bootstrap, topics["transactions"], payloads)
        settings = _settings(bootstrap, topics, jars, work, model, bounded=True, **flink)
        n = len(payloads)

        def measure(key: str, topic: str, timeout_s: float) -> None:
            out = _consume(bootstrap, topic, n, timeout_s)
            rates[key] = _rate(out)
            rates[f"{key}.second_half"] = _second_half_rate(out)

        _passthrough(settings, topics["passthrough"])
        measure("passthrough", topics["passthrough"], 120)
        threaded = settings.with_flink(execution_mode="thread")
        _passthrough(threaded, topics["passthrough_thread"])
        measure("passthrough_thread", topics["passthrough_thread"], 120)
        if skeleton:
            _skeleton(settings, topics["skeleton"])
            measure("skeleton", topics["skeleton"], 300)
        _detector(settings)
        measure("detector", topics["scores"], 300)
        for name, variant in (variants or {}).items():
            own = {**variant_topics[name], "transactions": topics["transactions"]}
            _detector(_settings(bootstrap, own, jars, work, model, bounded=True, **variant))
            measure(f"detector[{name}]", own["scores"], 300)
        if latency_stream:
            n = len(latency_stream)
            _produce(bootstrap, stream_topics[""]["transactions"], latency_stream)
            for name, variant in {"": flink, **(variants or {})}.items():
                own = {**stream_topics[name], "transactions": stream_topics[""]["transactions"]}
                _detector(_settings(bootstrap, own, jars, work, model, bounded=True, **variant))
                measure(
                    f"detector[{name}].latency_stream" if name else "detector.latency_stream",
                    own["scores"],
                    300,
                )
    finally:
        made = [topics, *variant_topics.values(), *stream_topics.values()]
        _drop_topics(bootstrap, [t for names in made for t in names.values()])
    return rates


def _max_on_stream(
    bootstrap: str, jars: str, work: Path, model: dict[str, Any] | None, flink: dict[str, Any], source: str,
    events: int, run: str,
) -> float:  # fmt: skip
    """The detector's rate over a backlog of the latency stream already on ``source``: the maximum a
    latency run that follows takes half of, measured just before it, on a machine whose speed drifts."""
    made = _topics(bootstrap, run)
    try:
        _detector(
            _settings(bootstrap, {**made, "transactions": source}, jars, work, model, bounded=True, **flink)
        )
        return _rate(_consume(bootstrap, made["scores"], events, 300))
    finally:
        _drop_topics(bootstrap, list(made.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1_200_000,
        help="events per round: RocksDB's compactions grow with its state, so a round of 300,000 events"
        " ended before they did and overstated what the job sustains",
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="0 skips the latency run")
    shipped = FlinkSettings()  # the job's defaults, which the operator's rendered config leaves in force
    parser.add_argument("--mode", choices=("thread", "process"), default=shipped.execution_mode)
    parser.add_argument("--bundle-size", type=int, default=shipped.bundle_size)
    parser.add_argument("--bundle-time-ms", type=int, default=shipped.bundle_time_ms)
    parser.add_argument(
        "--buffer-timeout-ms",
        type=int,
        default=shipped.buffer_timeout_ms,
        help="execution.buffer-timeout.interval (default: the job's default)",
    )
    parser.add_argument(
        "--flink-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further job-level Flink option (FlinkSettings.extra), repeatable",
    )
    parser.add_argument(
        "--model",
        choices=("hist_gradient_boosting", "isolation_forest", "none"),
        default="hist_gradient_boosting",
        help="the model the detector scores with (default: the family evaluated best; none: rules only)",
    )
    parser.add_argument(
        "--changelog", action="store_true", help="Flink's changelog state backend (FlinkSettings.changelog)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; rates and ratios are their medians")
    parser.add_argument(
        "--warm-up-events",
        type=int,
        default=None,
        help="events of the unmeasured first round (default: as many as a round; with shared classes it"
        " warms the JIT for every later job, and rounds still got faster after one of 100,000)",
    )
    parser.add_argument(
        "--classes",
        choices=("shared", "per-job"),
        default="shared",
        help="shared: the jars on the JVM's class path, compiled once for all jobs (a long-running job's"
        " steady state); per-job: each job loads and compiles them anew, as separate jobs in one JVM do",
    )
    parser.add_argument(
        "--skeleton", action="store_true", help="also run the earlier two-stage Python skeleton each round"
    )
    parser.add_argument(
        "--alert-delivery",
        choices=("exactly-once", "at-least-once", "both"),
        default="exactly-once",
        help="the alerts topic's guarantee in the latency run (both: one latency run each)",
    )
    parser.add_argument(
        "--latency-runs",
        type=int,
        default=3,
        help="latency runs per alert delivery; with both deliveries they alternate run by run",
    )
    parser.add_argument(
        "--latency-from",
        choices=("scores", "alerts", "both"),
        default="alerts",
        help="scores: the latency runs' job also writes a score record per event and the in-job latency is"
        " taken over all of them; alerts: no scores topic, as the operator deploys the job, and the in-job"
        " latency is taken over the alerts (~3%% of the decisions); both: one run of each at the same rate,"
        " their order alternating (a live maximum is found without the scores topic, as deployed)",
    )
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="events/s of the latency runs (default: half the detector's rate on the latency stream, see"
        " --latency-rate-from)",
    )
    parser.add_argument(
        "--latency-rate-from",
        choices=("each-run", "live", "rounds"),
        default="live",
        help="each-run: before each latency run the detector runs over a backlog of the latency stream and"
        " the run takes half of that rate (this machine's speed moved by a third within the half hour"
        " between the rounds and the latency runs); live: before each latency run, a live stream is raised"
        f" until the job falls behind, from {LIVE_START} of the rounds' median rate on the latency stream,"
        " and the run takes half of the last rate it kept up with; rounds: half the rounds' median",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE...]",
        help="also run the detector with these further Flink options in every round and every latency run,"
        " interleaved with the runs without them, latency at the same rate (an A/B on a machine whose"
        " load drifts), repeatable",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detector.json")
    args = parser.parse_args()
    sources = {"scores": ("scores",), "alerts": ("alerts",), "both": ("scores", "alerts")}[args.latency_from]
    if sources == ("alerts",) and args.latency_rate is None and args.latency_rate_from == "each-run":
        parser.error("--latency-from alerts: the each-run maximum counts a backlog's scores; use live")
    bootstrap = os.environ.get("STREAMFLOW_KAFKA_BOOTSTRAP")
    jars = os.environ.get("STREAMFLOW_FLINK_JARS")
    if not bootstrap or not jars:
        raise SystemExit('error: needs the local stack: eval "$(streamflow dev env)"')
    code = _detector_code()  # before the first job builds the jar from the sources
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="bench-detector-"))
    shared = _share_classes(jars) if args.classes == "shared" else {}
    flink = {
        "execution_mode": args.mode,
        "bundle_size": args.bundle_size,
        "bundle_time_ms": args.bundle_time_ms,
        "buffer_timeout_ms": args.buffer_timeout_ms,
        "extra": {
            **shipped_state_options(),
            **shared,
            **dict(option.split("=", 1) for option in args.flink_option),
        },
        **({"changelog": True} if args.changelog else {}),
    }
    named = {name: _variant(flink, options) for name, options in (v.split(":", 1) for v in args.variant)}
    payloads = [r.payload for r in generate(args.events, seed=11, days=30).records]
    stream = LatencyStream(args.events, seed=2).backlog(args.events, MAX_STREAM_EVENT_RATE)
    model = _model(work, args.model)
    rounds: list[dict[str, float]] = []
    try:
        # The first jobs in a JVM run interpreted until the JIT has compiled the hot paths: one unmeasured
        # round first, or whichever job happens to go first is penalised.
        warm = payloads[: args.warm_up_events or len(payloads)]
        _round(bootstrap, jars, work, f"{run}w", warm, model, flink, args.skeleton, named)
        for n in range(args.repeat):
            rounds.append(
                _round(
                    bootstrap, jars, work, f"{run}{n}", payloads, model, flink, args.skeleton, named, stream
                )
            )
            r = rounds[-1]
            print(
                f"round {n + 1}: pass-through {r['passthrough']:,.0f} ev/s ({args.mode} mode),"
                f" {r['passthrough_thread']:,.0f} ev/s (thread mode); detector {r['detector']:,.0f} ev/s,"
                f" ratio {r['detector'] / r['passthrough']:.3f}"
                f" / {r['detector'] / r['passthrough_thread']:.3f}"
                + (f"; two-stage skeleton {r['skeleton']:,.0f} ev/s" if "skeleton" in r else "")
                + "".join(
                    f"; detector [{name}] {r[f'detector[{name}]']:,.0f} ev/s,"
                    f" ratio {r[f'detector[{name}]'] / r['passthrough_thread']:.3f} (thread)"
                    for name in named
                )
                + f"; on the latency stream: detector {r['detector.latency_stream']:,.0f} ev/s"
                + "".join(f", [{name}] {r[f'detector[{name}].latency_stream']:,.0f} ev/s" for name in named)
            )
        passthrough, passthrough_thread, detector = (
            statistics.median(r[k] for r in rounds) for k in ("passthrough", "passthrough_thread", "detector")
        )
        on_stream = statistics.median(r["detector.latency_stream"] for r in rounds)
        ratio = statistics.median(r["detector"] / r["passthrough"] for r in rounds)
        ratio_thread = statistics.median(r["detector"] / r["passthrough_thread"] for r in rounds)
        ratio_second_half = statistics.median(
            r["detector.second_half"] / r["passthrough_thread.second_half"] for r in rounds
        )
        skeleton_ratio = (
            statistics.median(r["skeleton"] / r["passthrough"] for r in rounds) if args.skeleton else None
        )
        print(
            f"median of {len(rounds)}: ratio {ratio:.3f} (same mode),"
            f" {ratio_thread:.3f} (thread-mode pass-through),"
            f" {ratio_second_half:.3f} (thread-mode, the later half of each output)"
        )

        latency: dict[str, Any] = {}
        latency_variants: dict[str, dict[str, Any]] = {}
        variants = {"": flink, **named}
        rate = args.latency_rate or on_stream / 2
        deliveries = (
            ("exactly-once", "at-least-once") if args.alert_delivery == "both" else (args.alert_delivery,)
        )
        per_run = (
            args.latency_seconds > 0 and args.latency_rate is None and args.latency_rate_from == "each-run"
        )
        live = args.latency_seconds > 0 and args.latency_rate is None and args.latency_rate_from == "live"
        backlog_topics = _topics(bootstrap, f"{run}b") if per_run else {}
        backlog = backlog_topics.get("transactions", "")
        if per_run:
            _produce(bootstrap, backlog, stream)
        runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for n in range(args.latency_runs) if args.latency_seconds > 0 else ():
            for delivery in deliveries:
                run_max, live_steps = None, None
                if per_run:  # every variant of this run at the same rate: an A/B at one load
                    run_max = _max_on_stream(
                        bootstrap, jars, work, model, flink, backlog, len(stream), f"{run}m{delivery[0]}{n}"
                    )
                    rate = run_max / 2
                elif live:
                    live_topics = _topics(bootstrap, f"{run}x{delivery[0]}{n}")
                    try:
                        found = _live_max(
                            bootstrap,
                            _scored(
                                _delivered(
                                    _settings(bootstrap, live_topics, jars, work, model, **flink), delivery
                                ),
                                sources[-1],  # with both: as deployed, the rate both runs take half of
                            ),
                            LIVE_START * on_stream,
                        )
                    finally:
                        _drop_topics(bootstrap, list(live_topics.values()))
                    run_max, live_steps = found["max_eps"], found["steps"]
                    print(f"live maximum before {delivery} run {n + 1}: {run_max:,.0f} ev/s ({live_steps})")
                    rate = run_max / 2
                cases = [  # each source first in every other run: neither always gets the fresher minute
                    (name, variant, source)
                    for name, variant in variants.items()
                    for source in (sources[::-1] if n % 2 else sources)
                ]
                for name, variant, source in cases:
                    lat_topics = _topics(bootstrap, f"{run}l{delivery[0]}{n}{name}{source[0]}")
                    lat_settings = _scored(
                        _delivered(_settings(bootstrap, lat_topics, jars, work, model, **variant), delivery),
                        source,
                    )
                    measured = _latency(bootstrap, lat_settings, rate, args.latency_seconds)
                    measured["max_before_run_eps"] = None if run_max is None else round(run_max, 1)
                    measured["live_max_steps"] = live_steps
                    in_job, committed = measured["in_job"], measured["committed"]
                    label = name if source == sources[0] else f"{name}/{source}" if name else source
                    print(
                        f"{delivery} alerts{f' [{label}]' if label else ''}, run {n + 1},"
                        + (f" maximum just before {run_max:,.0f} ev/s," if run_max else "")
                        + f" at {measured['achieved_rate_eps']:.0f} ev/s: in-job p50"
                        f" {in_job.get('p50_ms')} ms p99 {in_job.get('p99_ms')} ms;"
                        f" {committed['count']} alerts"
                        f" a read_committed consumer receives p50 {committed.get('p50_ms')} ms"
                        f" p99 {committed.get('p99_ms')} ms; checkpoints end to end p50"
                        f" {measured['checkpoints']['end_to_end_ms']['p50']} ms"
                        f" max {measured['checkpoints']['end_to_end_ms']['max']} ms"
                    )
                    runs.setdefault((label, name, delivery), []).append(measured)
                    _drop_topics(bootstrap, list(lat_topics.values()))
        for (label, name, delivery), measured_runs in runs.items():
            (latency_variants.setdefault(label, {}) if label else latency)[delivery] = {
                "flink": variants[name],
                "in_job_over": measured_runs[0]["in_job_over"],
                "max_before_run_eps": [r["max_before_run_eps"] for r in measured_runs],
                "in_job_p99_ms": [r["in_job"].get("p99_ms") for r in measured_runs],
                "committed_p99_ms": [r["committed"].get("p99_ms") for r in measured_runs],
                "runs": measured_runs,
            }
        if backlog_topics:
            _drop_topics(bootstrap, list(backlog_topics.values()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import pyflink

    result = {
        "benchmark": "detector",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "pyflink": getattr(pyflink, "__version__", None) or _pyflink_version(),
        "jvm_args": os.environ.get("JVM_ARGS"),  # PyFlink passes them to the mini-cluster's JVM
        "detector_code": code,
        "mode": args.mode,
        "parallelism": 1,
        "bundle": {"size": args.bundle_size, "time_ms": args.bundle_time_ms},
        "buffer_timeout_ms": args.buffer_timeout_ms,
        "flink_options": flink["extra"],
        "classes": args.classes,
        "warm_up_events": args.warm_up_events or args.events,
        "changelog": args.changelog,
        "checkpoint_interval_s": 1,
        "events": args.events,
        "model": args.model,
        "rounds": [{k: round(v, 1) for k, v in r.items()} for r in rounds],
        "passthrough_eps": round(passthrough, 1),
        "passthrough_thread_eps": round(passthrough_thread, 1),
        "skeleton_ratio": None if skeleton_ratio is None else round(skeleton_ratio, 3),
        "detector_eps": round(detector, 1),
        "detector_latency_stream_eps": round(on_stream, 1),
        "latency_stream": {
            "events": args.events,
            "customers": LatencyStream(args.events).customers,
            "event_rate_eps": MAX_STREAM_EVENT_RATE,
        },
        "variants": {
            name: {
                "flink": variant,
                "detector_eps": round(statistics.median(r[f"detector[{name}]"] for r in rounds), 1),
                "ratio_vs_thread_passthrough": round(
                    statistics.median(r[f"detector[{name}]"] / r["passthrough_thread"] for r in rounds), 3
                ),
                "detector_latency_stream_eps": round(
                    statistics.median(r[f"detector[{name}].latency_stream"] for r in rounds), 1
                ),
            }
            for name, variant in named.items()
        },
        "ratio": round(ratio, 3),
        "ratio_vs_thread_passthrough": round(ratio_thread, 3),
        "ratio_vs_thread_passthrough_second_half": round(ratio_second_half, 3),
        "ratio_target": 0.6,
        "alert_delivery": args.alert_delivery,
        "latency_rate_from": "option" if args.latency_rate else args.latency_rate_from,
        "latency_from": args.latency_from,
        "latency_rate_eps": round(rate, 1) if args.latency_seconds > 0 and not (per_run or live) else None,
        "latency": latency,
        "latency_variants": latency_variants,
        "latency_target_p99_ms": {
            "in_job": 100,
            "committed_exactly_once": 1000 + 250,
            "committed_at_least_once": 100,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def _detector_code() -> dict[str, Any]:
    """Which detector code ran: a prebuilt jar (``$STREAMFLOW_DETECTOR_JAR``, by its digest), or this
    checkout's commit and whether its Java sources differed from it."""
    jar = os.environ.get("STREAMFLOW_DETECTOR_JAR")
    if jar:
        return {"jar": jar, "jar_sha256": hashlib.sha256(Path(jar).read_bytes()).hexdigest()}
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "java_sources_changed": bool(git("status", "--porcelain", "--", "jobs/flink/java")),
    }


def _pyflink_version() -> str:
    from importlib.metadata import version

    return version("apache-flink")


if __name__ == "__main__":
    main()
