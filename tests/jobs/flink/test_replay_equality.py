"""The stream decides every event exactly as ``streamflow replay`` does (issue #17's equality target).

52,000 generated records (v1 and v2, geo, every fraud pattern, 1% malformed) with the rules and a model,
in two phases on the local Flink mini-cluster with the real Kafka broker: phase A, then the labels of
phase A, then a live control message, then phase B. The phases make the interleaving deterministic: the
labels and the control message are applied (the stages' metrics say so) before phase B is produced, and
phase B starts one label delay after phase A ends, so the replay delivers phase A's labels and applies the
control message at the same place. Every score record, alert and dead letter is compared with the replay.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.generator import generate
from fraud_jobs.replay import load_input, replay
from fraud_jobs.schemas import BlocklistPatch, ControlMessage, DeadLetterRecord, parse_transaction
from fraud_models.combiner import Combiner
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.scorer import compile_model, load_model
from fraud_models.training import make_estimator

from tests.conftest import wait_for
from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, free_port, job_metrics, produce

pytestmark = [pytest.mark.flink, pytest.mark.kafka]

RECORDS = 52_000
SPLIT_DAYS = 6
DELAY = timedelta(days=7)
COMBINER = Combiner(-1.0, 0.8, {"FR-001": 1.2, "FR-002": 0.9, "FR-007": 0.6})


def _model(work: Path) -> dict[str, Any]:
    """A small boosted model whose score rises with the amount's deviation and the terminal's risk, so
    that FR-006 fires on some transactions and not on others, with a learned combiner: FR-001, FR-002 and
    FR-007 learned, the other rules' weights kept as floors (so both paths of the combination run)."""
    rng = np.random.default_rng(17)
    x = rng.normal(size=(4000, len(FEATURE_NAMES)))
    signal = sum(
        x[:, FEATURE_NAMES.index(n)]
        for n in ("amount", "customer_amount_zscore_30d", "terminal_risk_7d", "customer_nb_tx_1h")
    )
    y = (signal + rng.normal(scale=0.7, size=len(x)) > 1.5).astype(int)
    estimator = make_estimator("hist_gradient_boosting", {"max_iter": 40}).fit(x, y)
    model = compile_model(
        estimator, algorithm="hist_gradient_boosting", columns=list(range(len(FEATURE_NAMES))), version="eq-1"
    ).with_combiner(COMBINER)
    path = work / "model.npz"
    sha256 = model.save(path)
    return {"version": "eq-1", "uri": path.as_uri(), "sha256": sha256}


def _shifted(payload: bytes, by: timedelta) -> bytes:
    record = json.loads(payload)
    when = datetime.fromisoformat(record["event_time"]) + by
    record["event_time"] = when.isoformat()
    return json.dumps(record).encode()


def _confirmed_fraud(record: dict[str, Any]) -> bool:
    """The analysts' verdict: the generator's frauds, and one transaction in 400 more (the generator injects
    its frauds late in the stream, so without these phase A would confirm none and FR-007 never fire)."""
    return bool(record["is_fraud"]) or zlib.crc32(record["transaction_id"].encode()) % 400 == 0


def _label(record: dict[str, Any]) -> bytes:
    when = datetime.fromisoformat(record["event_time"])
    return json.dumps(
        {
            "transaction_id": record["transaction_id"],
            "is_fraud": _confirmed_fraud(record),
            "confirmed_at": (when + DELAY).isoformat(),
            "terminal_id": record["terminal_id"],
            "customer_id": record["customer_id"],
            "tx_event_time": when.isoformat(),
        }
    ).encode()


def _wait_metric(port: int, job_id: str, name: str, at_least: int) -> None:
    def reached() -> bool:
        return job_metrics(port, job_id).get(name, 0) >= at_least

    wait_for(reached, timeout=120, interval=1, what=f"{name} >= {at_least}")


