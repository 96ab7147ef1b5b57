"""Helpers of the detector stream tests: a detector settings factory and a read_committed topic reader."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.settings import JobSettings, ModelSettings
from fraud_jobs.generator import GeneratedRecord
from fraud_jobs.replay import load_input, replay
from fraud_models.features import FEATURE_NAMES
from fraud_models.scorer import compile_model
from sklearn.ensemble import IsolationForest

ROLES = ("transactions", "alerts", "dlq", "labels", "control", "scores")


def forest_model(path: Path, seed: int, version: str, scale: float) -> ModelSettings:
    """A small IsolationForest trained on noise of ``scale``, compiled and saved at ``path``: the stream's
    features look more anomalous to a forest trained on small noise (seed 1, scale 1: ~5% over FR-006's
    0.6) than on wide noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, len(FEATURE_NAMES))) * scale
    forest = IsolationForest(n_estimators=20, random_state=seed).fit(X)
    model = compile_model(
        forest, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version=version
    )
    sha256 = model.save(path)
    return ModelSettings(name=version, version=version, uri=str(path), sha256=sha256)


def assert_scored_as_replayed(
    by_tx: dict[str, dict[str, Any]], valid: list[GeneratedRecord], config: DetectorConfig, work: Path
) -> list[Any]:
    """The stream decided every valid record exactly as the replay of the same records (labels stripped,
    since the stream saw none); returns the replayed score records."""
    stripped = work / "input.jsonl"
    stripped.write_text(
        "".join(json.dumps({**json.loads(r.payload), "is_fraud": None}) + "\n" for r in valid),
        encoding="utf-8",
    )
    replayed, _, _ = replay(load_input(stripped), config)
    for record in replayed:
        streamed = by_tx[record.transaction_id]
        assert streamed["rule_codes"] == list(record.rule_codes), record.transaction_id
        assert streamed["score"] == pytest.approx(record.score)
    return list(replayed)


def detector_settings(
    bootstrap: str, topics: dict[str, str], jars: str, checkpoint_dir: Path, **detector: Any
) -> JobSettings:
    tag = uuid.uuid4().hex[:8]
    return JobSettings.model_validate(
        {
            "pipeline": {"name": f"test-{tag}", "namespace": "tests"},
            "kafka": {
                "bootstrap_servers": bootstrap,
                "consumer_group": f"detector-{tag}",
                "transactional_id_prefix": f"detector-{tag}",
            },
            "topics": topics,
            "detector": detector,
            "checkpointing": {"interval_seconds": 1},
            "flink": {
                "jars": jars,
                "parallelism": 1,
                "starting_offsets": "earliest",
                "checkpoint_dir": checkpoint_dir.as_uri(),
                "state_backend": "rocksdb",
            },
        }
    )


class TopicReader:
    """Accumulates every message of one topic (from the beginning) as parsed JSON, in order."""

    def __init__(self, bootstrap: str, topic: str, *, committed: bool = True, partitions: int = 1) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed" if committed else "read_uncommitted",
            }
        )
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.records: list[dict[str, Any]] = []

    def poll(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            self.records.append(json.loads(msg.value()))
        return self.records

    def wait(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.poll())
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def close(self) -> None:
        self.consumer.close()


def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, value in enumerate(values):
        producer.produce(topic, value, key=keys[i] if keys else None)
    assert producer.flush(30) == 0


def tx(tx_id: str, customer: str, terminal: str, amount: float, when: datetime | None = None) -> bytes:
    """A v1 transaction at ``when`` (default: now)."""
    event_time = (when or datetime.now(UTC)).isoformat()
    record = {
        "transaction_id": tx_id,
        "customer_id": customer,
        "terminal_id": terminal,
        "amount": amount,
        "event_time": event_time,
    }
    return json.dumps(record).encode()


def raw_at(bootstrap: str, topic: str, partition: int, offset: int) -> bytes:
    """The exact bytes of one Kafka record (to check that a DLQ entry points at its origin)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:8]}"})
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        for _ in range(50):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                assert msg.offset() == offset
                value: bytes = msg.value()
                return value
        raise AssertionError(f"no record at {topic}/{partition}@{offset}")
    finally:
        consumer.close()


def latest_checkpoint(checkpoint_dir: Path, job_id: str) -> Path:
    """The newest completed (``_metadata`` written) retained checkpoint of a job."""
    done = [p for p in (checkpoint_dir / job_id).glob("chk-*") if (p / "_metadata").exists()]
    assert done, f"no completed checkpoint under {checkpoint_dir / job_id}"
    return max(done, key=lambda p: int(p.name.split("-")[1]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def job_metrics(port: int, job_id: str) -> dict[str, float]:
    """Every operator metric of a running job from the mini-cluster's REST API, summed over subtasks.

    Keys drop the subtask index: ``parse-transactions.events_in``, ``decide.rule.FR-001.alerts``.
    """

    def get(path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return json.loads(response.read())

    values: dict[str, float] = {}
    for vertex in get(f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        ids = [m["id"] for m in get(base) if "Kafka" not in m["id"] and "Source__" not in m["id"]]
        for i in range(0, len(ids), 40):
            for metric in get(f"{base}?get=" + urllib.parse.quote(",".join(ids[i : i + 40]))):
                try:
                    value = float(metric["value"])
                except ValueError:
                    continue
                key = metric["id"].split(".", 1)[1]
                values[key] = values.get(key, 0.0) + value
    return values
