"""Issue 7, local Flink part: a real stop-with-savepoint and restart on a *different* model keeps the
per-customer state, so a customer's velocity count (and every ML feature) continues across the roll.

Two tiny IsolationForests are trained and compiled like ``streamflow model train`` does and loaded by the
job with their sha256 and feature-schema checks. The job scores a customer's first transactions with model
A, stops with a savepoint, restarts from it with model B and scores more of that customer's transactions.
The expected outcome is computed with the job's own pure steps (terminal_step, customer_step) once with
the state carried across the roll and once from empty state, and the two differ where it matters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fraud_jobs.config import DetectorConfig
from fraud_jobs.flink.lifecycle import stop_with_savepoint
from fraud_jobs.flink.settings import JobSettings, ModelSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.logic import customer_step, terminal_step
from fraud_jobs.schemas import FraudAlert, Transaction
from fraud_jobs.scoring import Scorer
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.scorer import compile_model, load_model
from fraud_models.training import make_estimator

from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, produce, tx

pytestmark = [pytest.mark.flink, pytest.mark.kafka]

CUSTOMER, TERMINAL = "C-ROLL", "T-ROLL"
BEFORE, AFTER = 5, 2
"""Velocity allows 5 transactions in 10 min: the 6th (the first after the roll) fires FR-002 only if the
5 before the roll still count."""


def _model(directory: Path, version: str, seed: int) -> ModelSettings:
    """A tiny real IsolationForest, compiled and saved as a training run does; returned as job settings."""
    X = np.random.default_rng(seed).normal(size=(400, len(FEATURE_NAMES))) * (1 + seed)
    estimator = make_estimator("isolation_forest", {"n_estimators": 8, "random_state": seed}).fit(X)
    compiled = compile_model(
        estimator, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version=version
    )
    path = directory / f"{version}.npz"
    sha = compiled.save(path)
    return ModelSettings(
        name="roll", version=version, uri=path.as_uri(), sha256=sha, feature_schema_id=FEATURE_SCHEMA_ID
    )


def _load(model: ModelSettings) -> Scorer:
    scorer: Scorer = load_model(model.uri, expected_sha256=model.sha256, expected_schema_id=FEATURE_SCHEMA_ID)
    return scorer


def _expected(
    events: list[bytes], cfg: DetectorConfig, scorers: list[Scorer | None]
) -> dict[str, tuple[float | None, tuple[str, ...], float]]:
    """transaction_id -> (ml_score, rule codes, score) by the job's pure steps, one key of each stage."""
    tstate: bytes | None = None
    cstate: bytes | None = None
    out: dict[str, tuple[float | None, tuple[str, ...], float]] = {}
    for raw, scorer in zip(events, scorers, strict=True):
        txn = Transaction.model_validate_json(raw)
        tstate, enriched = terminal_step(tstate, txn, cfg)
        cstate, record, _ = customer_step(cstate, enriched, cfg, scorer, datetime.now(UTC))
        out[txn.transaction_id] = (record.ml_score, tuple(record.rule_codes), record.score)
    return out


def _start(settings: JobSettings) -> Any:
    return build(settings, environ={}).execute_async(settings.job_name)


def test_model_roll_across_a_savepoint_keeps_per_customer_state(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, tmp_path: Path
) -> None:
    model_a = _model(tmp_path, "roll-a", seed=1)
    model_b = _model(tmp_path, "roll-b", seed=2)
    scorer_a, scorer_b = _load(model_a), _load(model_b)
    probe = [0.5] * len(FEATURE_NAMES)
    assert scorer_a.score(probe) != scorer_b.score(probe), "the two models must score differently"

    topics = {role: kafka_topic_factory(role) for role in ROLES}
    base = detector_settings(
        kafka_bootstrap, topics, flink_jars, tmp_path / "checkpoints", alert_threshold=0.0
    )  # every transaction alerts, so every one reports the model version that scored it
    cfg = base.detector
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    events = [tx(f"roll-{i}", CUSTOMER, TERMINAL, 40.0, start + timedelta(seconds=30 * i)) for i in range(6)]
    events.append(tx("roll-6", CUSTOMER, TERMINAL, 40.0, start + timedelta(seconds=30 * 6)))
    before, after = events[:BEFORE], events[BEFORE:]
    assert len(after) == AFTER

    carried = _expected(events, cfg, [scorer_a] * BEFORE + [scorer_b] * AFTER)
    fresh = _expected(after, cfg, [scorer_b] * AFTER)  # the same post-roll stream without the savepoint
    assert "FR-002" in carried["roll-5"][1] and "FR-002" not in fresh["roll-5"][1]
    assert carried["roll-5"][0] != fresh["roll-5"][0]  # the ML features carry history too

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    job = _start(base.model_copy(update={"model": model_a}))
    produce(kafka_bootstrap, topics["transactions"], before)
    scores.wait(lambda s: len(s) >= BEFORE, 300, f"{BEFORE} scores under model A")
    savepoint = stop_with_savepoint(job, (tmp_path / "savepoints").as_uri())

    rolled = base.model_copy(update={"model": model_b}).with_flink(restore_from=savepoint)
    job = _start(rolled)
    produce(kafka_bootstrap, topics["transactions"], after)
    scores.wait(lambda s: len(s) >= BEFORE + AFTER, 300, f"{AFTER} scores under model B")
    alerts.wait(lambda a: len(a) >= BEFORE + AFTER, 60, "an alert per transaction")
    job.cancel().result()

    streamed = {s["transaction_id"]: s for s in scores.poll(1)}
    versions = {a["transaction_id"]: FraudAlert.model_validate(a).model_version for a in alerts.poll(1)}
    assert len(scores.records) == BEFORE + AFTER and len(alerts.records) == BEFORE + AFTER  # one attempt each
    # (a) the model changed with the roll, and only then
    assert versions == {f"roll-{i}": "roll-a" if i < BEFORE else "roll-b" for i in range(BEFORE + AFTER)}
    # (b) the restored job decided as the carried-over state says, not as a fresh start would
    for tx_id, (ml_score, codes, score) in carried.items():
        got = streamed[tx_id]
        assert got["ml_score"] == pytest.approx(ml_score), tx_id
        assert tuple(got["rule_codes"]) == codes, tx_id
        assert got["score"] == pytest.approx(score), tx_id
    assert "FR-002" in streamed["roll-5"]["rule_codes"]  # fired on the first post-roll event ...
    assert "FR-002" not in streamed["roll-4"]["rule_codes"]  # ... not before it: the pre-roll events count
    assert streamed["roll-5"]["ml_score"] != pytest.approx(fresh["roll-5"][0])
    assert json.loads(before[-1])["customer_id"] == json.loads(after[0])["customer_id"] == CUSTOMER
    for reader in (scores, alerts):
        reader.close()
