"""Shadow-model scoring in the detector job, on the local Flink mini-cluster with real Kafka and PostgreSQL.

Two tiny, different IsolationForests are compiled with fraud_models; the job runs the first as the active
model and the second as the shadow. Every transaction then carries both scores in the scores topic and in
``gold.model_scores``; the alerts are exactly those of the active model alone. The first run keeps every
model-score row waiting in the writer's Flink state; it is cancelled and restored from its checkpoint,
and the restored job writes them all (nothing lost with the cancelled job, nothing twice). A shadow model
that fails its artifact check stops the job before it is submitted, naming the shadow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.settings import DatabaseSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.generator import generate
from fraud_jobs.logic import ScoreRecord, customer_step, terminal_step
from fraud_jobs.schemas import Transaction, parse_transaction
from fraud_jobs.scoring import Scorer
from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_models.scorer import ModelLoadError, load_model
from fraud_operator.db.migrations import migrate

from tests.conftest import wait_for
from tests.jobs.flink.streams import (
    ROLES,
    TopicReader,
    detector_settings,
    forest_model,
    latest_checkpoint,
    produce,
    tx,
)

pytestmark = [pytest.mark.flink, pytest.mark.kafka, pytest.mark.postgres]

DSN_ENV = "SHADOW_TEST_PG_DSN"


def _expected(
    txs: Sequence[Transaction], cfg: DetectorConfig, active: Scorer, shadow: Scorer | None
) -> dict[str, ScoreRecord]:
    """The pure logic over the stream's order (one partition, parallelism 1)."""
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    out = {}
    for t in txs:
        terminals[t.terminal_id], enriched = terminal_step(terminals.get(t.terminal_id), t, cfg)
        customers[t.customer_id], record, _ = customer_step(
            customers.get(t.customer_id), enriched, cfg, active, t.event_time, shadow
        )
        out[t.transaction_id] = record
    return out


def _model_score_rows(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT transaction_id, model_version, role, score, ml_score, alert, customer_id, event_time,"
            " scored_at FROM gold.model_scores"
        ).fetchall()


def test_shadow_model_scores_every_transaction_without_changing_alerts(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, postgres_dsn: str, tmp_path: Path
) -> None:
    migrate(postgres_dsn)
    topics = {role: kafka_topic_factory(role) for role in ROLES}
    active = forest_model(tmp_path / "active.npz", 1, "iforest-a", 1.0)
    shadow = forest_model(tmp_path / "shadow.npz", 2, "iforest-b", 1000.0)
    gen = generate(400, seed=5, days=6)
    blocked = gen.control.blocklist_add
    settings = detector_settings(
        kafka_bootstrap,
        topics,
        flink_jars,
        tmp_path / "checkpoints",
        blocklist={"customers": list(blocked.customers), "terminals": list(blocked.terminals)},
        anomaly={"threshold": 0.6},
    ).model_copy(
        update={
            # first run: model-score rows only wait in Flink state (no batch fills, no timer fires)
            "database": DatabaseSettings(
                dsn_env=DSN_ENV, model_scores_batch_rows=100_000, model_scores_flush_ms=3_600_000
            ),
            "model": active,
            "shadow_model": shadow,
        }
    )
    produce(kafka_bootstrap, topics["transactions"], [r.payload for r in gen.records])
    txs = [t for t in (parse_transaction(r.payload) for r in gen.records) if isinstance(t, Transaction)]
    assert len(txs) == len(gen.records)
    a_model = load_model(active.uri, expected_sha256=active.sha256, expected_schema_id=FEATURE_SCHEMA_ID)
    s_model = load_model(shadow.uri, expected_sha256=shadow.sha256, expected_schema_id=FEATURE_SCHEMA_ID)
    both = _expected(txs, settings.detector, a_model, s_model)
    alone = _expected(txs, settings.detector, a_model, None)
    assert any(r.shadow_alert != r.alert for r in both.values()), "the two models should disagree somewhere"

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    job = build(settings, environ={DSN_ENV: postgres_dsn}).execute_async(settings.job_name)
    try:
        scores.wait(lambda s: len(s) >= len(txs), 180, f"{len(txs)} score records")
        by_tx = {s["transaction_id"]: s for s in scores.records}
        assert set(by_tx) == set(both)
        for tx_id, want in both.items():
            got = by_tx[tx_id]
            assert got["model_version"] == "iforest-a" and got["shadow_model_version"] == "iforest-b"
            assert got["score"] == pytest.approx(want.score) and got["ml_score"] == pytest.approx(
                want.ml_score
            )
            assert got["shadow_score"] == pytest.approx(want.shadow_score)
            assert got["shadow_ml_score"] == pytest.approx(want.shadow_ml_score)
            assert got["shadow_alert"] is want.shadow_alert and got["alert"] is alone[tx_id].alert

        # alerts: exactly the active model's, whatever the shadow thinks
        want_alerts = {tx_id for tx_id, r in alone.items() if r.alert}
        assert want_alerts
        alerts.wait(
            lambda a: {x["transaction_id"] for x in a} >= want_alerts, 60, "the active model's alerts"
        )
        assert {x["transaction_id"] for x in alerts.poll(2)} == want_alerts

        # the rows wait in the writer's ListState; the checkpoints that committed the scores hold them
        assert _model_score_rows(postgres_dsn) == []
    finally:
        job.cancel().result()
    checkpoint = latest_checkpoint(tmp_path / "checkpoints", str(job.get_job_id()))

    # restored with the shipped batching, the writer writes what the checkpoint held (a probe transaction
    # gives its key something to do) - nothing was lost with the cancelled job
    restored = settings.model_copy(update={"database": DatabaseSettings(dsn_env=DSN_ENV)})
    restored = restored.with_flink(restore_from=checkpoint.as_uri())
    job = build(restored, environ={DSN_ENV: postgres_dsn}).execute_async(settings.job_name)
    try:
        produce(kafka_bootstrap, topics["transactions"], [tx("probe-0", "C-PROBE", "T-PROBE", 12.0)])

        def all_rows() -> list[tuple[Any, ...]] | None:
            found = _model_score_rows(postgres_dsn)
            return found if len(found) >= 2 * (len(txs) + 1) else None

        table = wait_for(all_rows, timeout=90, interval=1, what="both models' rows in gold.model_scores")
        assert len(table) == 2 * (len(txs) + 1)
        assert {r[0] for r in table} == {*both, "probe-0"}
        for tx_id, version, role, score, ml_score, alert, customer, event_time, scored_at in table:
            if tx_id == "probe-0":
                continue
            want, got = both[tx_id], by_tx[tx_id]
            assert (version, role) in (("iforest-a", "active"), ("iforest-b", "shadow"))
            active_row = role == "active"
            assert score == pytest.approx(want.score if active_row else want.shadow_score)
            assert ml_score == pytest.approx(want.ml_score if active_row else want.shadow_ml_score)
            assert alert is (want.alert if active_row else want.shadow_alert)
            assert customer == want.customer_id
            assert event_time == datetime.fromtimestamp(want.event_ts, UTC)
            assert scored_at.timestamp() == pytest.approx(got["detected_at"], abs=1e-3)
    finally:
        job.cancel().result()
        scores.close()
        alerts.close()

    # a shadow model failing its artifact check stops the job before it is submitted, naming the shadow
    bad = settings.model_copy(update={"shadow_model": shadow.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(ModelLoadError, match="sha256 mismatch") as refused:
        build(bad, environ={DSN_ENV: postgres_dsn})
    assert str(refused.value).startswith(f"shadow model {shadow.uri}: ")