def test_the_stream_decides_every_event_as_replay(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, tmp_path: Path
) -> None:
    gen = generate(RECORDS, seed=23, malformed_ratio=0.01, days=2 * SPLIT_DAYS)
    start = min(
        datetime.fromisoformat(json.loads(r.payload)["event_time"])
        for r in gen.records
        if r.malformed is None
    )
    split = start + timedelta(days=SPLIT_DAYS)
    valid_a: list[bytes] = []
    valid_b: list[bytes] = []
    malformed: list[bytes] = []
    phase_a: list[bytes] = []
    phase_b: list[bytes] = []
    labels: list[bytes] = []
    current = phase_a
    for rec in gen.records:
        if rec.malformed is not None:
            current.append(rec.payload)
            malformed.append(rec.payload)
            continue
        record = json.loads(rec.payload)
        if datetime.fromisoformat(record["event_time"]) < split and current is phase_a:
            phase_a.append(rec.payload)
            valid_a.append(rec.payload)
            labels.append(_label(record))
        else:
            current = phase_b
            shifted = _shifted(rec.payload, DELAY)  # phase A's labels are all delivered before it
            phase_b.append(shifted)
            valid_b.append(shifted)
    assert len(valid_a) > 20_000 and len(valid_b) > 20_000 and len(malformed) > 400

    topics = {role: kafka_topic_factory(role, partitions=1) for role in ROLES}
    model = _model(tmp_path)
    scorer = load_model(model["uri"], expected_sha256=model["sha256"], expected_schema_id=FEATURE_SCHEMA_ID)
    # FR-006 fires on the top 5% of this model's scores over phase A (the model is trained on noise)
    probe = tmp_path / "probe.jsonl"
    probe.write_text("".join(p.decode() + "\n" for p in valid_a), encoding="utf-8")
    probed, _, _ = replay(load_input(probe), DetectorConfig(), scorer)
    anomaly = float(np.floor(np.quantile([r.ml_score for r in probed], 0.95) * 1e4) / 1e4)
    blocked = gen.control.blocklist_add
    settings = detector_settings(
        kafka_bootstrap,
        topics,
        flink_jars,
        tmp_path / "checkpoints",
        blocklist={"customers": list(blocked.customers), "terminals": list(blocked.terminals)},
        anomaly={"threshold": anomaly},
    )
    port = free_port()
    settings = JobSettings.model_validate(settings.model_dump() | {"model": model}).with_flink(
        extra={"rest.port": str(port), "metrics.fetcher.update-interval": "500"}
    )
    first_b = min(datetime.fromisoformat(json.loads(p)["event_time"]) for p in valid_b)
    terminal_b = json.loads(valid_b[0])["terminal_id"]
    control = ControlMessage(
        message_id="equality-1",
        issued_at=datetime.now(UTC),
        rules={"FR-002": {"max_count": 3}, "FR-001": {"z_threshold": 3.0}},
        alert_threshold=0.45,
        blocklist_add=BlocklistPatch(terminals=(terminal_b,)),
    )

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    dlq = TopicReader(kafka_bootstrap, topics["dlq"])
    produce(kafka_bootstrap, topics["transactions"], phase_a)
    job = build(settings).execute_async(settings.job_name)
    job_id = str(job.get_job_id())
    try:
        scores.wait(lambda s: len(s) >= len(valid_a), 600, f"{len(valid_a)} phase-A score records")
        produce(kafka_bootstrap, topics["labels"], labels)
        _wait_metric(port, job_id, "terminal-stage.labels_applied", len(labels))
        _wait_metric(port, job_id, "customer-stage.labels_applied", len(labels))
        produce(kafka_bootstrap, topics["control"], [control.model_dump_json().encode()])
        _wait_metric(port, job_id, "terminal-stage.control_updates", 1)
        _wait_metric(port, job_id, "customer-stage.control_updates", 1)
        produce(kafka_bootstrap, topics["transactions"], phase_b)
        scores.wait(lambda s: len(s) >= len(valid_a) + len(valid_b), 600, "every score record")
        dead = dlq.wait(lambda d: len(d) >= len(malformed) and d, 60, "every dead letter")
        streamed_alerts = alerts.poll(3)
    finally:
        job.cancel()
        for reader in (scores, alerts, dlq):
            reader.close()

    # --- the replay of the same records, labels and control message
    lines = [json.dumps({**json.loads(p), "is_fraud": _confirmed_fraud(json.loads(p))}) for p in valid_a] + [
        json.dumps({**json.loads(p), "is_fraud": None})
        for p in valid_b  # never delivered in the stream
    ]
    source = tmp_path / "input.jsonl"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    cfg: DetectorConfig = settings.detector
    replay_alerts = StringIO()
    records, _, summary = replay(
        load_input(source),
        cfg,
        scorer,
        replay_alerts,
        controls=[(first_b, control)],
    )
    assert summary.labels_delivered == len(labels)

    by_tx = {s["transaction_id"]: s for s in scores.records}
    assert len(by_tx) == len(scores.records) == len(records) == len(valid_a) + len(valid_b)
    for record in records:
        streamed = by_tx[record.transaction_id]
        assert streamed["rule_codes"] == list(record.rule_codes), record.transaction_id
        assert streamed["alert"] == record.alert, record.transaction_id
        assert record.ml_score is not None and streamed["ml_score"] is not None
        # bit for bit: both score batches with fraud_jobs.scoring.score_rows (other batches, the same bits)
        assert (streamed["ml_score"], streamed["score"], streamed["rule_score"]) == (
            record.ml_score,
            record.score,
            record.rule_score,
        ), record.transaction_id
    # the learned combination decided (the fixed blend would give alpha * ml_score without hits)
    plain = [r for r in records if not r.rule_codes]
    assert plain and all(r.score == COMBINER.score(r.ml_score or 0.0, []) for r in plain)
    codes = Counter(c for r in records for c in r.rule_codes)
    assert {"FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "FR-006", "FR-007"} <= set(codes), codes

    expected_alerts = {a["transaction_id"]: a for a in map(json.loads, replay_alerts.getvalue().splitlines())}
    got_alerts = {a["transaction_id"]: a for a in streamed_alerts}
    assert set(got_alerts) == set(expected_alerts) and len(got_alerts) == len(streamed_alerts)
    for tx_id, alert in expected_alerts.items():
        got = got_alerts[tx_id]
        assert got["alert_id"] == alert["alert_id"]
        assert [(h["code"], h["reason"], h["weight"]) for h in got["rule_hits"]] == [
            (h["code"], h["reason"], h["weight"]) for h in alert["rule_hits"]
        ], tx_id
        assert got["event_time"] == alert["event_time"]

    # every malformed record dead-lettered with the Python parser's own reason
    expected_dead = Counter(
        (d.error_type.value, d.error_message)
        for d in (parse_transaction(p) for p in malformed)
        if isinstance(d, DeadLetterRecord)
    )
    assert sum(expected_dead.values()) == len(malformed)
    assert Counter((d["error_type"], d["error_message"]) for d in dead) == expected_dead
    print(
        f"\n{len(records)} transactions, {len(labels)} labels, {len(dead)} dead letters, "
        f"{len(got_alerts)} alerts: identical decisions and scores"
    )
