"""One detector job on the chaos stack: submitted like a FlinkDeployment, fed a generated stream around a
fault, watched through Flink's REST API and the consumer group's lag, and checked against the replay.

The stream: a first part of generated transactions plus five for one velocity customer, all scored and
covered by a completed checkpoint; then the rest, paced, while the fault happens, ending with that
customer's sixth transaction, which hits FR-002 (velocity) only if the five before the fault were
restored from the checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from fraud_jobs.flink.settings import DatabaseSettings, JobSettings
from fraud_jobs.generator import GeneratedRecord, generate
from fraud_jobs.logic import customer_step, terminal_step
from fraud_jobs.schemas import Transaction
from fraud_operator.db.migrations import migrate

from tests.chaos.results import Run
from tests.chaos.stack import ChaosStack, samples
from tests.conftest import wait_for
from tests.jobs.flink.streams import ROLES, TopicReader, assert_scored_as_replayed, detector_settings, tx

__all__ = ["JobRun"]

DSN_ENV = "CHAOS_DETECTOR_PG_DSN"
GENERATED = 700
FIRST_PART = 0.6
PACE_PER_S = 80.0
HISTORY = 5
"""Velocity allows 5 transactions in 10 min (the default rule): the sixth hits FR-002."""


@dataclass(frozen=True)
class Checkpoint:
    """A completed checkpoint as the JobManager reports it (epoch seconds)."""

    id: int
    triggered: float
    completed: float


@dataclass
class JobRun:
    stack: ChaosStack
    work: Path
    seed: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.admin = AdminClient({"bootstrap.servers": self.stack.kafka.bootstrap})
        self.topics = {role: f"chaos-{role}-{self.tag}" for role in ROLES}
        futures = self.admin.create_topics(
            [NewTopic(t, 1, 1) for t in self.topics.values()], operation_timeout=30
        )
        for future in futures.values():
            future.result(timeout=30)
        self.database = f"chaos_{self.tag}"
        with psycopg.connect(self.stack.postgres.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.dsn = self.stack.database_dsn(self.database)
        migrate(self.dsn)
        gen = generate(GENERATED, seed=self.seed, malformed_ratio=0.02, days=6)
        # every 8th terminal blocklisted too: enough alerts (~10% of the events) to count exactly
        terminals = sorted({json.loads(r.payload)["terminal_id"] for r in gen.records if r.malformed is None})
        blocked = gen.control.blocklist_add
        blocklist = {"customers": list(blocked.customers), "terminals": [*blocked.terminals, *terminals[::8]]}
        settings = detector_settings(
            self.stack.proxied_bootstrap, self.topics, "", self.work / "checkpoints", blocklist=blocklist
        )
        self.settings: JobSettings = settings.model_copy(
            update={"database": DatabaseSettings(dsn_env=DSN_ENV)}
        ).with_flink(jars=None)
        split = int(GENERATED * FIRST_PART)
        start = datetime.now(UTC)
        customer, terminal = f"C-CHAOS-{self.tag}", f"T-CHAOS-{self.tag}"
        self.history = [
            _record(tx(f"vel-{self.tag}-{i}", customer, terminal, 20.0, start + timedelta(seconds=i)))
            for i in range(HISTORY)
        ]
        self.trigger = _record(
            tx(f"vel-{self.tag}-next", customer, terminal, 20.0, start + timedelta(seconds=30))
        )
        self.first = [*gen.records[:split], *self.history]
        self.second = [*gen.records[split:], self.trigger]
        self.job_id = ""
        self.fault_at = 0.0
        self.checkpoints: dict[int, Checkpoint] = {}
        self.sample_errors: list[str] = []
        self.prometheus: list[tuple[float, dict[str, str], float]] = []
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self.scores = TopicReader(self.stack.kafka.bootstrap, self.topics["scores"])
        self.alerts = TopicReader(self.stack.kafka.bootstrap, self.topics["alerts"])
        self.dlq = TopicReader(self.stack.kafka.bootstrap, self.topics["dlq"])

    # ------------------------------------------------------------ job

    def submit(self) -> None:
        """``flink run -d -pym fraud_jobs.detector`` as the FlinkDeployment runs it; the database DSN comes
        from the environment the settings name."""
        cluster = self.stack.flink
        config = self.work / "detector.json"
        config.write_text(self.settings.model_dump_json(), encoding="utf-8")
        python = sys.executable
        result = subprocess.run(
            [str(cluster.home / "bin" / "flink"), "run", "-d", "-m", cluster.address,
             "-pyexec", python, "-pyclientexec", python,
             "-pym", "fraud_jobs.detector", "--config", str(config)],
            env={**cluster.env(), DSN_ENV: self.dsn}, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
        assert result.returncode == 0 and found, f"flink run failed:\n{result.stdout}\n{result.stderr}"
        self.job_id = found.group(1)
        wait_for(self._all_running, 120, what="every task of the job RUNNING")
        self._sampler = threading.Thread(target=self._sample, name=f"sampler-{self.tag}", daemon=True)
        self._sampler.start()

    def _all_running(self) -> bool:
        job = self.stack.flink.rest(f"/jobs/{self.job_id}")
        if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise AssertionError(f"job {self.job_id} is {job['state']}")
        return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])

    def _sample(self) -> None:
        """Every 0.25 s: the completed checkpoints (the REST API keeps only the last 10) and, every
        second, the JobManager's numRestarts as its Prometheus reporter exposes it."""
        last_scrape = 0.0
        while not self._stop.is_set():
            now = time.time()
            try:
                self._record_checkpoints()
            except Exception as exc:  # the JobManager answers again in a moment
                self.sample_errors.append(f"{type(exc).__name__}: {exc}")
            if now - last_scrape >= 1.0:
                last_scrape = now
                for labels, value in samples(self.stack.prometheus(), "flink_jobmanager_job_numRestarts"):
                    if labels.get("job_id") == self.job_id:
                        self.prometheus.append((now, labels, value))
            self._stop.wait(0.25)

    def _record_checkpoints(self) -> None:
        history = self.stack.flink.rest(f"/jobs/{self.job_id}/checkpoints", timeout=5).get("history") or []
        for entry in history:
            if entry.get("status") == "COMPLETED" and entry["id"] not in self.checkpoints:
                self.checkpoints[entry["id"]] = Checkpoint(
                    entry["id"], entry["trigger_timestamp"] / 1000, entry["latest_ack_timestamp"] / 1000
                )

    def failovers(self, since: float) -> list[float]:
        """When the JobManager failed the job over after ``since`` (its exception history, one entry per
        failover, concurrent task failures grouped), oldest first."""
        answer = self.stack.flink.rest(f"/jobs/{self.job_id}/exceptions?maxExceptions=100")
        stamps = [e["timestamp"] / 1000 for e in answer["exceptionHistory"]["entries"]]
        return sorted(t for t in stamps if t >= since)

    def checkpoint_after(self, moment: float, timeout: float = 60) -> None:
        """Until a checkpoint triggered after ``moment`` (epoch s) has completed."""
        wait_for(
            lambda: any(c.triggered > moment for c in list(self.checkpoints.values())),
            timeout,
            what="a checkpoint after the history was scored",
        )

    def cancel(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=10)
        if self.job_id:
            with contextlib.suppress(Exception):  # already ended: nothing to cancel
                self.stack.flink.rest(f"/jobs/{self.job_id}?mode=cancel", method="PATCH")
        for reader in (self.scores, self.alerts, self.dlq):
            reader.close()

    # ------------------------------------------------------------ stream

    def produce(self, records: list[GeneratedRecord], per_second: float | None = None) -> None:
        producer = Producer(
            {"bootstrap.servers": self.stack.kafka.bootstrap, "enable.idempotence": True, "linger.ms": 5}
        )
        for i, record in enumerate(records):
            producer.produce(self.topics["transactions"], record.payload, key=record.key)
            producer.poll(0)
            if per_second:
                time.sleep(1.0 / per_second)
            if i % 50 == 0:
                producer.flush(0)
        assert producer.flush(300) == 0, "records unacknowledged by the broker"

    def produce_in_background(self, records: list[GeneratedRecord]) -> threading.Thread:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.produce(records, PACE_PER_S)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run, name=f"producer-{self.tag}", daemon=True)
        thread.start()
        thread.errors = errors  # type: ignore[attr-defined]
        return thread

    def valid(self, records: list[GeneratedRecord]) -> set[str]:
        return {json.loads(r.payload)["transaction_id"] for r in records if r.malformed is None}

    def wait_scored(self, ids: set[str], timeout: float) -> None:
        self.scores.wait(lambda s: ids <= {x["transaction_id"] for x in s}, timeout, f"{len(ids)} scores")

    def lag(self) -> int | None:
        """End offset of the transactions topic minus the job's committed offset (None: unknown yet)."""
        topic = self.topics["transactions"]
        try:
            group = self.settings.kafka.consumer_group
            from confluent_kafka import ConsumerGroupTopicPartitions

            answer = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])], request_timeout=5
            )
            committed = answer[group].result(timeout=10).topic_partitions[0].offset
            probe = Consumer({"bootstrap.servers": self.stack.kafka.bootstrap, "group.id": f"lag-{self.tag}"})
            try:
                _, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
            finally:
                probe.close()
        except Exception:
            return None
        return None if committed < 0 else int(high - committed)

    def wait_caught_up(self, timeout: float) -> float:
        """Until lag is 0 and every valid record is scored in a committed transaction; when that was."""
        expected = self.valid(self.first) | self.valid(self.second)
        deadline = time.monotonic() + timeout
        while True:
            scored = {x["transaction_id"] for x in self.scores.poll(0.5)}
            if expected <= scored and self.lag() == 0:
                return time.time()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not caught up after {timeout:.0f}s: lag {self.lag()},"
                    f" {len(expected - scored)} unscored; job {self._state_now()}"
                )

    def _state_now(self) -> str:
        try:
            state = self.stack.flink.rest(f"/jobs/{self.job_id}")["state"]
            entries = self.stack.flink.rest(f"/jobs/{self.job_id}/exceptions")["exceptionHistory"]["entries"]
            return f"{state}; last exception: {entries[0]['stacktrace'][:1500] if entries else None}"
        except Exception as exc:
            return f"unknown ({exc})"

    # ------------------------------------------------------------ timings

    def timings(self, run: Run, fault_at: float, repaired_at: float, caught_up_at: float) -> None:
        """The run's figures from the JobManager's own timestamps (failovers, job state changes,
        checkpoints), not from when this process happened to poll."""
        failovers = self.failovers(fault_at)
        run.restarts = len(failovers)
        run.detect_s = round(failovers[0] - fault_at, 2) if failovers else None
        job = self.stack.flink.rest(f"/jobs/{self.job_id}")
        running_since = job["timestamps"]["RUNNING"] / 1000  # when it last entered RUNNING
        back_from = max(repaired_at, running_since)

        def recovered() -> list[float]:
            self._record_checkpoints()  # the sampler may not have seen the latest yet
            return sorted(c.completed for c in list(self.checkpoints.values()) if c.triggered > back_from)

        # caught up means offsets were committed, which only a checkpoint completed after the restart does
        run.recover_s = round(
            wait_for(recovered, 30, what="a checkpoint after the recovery")[0] - fault_at, 2
        )
        run.catch_up_s = round(caught_up_at - fault_at, 2)
        run.outage_s = round(repaired_at - fault_at, 2)

    # ------------------------------------------------------------ the exactly-once check

    def check_exactly_once(self, run: Run) -> None:
        """Scores, committed alerts and alert rows equal the replay of the same stream, each exactly once;
        the velocity customer's sixth transaction hit FR-002 from the restored state."""
        records = [*self.first, *self.second]
        valid = [r for r in records if r.malformed is None]
        scores = self.scores.poll(2)
        counted = Counter(s["transaction_id"] for s in scores)
        expected = self.valid(records)
        by_tx = {s["transaction_id"]: s for s in scores}
        replayed = assert_scored_as_replayed(by_tx, valid, self.settings.detector, self.work)
        should_alert = {r.transaction_id for r in replayed if r.alert}
        self.alerts.wait(
            lambda a: should_alert <= {x["transaction_id"] for x in a}, 60, "every alert committed"
        )
        alerts = Counter(a["alert_id"] for a in self.alerts.poll(2))
        alerted_tx = {a["transaction_id"] for a in self.alerts.records}
        with psycopg.connect(self.dsn) as conn:
            rows = Counter(r[0] for r in conn.execute("SELECT transaction_id FROM gold.fact_fraud_alerts"))
        run.events = len(records)
        run.alerts = len(should_alert)
        run.lost = (
            len(expected - set(counted)) + len(should_alert - alerted_tx) + len(should_alert - set(rows))
        )
        run.duplicated = (
            sum(c - 1 for c in counted.values())
            + sum(c - 1 for c in alerts.values())
            + sum(c - 1 for c in rows.values())
        )
        assert set(counted) == expected, f"scores lost: {sorted(expected - set(counted))[:10]}"
        assert max(counted.values()) == 1, (
            f"scores duplicated: {[k for k, c in counted.items() if c > 1][:10]}"
        )
        assert alerted_tx == should_alert, (
            sorted(should_alert - alerted_tx)[:10],
            sorted(alerted_tx - should_alert)[:10],
        )
        assert max(alerts.values()) == 1, f"alerts duplicated: {[k for k, c in alerts.items() if c > 1][:10]}"
        assert set(rows) == should_alert and max(rows.values()) == 1, (
            f"PostgreSQL alert rows differ from the replay: missing {sorted(should_alert - set(rows))[:10]},"
            f" unexpected {sorted(set(rows) - should_alert)[:10]},"
            f" duplicated {[k for k, c in rows.items() if c > 1]}"
        )
        malformed = sum(r.malformed is not None for r in records)
        dead = self.dlq.wait(lambda d: len(d) >= malformed and d, 30, f"{malformed} DLQ records")
        assert len(dead) == malformed, f"{len(dead)} DLQ records for {malformed} malformed"
        trigger = by_tx[json.loads(self.trigger.payload)["transaction_id"]]
        assert "FR-002" in trigger["rule_codes"], f"velocity state not restored: {trigger}"
        assert "FR-002" not in _from_empty_state(self.trigger.payload, self.settings)


def _record(payload: bytes) -> GeneratedRecord:
    return GeneratedRecord(payload=payload, key=json.loads(payload)["customer_id"].encode())


def _from_empty_state(raw: bytes, settings: JobSettings) -> list[str]:
    """What the job decides for a transaction of a customer and terminal never seen (no restored state)."""
    txn = Transaction.model_validate_json(raw)
    _, enriched = terminal_step(None, txn, settings.detector)
    _, record, _ = customer_step(None, enriched, settings.detector, None, datetime.now(UTC))
    return list(record.rule_codes)


Fault = Callable[[ChaosStack], None]
