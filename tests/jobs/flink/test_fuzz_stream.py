"""Issue 4 "Bad input" on the real job: >= 10,000 malformed records through the detector on the local Flink
mini-cluster and the real Kafka broker, interleaved with valid transactions, plus bad labels and control
messages on their own topics.

Every malformed record must be in the DLQ exactly once, pointing at the partition and offset it was produced
at, with its reason; every valid transaction must be scored exactly once; the job must never restart. For the
last one the job runs with restarts switched off (``restart-strategy.type: none``, confirmed through the
mini-cluster's REST API): any task failure would then fail the job instead of being hidden by a restart and
an exactly-once replay, so a job that FINISHED ran as one attempt. The REST API also shows no exception and
``numRestarts`` 0 while it runs.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest
from confluent_kafka import KafkaError, Message, Producer
from fraud_jobs.flink.settings import CheckpointSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.generator import MALFORMATIONS, generate, malform
from fraud_jobs.schemas import DLQ_PAYLOAD_LIMIT, DeadLetterRecord, ErrorType

from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, free_port
from tests.jobs.test_fuzz import EXPECTED

pytestmark = [pytest.mark.flink, pytest.mark.kafka]

PER_KIND = 480  # x 21 generator kinds = 10,080, plus the tombstones
TOMBSTONES = 30
VALID = 2_000
TOMBSTONE = "kafka_tombstone"  # a record with a null value: only Kafka can send it, the generator cannot
EXPECTED_ON_STREAM = {**EXPECTED, TOMBSTONE: {ErrorType.INVALID_JSON}}
STAGES = {"parse", "validate"}
Record = tuple[bytes | None, bytes | None, str | None]
"""(value, key, malformed kind or None for a valid transaction)."""
Placed = dict[tuple[str, int, int], tuple[bytes | None, str | None]]
"""(topic, partition, offset) -> (value, kind) as acknowledged by the broker."""
_LABEL = {
    "transaction_id": "tx-1",
    "is_fraud": True,
    "confirmed_at": "2026-03-03T10:00:00Z",
    "terminal_id": "T1",
    "customer_id": "C1",
    "tx_event_time": "2026-03-02T10:00:00Z",
}


def _control(message_id: str, **fields: Any) -> bytes:
    return json.dumps({"message_id": message_id, "issued_at": "2026-03-02T10:00:00Z", **fields}).encode()


SIDE_INPUTS: Final = {
    "labels": [
        ("label_truncated", json.dumps(_LABEL).encode()[:30], {ErrorType.INVALID_JSON}, "parse"),
        ("label_latin1", b'{"customer_id": "M\xfcller"}', {ErrorType.INVALID_ENCODING}, "parse"),
        (
            "label_is_fraud_as_string",
            json.dumps({**_LABEL, "is_fraud": "yes"}).encode(),
            {ErrorType.WRONG_TYPE},
            "validate",
        ),
        (
            "label_confirmed_before_transaction",
            json.dumps({**_LABEL, "confirmed_at": "2026-03-01T10:00:00Z"}).encode(),
            {ErrorType.INVALID_VALUE},
            "validate",
        ),
    ],
    "control": [
        ("control_not_json", b"lower the threshold please", {ErrorType.INVALID_JSON}, "parse"),
        ("control_missing_issued_at", b'{"message_id": "m"}', {ErrorType.MISSING_FIELD}, "validate"),
        (
            "control_unknown_rule",
            _control("c-unknown", rules={"FR-999": {"weight": 0.1}}),
            {ErrorType.INVALID_VALUE},
            "process",
        ),
        (
            "control_out_of_range",
            _control("c-range", rules={"FR-002": {"max_count": 99}}),
            {ErrorType.INVALID_VALUE},
            "process",
        ),
    ],
}
"""Bad labels and control messages: parsed by their own functions, control ones also refused by the control
manager when they cannot be applied (stage ``process``)."""
SIDE_COPIES = 5


def _stream(seed: int) -> list[Record]:
    """(value, key, malformed kind or None) in a random interleaving; valid ones keep per-customer order."""
    rng = random.Random(seed)
    valid = generate(VALID, seed=seed, days=8).records
    bad: list[Record] = []
    for kind in sorted(MALFORMATIONS):
        for _ in range(PER_KIND):
            bad.append((malform(json.loads(rng.choice(valid).payload), rng, kind)[1], None, kind))
    bad.extend((None, b"tombstone", TOMBSTONE) for _ in range(TOMBSTONES))
    rng.shuffle(bad)
    slots = sorted(rng.sample(range(len(valid) + len(bad)), len(valid)))  # where the valid ones go
    out: list[Record] = []
    vi = bi = 0
    for i in range(len(valid) + len(bad)):
        if vi < len(slots) and slots[vi] == i:
            out.append((valid[vi].payload, valid[vi].key, None))
            vi += 1
        else:
            out.append(bad[bi])
            bi += 1
    return out


def _produce(bootstrap: str, topic: str, stream: list[Record]) -> Placed:
    """Produce in order; returns where the broker put each record."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 20,
            "message.max.bytes": 2**20,
        }
    )
    placed: Placed = {}
    failures: list[str] = []

    def delivered(value: bytes | None, kind: str | None) -> Any:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                placed[(topic, msg.partition(), msg.offset())] = (value, kind)

        return on_delivery

    for value, key, kind in stream:
        while True:
            try:
                producer.produce(topic, value, key=key, on_delivery=delivered(value, kind))
                break
            except BufferError:
                producer.poll(0.2)
        producer.poll(0)
    assert producer.flush(60) == 0 and not failures, failures[:3]
    assert len(placed) == len(stream)
    return placed


