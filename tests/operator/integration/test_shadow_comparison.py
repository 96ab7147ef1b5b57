"""Shadow comparison on the real API server and a real PostgreSQL: gold.model_scores -> FraudModel status.

The CNPG stand-in plays the cluster over a real database that the operator migrates itself; the test
writes the two models' scores and some labels the way the job and the label feed do, and reads back what
the operator computed (with fraud_models.compare) into the shadow FraudModel and the pipeline.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kopf.testing import KopfRunner
from streamflow_dev.standins.cnpg import AppDatabase

from tests.conftest import wait_for
from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.operator.integration.conftest import SHADOW_COMPARE_SECONDS, Cluster, sample

MODELS = "streamflow.io/v1alpha1"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Active scores i/20; the shadow model flips four decisions at the sample's alert threshold 0.6:
# both alert on 12..17, only the active one on 18 and 19, only the shadow one on 0 and 1.
ACTIVE = [i / 20 for i in range(20)]
SHADOW = [0.9, 0.9, *ACTIVE[2:18], 0.1, 0.1]


def _scores(dsn: str, version: str, role: str, scores: list[float], extra: int = 0) -> None:
    rows = [
        (f"tx-{i:03d}", version, role, score, f"C{i % 5}", score, score >= 0.6, START + timedelta(minutes=i))
        for i, score in enumerate(scores + [0.5] * extra)
    ]
    with psycopg.connect(dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO gold.model_scores (transaction_id, model_version, role, score, customer_id,"
            " ml_score, alert, event_time, scored_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())",
            rows,
        )


def _labels(dsn: str, frauds: dict[int, bool]) -> None:
    with psycopg.connect(dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO bronze.fraud_labels (transaction_id, is_fraud, confirmed_at) VALUES (%s, %s, %s)",
            [(f"tx-{i:03d}", fraud, START + timedelta(days=7)) for i, fraud in frauds.items()],
        )


def _comparison(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(((cluster.get(MODELS, "FraudModel", name) or {}).get("status") or {}).get("comparison") or {})


def _shadow(cluster: Cluster) -> dict[str, Any]:
    return dict((cluster.pipeline("payments").get("status") or {}).get("shadow") or {})


@pytest.mark.cluster
def test_shadow_comparison_reaches_the_model_and_pipeline_status(
    shadow_operator: KopfRunner, cluster: Cluster, cnpg_database: AppDatabase, tmp_path: Path
) -> None:
    models = []
    for name, seed in (("model-a", 1), ("model-b", 2)):
        path = tmp_path / name / "model.npz"
        models.append(model_doc(name, path.as_uri(), compiled_artifact(path, name, seed)))
    pipeline = sample("fraudpipeline-payments")
    pipeline["spec"]["modelRef"] = {"name": "model-a"}
    pipeline["spec"]["shadowModelRef"] = {"name": "model-b"}
    cluster.apply(*models)
    cluster.apply(pipeline)
    cluster.run_flink_job("payments")
    cluster.wait_condition("payments", "SchemaMigrated", "True")

    # A comparison that ran before the first roll finished has no active model yet: wait for one after it.
    waiting = wait_for(
        lambda: (s := _shadow(cluster)).get("reason") == "WaitingForScores" and "activeModel" in s and s,
        what="WaitingForScores with the active model",
    )
    assert (waiting["model"], waiting["activeModel"]) == ("model-b", "model-a")
    assert "no events scored by both" in waiting["message"]
    assert "pairedEvents" not in waiting
    assert _comparison(cluster, "model-b") == {}, "no comparison before paired scores exist"
    assert cluster.condition("payments", "Degraded")["status"] == "False", "waiting is no error"

    _scores(cnpg_database.dsn, "model-a", "active", ACTIVE, extra=2)
    _scores(cnpg_database.dsn, "model-b", "shadow", SHADOW)
    _labels(cnpg_database.dsn, {i: i >= 15 for i in range(0, 20, 2)} | {15: True, 17: True, 19: True})

    comparison = wait_for(lambda: _comparison(cluster, "model-b").get("pairedEvents"), what="comparison")
    assert comparison == 20
    found = _comparison(cluster, "model-b")
    assert (found["pipeline"], found["activeModel"]) == ("payments", "model-a")
    assert (found["activeVersion"], found["shadowVersion"]) == ("model-a", "model-b")
    assert found["unpairedActive"] == 2 and found["unpairedShadow"] == 0
    assert found["threshold"] == 0.6
    assert found["agreementAtThreshold"] == pytest.approx(0.8)
    assert (found["bothAlert"], found["activeOnlyAlert"], found["shadowOnlyAlert"]) == (6, 2, 2)
    assert (found["labeledEvents"], found["frauds"]) == (13, 5)
    assert 0.0 <= found["active"]["auc"] <= 1.0 and 0.0 <= found["shadow"]["auc"] <= 1.0
    assert found["active"]["recordedAlerts"] == 8

    summary = wait_for(lambda: (s := _shadow(cluster)).get("reason") == "Compared" and s, what="summary")
    assert summary["pairedEvents"] == 20 and summary["labeledEvents"] == 13
    assert summary["agreementAtThreshold"] == pytest.approx(0.8)
    assert summary["activeAuc"] == found["active"]["auc"]
    assert summary["shadowAuc"] == found["shadow"]["auc"]
    assert "80.0%" in summary["message"]
    for kind_events in (cluster.events("ShadowComparisonAvailable"),):
        kinds = {e["involvedObject"]["kind"] for e in kind_events}
        assert kinds == {"FraudPipeline", "FraudModel"}, kind_events

    # Nothing changes in the table: later comparisons write nothing.
    before = (cluster.get(MODELS, "FraudModel", "model-b"), cluster.pipeline("payments"))
    time.sleep(4 * SHADOW_COMPARE_SECONDS)
    after = (cluster.get(MODELS, "FraudModel", "model-b"), cluster.pipeline("payments"))
    for old, new in zip(before, after, strict=True):
        assert old is not None and new is not None
        assert new["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"], (
            json.dumps(old.get("status"), indent=1, sort_keys=True),
            json.dumps(new.get("status"), indent=1, sort_keys=True),
            old["metadata"].get("annotations"),
            new["metadata"].get("annotations"),
        )

    # A database error: a Warning Event, the last figures kept, no password anywhere, retried later.
    with psycopg.connect(cnpg_database.dsn) as conn:
        conn.execute("ALTER TABLE gold.model_scores RENAME TO model_scores_moved")
    failed = wait_for(lambda: (s := _shadow(cluster)).get("reason") == "ComparisonFailed" and s, what="fail")
    assert failed["pairedEvents"] == 20, "the last figures of the same models are kept"
    assert "model_scores" in failed["message"]
    warnings = wait_for(lambda: cluster.events("ShadowComparisonFailed"), what="a warning event")
    assert {e["type"] for e in warnings} == {"Warning"}
    published = json.dumps(
        [failed, warnings, cluster.pipeline("payments")["status"], _comparison(cluster, "model-b")]
    )
    assert cnpg_database.password not in published
    with psycopg.connect(cnpg_database.dsn) as conn:
        conn.execute("ALTER TABLE gold.model_scores_moved RENAME TO model_scores")
    wait_for(lambda: _shadow(cluster).get("reason") == "Compared", what="compared again")

    # Without a shadow model the summary goes; the model keeps its last comparison for the record.
    cluster.kubectl(
        "patch", "fp/payments", "--type=json", "-p", '[{"op":"remove","path":"/spec/shadowModelRef"}]'
    )
    wait_for(lambda: not _shadow(cluster), what="status.shadow removed")
    assert _comparison(cluster, "model-b")["pairedEvents"] == 20
