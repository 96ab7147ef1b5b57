"""The local Kafka broker is real: transactions work and read_committed hides aborted records."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = pytest.mark.kafka


def _consume_all(bootstrap: str, topic: str, isolation: str, expected_min: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": isolation,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    idle = 0
    try:
        while idle < 6 or len(values) < expected_min:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                if idle > 30:
                    break
                continue
            if msg.error():
                continue
            idle = 0
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def test_read_committed_sees_committed_and_never_aborted(
    kafka_bootstrap: str, kafka_topic_factory: Any
) -> None:
    topic = kafka_topic_factory("txn")
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"}
    )
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, f"committed-{i}".encode())
    producer.commit_transaction(30)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)

    committed_view = _consume_all(kafka_bootstrap, topic, "read_committed", expected_min=5)
    assert sorted(committed_view) == [f"committed-{i}".encode() for i in range(5)]

    uncommitted_view = _consume_all(kafka_bootstrap, topic, "read_uncommitted", expected_min=10)
    assert {v for v in uncommitted_view if v.startswith(b"aborted")} == {
        f"aborted-{i}".encode() for i in range(5)
    }


def test_a_cluster_id_never_starts_with_a_dash_so_storage_tool_reads_it_as_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One id in 64 drawn naively starts with ``-``; StorageTool then failed with "expected one argument"."""
    from streamflow_dev import kafka

    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x12" + bytes(15))])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert cluster_id == "EgAAAAAAAAAAAAAAAAAAAA"
