"""The detector job on the local Flink mini-cluster with the real Kafka broker and PostgreSQL.

One job lifecycle carries every assertion (each Flink start costs 15-20 s): generated patterns and malformed
records, a live control change, a late label, stop-with-savepoint and restore, then a cancel and a restore
from the retained checkpoint, counting alerts with a read_committed consumer and in PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fraud_jobs.flink.lifecycle import stop_with_savepoint
from fraud_jobs.flink.settings import DatabaseSettings, JobSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.generator import PATTERN_RULE, generate
from fraud_jobs.schemas import ControlMessage, DeadLetterRecord
from fraud_operator.db.migrations import migrate

from tests.conftest import wait_for
from tests.jobs.flink.streams import (
    ROLES,
    TopicReader,
    assert_scored_as_replayed,
    detector_settings,
    free_port,
    job_metrics,
    latest_checkpoint,
    produce,
    raw_at,
    tx,
)

pytestmark = [pytest.mark.flink, pytest.mark.kafka, pytest.mark.postgres]

DSN_ENV = "DETECTOR_TEST_PG_DSN"


def _start(settings: JobSettings, dsn: str) -> Any:
    env = build(settings, environ={DSN_ENV: dsn})
    return env.execute_async(settings.job_name)


def _by_tx(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["transaction_id"]: r for r in records}


def _pg_alert_ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute("SELECT alert_id FROM gold.fact_fraud_alerts")]


def test_detector_job_end_to_end(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, postgres_dsn: str, tmp_path: Path
) -> None:
    migrate(postgres_dsn)
    topics = {
        role: kafka_topic_factory(role, partitions=2 if role == "transactions" else 1) for role in ROLES
    }
    gen = generate(900, seed=7, malformed_ratio=0.04, days=12)
    blocked = gen.control.blocklist_add
    checkpoints = tmp_path / "checkpoints"
    settings = detector_settings(
        kafka_bootstrap,
        topics,
        flink_jars,
        checkpoints,
        blocklist={"customers": list(blocked.customers), "terminals": list(blocked.terminals)},
    ).model_copy(update={"database": DatabaseSettings(dsn_env=DSN_ENV)})
    port = free_port()
    settings = settings.with_flink(extra={"rest.port": str(port), "metrics.fetcher.update-interval": "1000"})
    produce(
        kafka_bootstrap,
        topics["transactions"],
        [r.payload for r in gen.records],
        [r.key for r in gen.records],
    )
    valid = [r for r in gen.records if r.malformed is None]
    malformed = [r for r in gen.records if r.malformed is not None]
    assert malformed and any(json.loads(r.payload)["schema_version"] == 1 for r in valid)

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    dlq = TopicReader(kafka_bootstrap, topics["dlq"])
    job = _start(settings, postgres_dsn)

    # --- every valid record scored; every injected pattern alerted with its reason code; DLQ complete
    scores.wait(lambda s: len(s) >= len(valid), 180, f"{len(valid)} score records")
    by_tx = _by_tx(scores.records)
    assert set(by_tx) == {json.loads(r.payload)["transaction_id"] for r in valid}
    alerted = {a["transaction_id"]: a for a in alerts.poll(2)}
    for rec in valid:
        if rec.pattern is None:
            continue
        tx_id = json.loads(rec.payload)["transaction_id"]
        code = PATTERN_RULE[rec.pattern]
        assert tx_id in alerted, f"{rec.pattern} transaction {tx_id} raised no alert"
        hit = next((h for h in alerted[tx_id]["rule_hits"] if h["code"] == code), None)
        assert hit is not None and hit["reason"], f"{tx_id}: no {code} hit in {alerted[tx_id]['rule_hits']}"
    v1 = next(json.loads(r.payload) for r in valid if json.loads(r.payload)["schema_version"] == 1)
    assert 0.0 <= by_tx[v1["transaction_id"]]["score"] <= 1.0

    # the stream decides exactly like the replay of the same records (no labels: is_fraud stripped)
    assert_scored_as_replayed(by_tx, valid, settings.detector, tmp_path)

    dead = dlq.wait(lambda d: len(d) >= len(malformed) and d, 60, f"{len(malformed)} DLQ records")
    assert len(dead) == len(malformed)
    for entry in dead:
        record = DeadLetterRecord.model_validate(entry)
        assert record.error_message and record.stage.value in ("parse", "validate")
        assert record.source_topic == topics["transactions"]
        assert record.source_partition is not None and record.source_offset is not None
        original = raw_at(
            kafka_bootstrap, topics["transactions"], record.source_partition, record.source_offset
        )
        assert record.payload_size == len(original)
        assert original.startswith(record.original_bytes())
    assert sorted(_pg_alert_ids(postgres_dsn)) == sorted(a["alert_id"] for a in alerted.values())

    # --- the Flink metric groups report what happened (through the mini-cluster's REST API)
    # The REST metric store is refreshed per TaskManager dump, so a vertex's counters may trail another's.
    last: dict[str, float] = {}

    def settled() -> dict[str, float] | None:
        last.clear()
        last.update(job_metrics(port, str(job.get_job_id())))
        done = last.get("decide.events_scored") == len(valid)
        return dict(last) if done and last.get("parse-transactions.events_in") == len(gen.records) else None

    try:
        metrics = wait_for(settled, timeout=90, interval=2, what="the metrics to count every event")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; last reported: {sorted(last.items())}") from None
    assert metrics["parse-transactions.events_in"] == len(gen.records)
    dlq_metrics = {k: v for k, v in metrics.items() if k.startswith("parse-python.error_type.")}
    assert sum(dlq_metrics.values()) == len(malformed)
    assert {k.split(".")[2] for k in dlq_metrics} == {d["error_type"] for d in dead}
    assert metrics["decide.alerts"] == len(alerted)
    by_rule = Counter(h["code"] for a in alerted.values() for h in a["rule_hits"])
    for code, count in by_rule.items():
        assert metrics[f"decide.rule.{code}.alerts"] == count

    # --- a label changes terminal risk only from its arrival on
    start = datetime.now(UTC)
    produce(kafka_bootstrap, topics["transactions"], [tx("lbl-0", "CL-0", "TLBL", 40.0, start)])
    before = scores.wait(lambda s: _by_tx(s).get("lbl-0"), 60, "score of the labelled transaction")
    assert "FR-007" not in before["rule_codes"]
    label = {
        "transaction_id": "lbl-0",
        "is_fraud": True,
        "confirmed_at": (start + timedelta(seconds=1)).isoformat(),
        "terminal_id": "TLBL",
        "customer_id": "CL-0",
        "tx_event_time": start.isoformat(),
    }
    produce(kafka_bootstrap, topics["labels"], [json.dumps(label).encode()])

    probes = iter(range(10_000))

    def probe_until(predicate: Any, what: str) -> dict[str, Any]:
        """Send one probe transaction at TLBL per round until a probe's score satisfies ``predicate``."""

        def one_round(_: list[dict[str, Any]]) -> Any:
            i = next(probes)
            when = datetime.now(UTC) + timedelta(seconds=2)
            produce(
                kafka_bootstrap, topics["transactions"], [tx(f"probe-{i}", f"CP-{i}", "TLBL", 40.0, when)]
            )
            time.sleep(1.5)
            found = [s for s in scores.poll() if s["transaction_id"].startswith("probe-") and predicate(s)]
            return found[-1] if found else None

        return scores.wait(one_round, 90, what)

    risky = probe_until(lambda s: "FR-007" in s["rule_codes"], "a probe scored with the delivered label")
    assert risky["score"] == pytest.approx(0.3) and risky["alert"] is False  # 0.3 < threshold 0.4

    # --- a control message lowers the threshold, applied within seconds, without a restart
    control = ControlMessage(message_id="lower-threshold", issued_at=datetime.now(UTC), alert_threshold=0.25)
    produce(kafka_bootstrap, topics["control"], [control.model_dump_json().encode()])
    lowered = probe_until(
        lambda s: "FR-007" in s["rule_codes"] and s["alert"], "an alert under the new threshold"
    )
    assert lowered["score"] == pytest.approx(0.3)
    assert job.get_job_status().result().name == "RUNNING"

    # --- stop with savepoint, restore: customer state (and live config) survive
    history = [tx(f"save-{i}", "CSAVE", "TSAVE", 100.0 + i, start + timedelta(minutes=i)) for i in range(6)]
    produce(kafka_bootstrap, topics["transactions"], history)
    scores.wait(lambda s: "save-5" in _by_tx(s), 60, "the saved customer's history")
    savepoint = stop_with_savepoint(job, (tmp_path / "savepoints").as_uri())
    restored = settings.with_flink(restore_from=savepoint)
    job = _start(restored, postgres_dsn)
    produce(
        kafka_bootstrap,
        topics["transactions"],
        [tx("save-big", "CSAVE", "TSAVE", 5000.0, start + timedelta(hours=1))],
    )
    big = scores.wait(lambda s: _by_tx(s).get("save-big"), 120, "score after the restore")
    assert "FR-001" in big["rule_codes"], big  # needs the 6 amounts of history kept in the savepoint
    after = probe_until(lambda s: "FR-007" in s["rule_codes"], "a label-risk probe after the restore")
    assert after["alert"] is True  # the control's threshold (broadcast state) survived too

    # --- exactly-once across a cancel and a restore from the retained checkpoint
    burst_customer = blocked.customers[0]
    burst = [tx(f"eo-{i}", burst_customer, "TEO", 30.0, start + timedelta(seconds=i)) for i in range(40)]
    uncommitted = TopicReader(kafka_bootstrap, topics["alerts"], committed=False)
    produce(kafka_bootstrap, topics["transactions"], burst)
    uncommitted.wait(
        lambda a: any(x["transaction_id"].startswith("eo-") for x in a), 60, "burst alerts written"
    )
    job.cancel().result()
    checkpoint = latest_checkpoint(checkpoints, str(job.get_job_id()))
    job = _start(settings.with_flink(restore_from=checkpoint.as_uri()), postgres_dsn)
    want = {f"eo-{i}" for i in range(40)}
    alerts.wait(lambda a: want <= {x["transaction_id"] for x in a}, 120, "every burst alert committed")
    scores.wait(lambda s: "eo-39" in _by_tx(s), 60, "the burst scored")
    time.sleep(3)  # a few more checkpoints: a duplicate would be committed by now
    committed = Counter(a["transaction_id"] for a in alerts.poll(2) if a["transaction_id"].startswith("eo-"))
    assert committed == Counter(want), f"duplicates or gaps: {committed - Counter(want)}"
    assert len(set(_pg_alert_ids(postgres_dsn))) == len(_pg_alert_ids(postgres_dsn))
    with psycopg.connect(postgres_dsn) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM gold.fact_fraud_alerts WHERE transaction_id LIKE 'eo-%%'"
        ).fetchone()
    assert n == 40
    job.cancel().result()
    for reader in (scores, alerts, dlq, uncommitted):
        reader.close()