def _rest(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _watch(client: Any, port: int, timeout: float) -> dict[str, Any]:
    """Poll the running job's REST API until its result is in: restart strategy, restarts, exceptions.

    Returns what was seen; raises (through the job result) if the job failed or was cancelled.
    """
    job_id = str(client.get_job_id())
    result = client.get_job_execution_result()  # the mini-cluster shuts down with the job; this stays
    seen: dict[str, Any] = {"restart_strategy": None, "restarts": [], "exceptions": [], "polls": 0}
    deadline = time.monotonic() + timeout
    while not result.done():
        if time.monotonic() > deadline:
            raise AssertionError(f"the bounded job did not finish within {timeout:.0f}s")
        try:
            if seen["restart_strategy"] is None:
                config = _rest(port, f"/jobs/{job_id}/config")
                seen["restart_strategy"] = config["execution-config"]["restart-strategy"]
            for metric in _rest(port, f"/jobs/{job_id}/metrics?get=numRestarts"):  # [] until fetched
                seen["restarts"].append(float(metric["value"]))
            history = _rest(port, f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
            seen["exceptions"].extend(e.get("exceptionName", "?") for e in history)
            seen["polls"] += 1
        except OSError:
            pass  # the REST endpoint is not up yet, or already shut down with the finished job
        time.sleep(0.5)
    result.result()  # raises if the job failed: with restarts off, any task failure ends here
    return seen


def test_ten_thousand_malformed_records_reach_the_dlq_and_every_valid_one_is_scored(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, tmp_path: Path
) -> None:
    topics = {
        role: kafka_topic_factory(role, partitions=2 if role == "transactions" else 1) for role in ROLES
    }
    stream = _stream(seed=41)
    placed = _produce(kafka_bootstrap, topics["transactions"], stream)
    malformed = {at: value_kind for at, value_kind in placed.items() if value_kind[1] is not None}
    valid_ids = Counter(json.loads(v or b"")["transaction_id"] for v, kind in placed.values() if kind is None)
    assert len(malformed) >= 10_000 and len(valid_ids) == VALID
    assert {kind for _, kind in malformed.values()} == set(EXPECTED_ON_STREAM)
    assert any(v is not None and len(v) > DLQ_PAYLOAD_LIMIT for v, _ in malformed.values())
    expected, stages = dict(EXPECTED_ON_STREAM), dict.fromkeys(EXPECTED_ON_STREAM, STAGES)
    for role, cases in SIDE_INPUTS.items():
        side: list[Record] = []
        for kind, value, errors, stage in cases:
            expected[kind], stages[kind] = errors, {stage}
            side += [(value.replace(b'"c-', f'"c{i}-'.encode()), None, kind) for i in range(SIDE_COPIES)]
        malformed.update(_produce(kafka_bootstrap, topics[role], side))

    port = free_port()
    settings = detector_settings(kafka_bootstrap, topics, flink_jars, tmp_path / "checkpoints")
    settings = settings.model_copy(update={"checkpointing": CheckpointSettings(interval_seconds=2)})
    settings = settings.with_flink(
        bounded=True,
        state_backend="hashmap",  # nothing here needs RocksDB; fewer cycles on the shared cores
        extra={
            "restart-strategy.type": "none",
            "rest.port": str(port),
            "metrics.fetcher.update-interval": "1000",
        },
    )
    client = build(settings, environ={}).execute_async(settings.job_name)
    watched = _watch(client, port, timeout=240)
    assert watched["polls"] > 0, "the job's REST API never answered"
    assert watched["restart_strategy"] == "Restart deactivated.", watched
    assert watched["restarts"] and set(watched["restarts"]) == {0.0}, watched  # numRestarts read, always 0
    assert watched["exceptions"] == [], watched

    # --- every malformed record in the DLQ exactly once, at the offset it was produced at, with its reason
    dlq = TopicReader(kafka_bootstrap, topics["dlq"])
    dead = dlq.wait(lambda d: len(d) >= len(malformed) and d, 120, f"{len(malformed)} DLQ records")
    dlq.poll(2)  # the job is finished and committed: anything more now would be a duplicate
    at = Counter((d["source_topic"], d["source_partition"], d["source_offset"]) for d in dlq.records)
    assert [k for k, n in at.items() if n > 1] == [], "DLQ duplicates"
    missing, extra = set(malformed) - set(at), set(at) - set(malformed)
    assert not missing and not extra, f"{len(missing)} missing from the DLQ, {len(extra)} not malformed"
    by_kind: Counter[str] = Counter()
    for entry in dead:
        record = DeadLetterRecord.model_validate(entry)
        assert record.source_topic is not None
        value, kind = malformed[(record.source_topic, record.source_partition, record.source_offset)]
        assert kind is not None
        raw = value or b""
        where = f"{kind} at {record.source_topic}/{record.source_partition}@{record.source_offset}"
        assert record.error_type in expected[kind], (where, record.error_type, record.error_message)
        assert record.error_message.strip(), where
        assert record.stage.value in stages[kind], where
        kept = record.original_bytes()
        if record.stage.value == "process":  # the control manager names the parsed message, re-serialised
            assert json.loads(kept)["message_id"] == json.loads(raw)["message_id"], where
            by_kind[kind] += 1
            continue
        assert len(kept) <= DLQ_PAYLOAD_LIMIT and raw.startswith(kept), where
        assert record.payload_size == len(raw), where
        assert record.payload_truncated == (len(raw) > DLQ_PAYLOAD_LIMIT), where
        if len(raw) <= DLQ_PAYLOAD_LIMIT:
            assert kept == raw, where
        else:
            assert len(kept) > DLQ_PAYLOAD_LIMIT - 4, where  # cut at 10 KB (on a character boundary)
        by_kind[kind] += 1
    assert by_kind == Counter(kind for _, kind in malformed.values())

    # --- every valid transaction scored exactly once
    scores = TopicReader(kafka_bootstrap, topics["scores"])
    scores.wait(lambda s: len(s) >= VALID, 120, f"{VALID} score records")
    scored = Counter(s["transaction_id"] for s in scores.poll(2))
    assert scored == valid_ids
    assert all(0.0 <= s["score"] <= 1.0 for s in scores.records)
    for reader in (dlq, scores):
        reader.close()
