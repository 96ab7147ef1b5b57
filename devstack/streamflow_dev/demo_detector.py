"""The detector half of ``streamflow demo``: the real job, the generator, and a summary of what came out.

The job runs on the local Flink mini-cluster with the configuration the operator rendered into its
ConfigMap, reading the real Kafka topics the operator created; alerts are read back with read_committed,
as any downstream consumer of the exactly-once sinks must.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from fraud_jobs.schemas import Source, Transaction, parse_transaction

from . import stack

__all__ = ["DetectorSummary", "run_detector_demo"]

TRANSACTIONS = 4000
MALFORMED_RATIO = 0.02


class DetectorSummary:
    """What the demo read back from the alerts, DLQ and transactions topics."""

    def __init__(self) -> None:
        self.produced: dict[str, int] = {}  # transaction id -> Kafka timestamp (ms) of the input record
        self.alert_latency_ms: list[int] = []
        self.alerts_by_rule: Counter[str] = Counter()
        self.alerts = 0
        self.dlq_by_error: Counter[str] = Counter()
        self.probes = 1  # the malformed record sent to see the job run; its dead letter is not counted

    def percentile(self, q: float) -> float:
        values = sorted(self.alert_latency_ms)
        if not values:
            return float("nan")
        return float(values[min(len(values) - 1, int(q * len(values)))])

    def lines(self, events: int) -> list[str]:
        rules = ", ".join(f"{code} {n}" for code, n in sorted(self.alerts_by_rule.items()))
        errors = ", ".join(f"{kind} {n}" for kind, n in self.dlq_by_error.most_common())
        return [
            f"events produced:  {events} (plus {self.probes} probe record)",
            f"alerts:           {self.alerts} (rule hits: {rules})",
            f"dead letters:     {sum(self.dlq_by_error.values())} ({errors}; the probe's included)",
            f"produce-to-committed-alert latency: p50 {self.percentile(0.5):.0f} ms, "
            f"p99 {self.percentile(0.99):.0f} ms (includes the 1 s checkpoint that commits the transaction)",
        ]


def _consume(
    bootstrap: str, topics: list[str], summary: DetectorSummary, quiet_s: float, limit_s: float
) -> None:
    """Read the topics from the start until nothing new arrived for ``quiet_s`` (after the first alert)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    started = last = time.monotonic()
    try:
        while time.monotonic() - started < limit_s:
            msg = consumer.poll(1.0)
            now = time.monotonic()
            if msg is None or msg.error():
                if summary.alerts and now - last > quiet_s:
                    return
                continue
            last = now
            _record(msg.topic() or "", msg.value() or b"", msg.timestamp()[1], summary)
    finally:
        consumer.close()


def _record(topic: str, value: bytes, timestamp_ms: int, summary: DetectorSummary) -> None:
    if topic.endswith(".transactions"):
        # the job's own parser decides what is an event (a malformed record is counted from the DLQ)
        parsed = parse_transaction(value, Source(topic, 0, 0))
        if isinstance(parsed, Transaction):
            summary.produced[parsed.transaction_id] = timestamp_ms
        return
    try:
        doc: Any = json.loads(value)
    except (ValueError, RecursionError):  # RecursionError: JSON nested past the parser's depth limit
        return
    if not isinstance(doc, dict):
        return
    if topic.endswith(".alerts"):
        summary.alerts += 1
        for hit in doc.get("rule_hits") or []:
            summary.alerts_by_rule[str(hit.get("code"))] += 1
        produced = summary.produced.get(str(doc.get("transaction_id")))
        if produced is not None:
            summary.alert_latency_ms.append(timestamp_ms - produced)
    elif topic.endswith(".dlq"):
        summary.dlq_by_error[str(doc.get("error_type"))] += 1


def _wait_until_running(
    bootstrap: str, topics: dict[str, str], job: subprocess.Popen[bytes], log: str
) -> None:
    """Send one malformed probe record and wait for its dead letter: the job then runs end to end."""
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topics["transactions"], b"{probe: not json")
    producer.flush(30)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-probe-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topics["dlq"]])
    started = time.monotonic()
    try:
        while time.monotonic() - started < 300:
            if job.poll() is not None:
                raise RuntimeError(f"the detector job exited with {job.returncode}; see {log}")
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                waited = time.monotonic() - started
                print(f"the job runs end to end: the probe's dead letter arrived after {waited:.0f} s")
                return
    finally:
        consumer.close()
    raise RuntimeError(f"the detector job did not process a record within 300 s; see {log}")


def run_detector_demo(
    work: Path, config: Path, info: stack.StackInfo, env: dict[str, str]
) -> DetectorSummary:
    """Run the job with ``config``, stream generated transactions through it, and print a summary."""
    assert info.kafka_bootstrap
    settings = json.loads(config.read_text())
    topics = settings["topics"]
    bootstrap = info.kafka_bootstrap
    log = (work / "job.log").open("w")
    argv = [sys.executable, "-m", "streamflow_cli", "job", "run", "--config", str(config)]
    argv += ["--bootstrap", bootstrap, "--no-database", "--checkpoint-dir", (work / "checkpoints").as_uri()]
    print(f"$ streamflow job run --config {config.name} --bootstrap {bootstrap}   (log: {log.name})")
    job = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    summary = DetectorSummary()
    try:
        _wait_until_running(bootstrap, topics, job, log.name)
        gen = [sys.executable, "-m", "streamflow_cli", "generate", "--count", str(TRANSACTIONS)]
        gen += ["--topic", topics["transactions"], "--bootstrap", bootstrap, "--seed", "3"]
        gen += ["--malformed-ratio", str(MALFORMED_RATIO), "--days", "10"]
        print(f"$ streamflow generate --count {TRANSACTIONS} --topic {topics['transactions']} "
              f"--malformed-ratio {MALFORMED_RATIO}")  # fmt: skip
        subprocess.run(gen, check=True, capture_output=True, timeout=300, env=env)
        wanted = [topics["transactions"], topics["alerts"], topics["dlq"]]
        _consume(bootstrap, wanted, summary, quiet_s=20.0, limit_s=420.0)
        if job.poll() is not None:
            raise RuntimeError(f"the detector job exited with {job.returncode}; see {log.name}")
    finally:
        job.terminate()
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
        log.close()
    print("\n".join(summary.lines(TRANSACTIONS)))
    if not summary.alerts:
        raise RuntimeError(f"no alerts came out of the detector; see {work / 'job.log'}")
    return summary
