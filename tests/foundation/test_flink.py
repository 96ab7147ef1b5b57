"""PyFlink 2.2 on the local mini-cluster with the real Kafka connector: a keyed job, checkpointing on."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = [pytest.mark.flink, pytest.mark.kafka]


def test_keyed_job_reads_kafka_and_writes_kafka_exactly_once(
    flink_env: Any, kafka_bootstrap: str, kafka_topic_factory: Any
) -> None:
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream import KeyedProcessFunction, RuntimeContext
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import (
        KafkaOffsetsInitializer,
        KafkaRecordSerializationSchema,
        KafkaSink,
        KafkaSource,
    )
    from pyflink.datastream.state import ValueStateDescriptor

    source_topic, sink_topic = kafka_topic_factory("in", partitions=2), kafka_topic_factory("out")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(30):
        producer.produce(source_topic, f"k{i % 3},{i}".encode())
    producer.flush(30)

    class RunningCount(KeyedProcessFunction):  # type: ignore[misc]
        """Counts per key in Flink keyed state, so the count is checkpointed state, not a Python dict."""

        def open(self, runtime_context: RuntimeContext) -> None:
            self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))

        def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Any:
            current = (self.count.value() or 0) + 1
            self.count.update(current)
            yield f"{value.split(',')[0]}:{current}"

    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(kafka_bootstrap)
        .set_topics(source_topic)
        .set_group_id(f"g-{uuid.uuid4().hex[:6]}")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(kafka_bootstrap)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(sink_topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .set_transactional_id_prefix(f"foundation-{uuid.uuid4().hex[:6]}")
        .set_property("transaction.timeout.ms", "60000")
        .build()
    )
    stream = flink_env.from_source(source, WatermarkStrategy.no_watermarks(), "transactions")
    (
        stream.key_by(lambda line: line.split(",")[0], key_type=Types.STRING())
        .process(RunningCount(), output_type=Types.STRING())
        .sink_to(sink)
    )
    flink_env.execute("foundation-keyed-kafka")

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([sink_topic])
    seen: list[str] = []
    idle = 0
    while len(seen) < 30 and idle < 30:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            idle += 1
            continue
        seen.append(msg.value().decode())
    consumer.close()
    assert len(seen) == 30
    for key in ("k0", "k1", "k2"):
        counts = sorted(int(v.split(":")[1]) for v in seen if v.startswith(f"{key}:"))
        assert counts == list(range(1, 11)), f"{key} counted {counts}"
