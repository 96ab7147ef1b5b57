"""A spec only the operator can refuse writes nothing but its own status (observe -> validate -> act).

Each pipeline below passes the CRD's schema and CEL rules, and fails a check that only the operator makes: a
cron schedule the CronJob validation would refuse, a transform schedule naming no transform, an unknown
task, a name that cannot name the children's Services. With the operator under KopfRunner, the real broker
(admin-API topic mode) and the real PostgreSQL behind the CNPG stand-in, the test counts what reached them:
no topic, no schema_migrations table, no child object, and no write on the operator's own write counter
except the pipelines' status. Fixing a spec then converges to Ready.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]
from fraud_operator.metrics import API_WRITES, RECONCILES
from kopf.testing import KopfRunner
from streamflow_dev.standins.cnpg import AppDatabase
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import wait_for
from tests.operator.integration.conftest import PIPELINE_CHILD_KINDS, Cluster, sample

pytestmark = pytest.mark.cluster

MODELS = "streamflow.io/v1alpha1"
CHILD_KINDS = PIPELINE_CHILD_KINDS
GOOD_SCHEDULE = {"name": "silver-to-gold", "schedule": "*/15 * * * *", "task": "transform"}
# name -> (bad spec.database.schedules, the field the Degraded message must name)
BAD_SCHEDULES: dict[str, tuple[list[dict[str, Any]], str]] = {
    "cron-minute": (
        [{**GOOD_SCHEDULE, "schedule": "61 * * * *"}],
        "spec.database.schedules[0].schedule",
    ),
    "cron-descriptor": (
        [GOOD_SCHEDULE, {"name": "check", "schedule": "@fortnightly", "task": "check"}],
        "spec.database.schedules[1].schedule",
    ),
    "unknown-transform": (
        [{"name": "vacuum-nightly", "schedule": "@daily", "task": "transform"}],
        "spec.database.schedules[0]",
    ),
    "unknown-task": (
        [{"name": "vacuum", "schedule": "@daily", "task": "vacuum"}],
        "spec.database.schedules[0]",
    ),
}


def _pipeline(name: str, namespace: str, bootstrap: str, schedules: list[dict[str, Any]]) -> dict[str, Any]:
    doc = sample("fraudpipeline-payments")
    doc["metadata"]["name"] = name
    doc["spec"]["kafka"] = {
        "bootstrapServers": bootstrap,
        "topicPrefix": f"{namespace}.{name}",
        "topics": {"partitions": 1, "replicas": 1},
    }
    doc["spec"]["database"]["schedules"] = schedules
    return doc


def _child_writes() -> dict[str, float]:
    """The operator's write counter by kind, without status writes (a refused spec still reports itself)."""
    counts: dict[str, float] = {}
    for metric in API_WRITES.collect():
        for item in metric.samples:
            if item.name.endswith("_total") and not item.labels["kind"].endswith("/status"):
                counts[item.labels["kind"]] = item.value
    return counts


def _invalid_reconciles() -> float:
    return float(RECONCILES.labels(kind="FraudPipeline", result="invalid")._value.get())


def _topics(admin: AdminClient, prefix: str) -> list[str]:
    return sorted(name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix))


def _schema_tables(database: AppDatabase) -> list[str]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def _children(cluster: Cluster) -> list[str]:
    found = []
    for api_version, kind in CHILD_KINDS:
        for obj in cluster.items(api_version, kind, "app.kubernetes.io/managed-by=streamflow-operator"):
            found.append(f"{kind} {obj['metadata']['name']}")
    return found


def test_specs_only_the_operator_can_refuse_write_nothing_then_converge_when_fixed(
    operator: KopfRunner, cluster: Cluster, kafka_bootstrap: str, cnpg_database: AppDatabase
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    prefix = f"{cluster.namespace}."
    cluster.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))
    wait_for(
        lambda: (
            [m.get("status", {}).get("phase") for m in cluster.items(MODELS, "FraudModel")] == ["Ready"] * 2
        ),
        what="both FraudModels Ready",
    )
    before = _child_writes()
    invalid_before = _invalid_reconciles()
    badly_named = sample("fraudpipeline-payments")
    badly_named["metadata"]["name"] = "9lives"  # accepted by the CRD (length, no dots); no DNS-1035 label
    badly_named["spec"]["kafka"] = _pipeline("x", cluster.namespace, kafka_bootstrap, [])["spec"]["kafka"]
    badly_named["spec"]["kafka"]["topicPrefix"] = f"{cluster.namespace}.9lives"
    docs = [
        _pipeline(name, cluster.namespace, kafka_bootstrap, bad) for name, (bad, _) in BAD_SCHEDULES.items()
    ]
    cluster.apply(*docs, badly_named)

    fields = {name: field for name, (_, field) in BAD_SCHEDULES.items()} | {"9lives": "metadata.name"}
    for name, field in fields.items():
        degraded = cluster.wait_condition(name, "Degraded", "True", "InvalidSpec")
        assert field in degraded["message"], (name, degraded["message"])
        assert cluster.condition(name, "Reconciled")["reason"] == "InvalidSpec"
        print(f"{name}: Degraded/InvalidSpec: {degraded['message']}")
    # Each pipeline was refused on its create and again on resyncs (2 s here): not merely not yet reached.
    wait_for(
        lambda: _invalid_reconciles() - invalid_before >= 3 * len(fields),
        timeout=60,
        what="three refusals per pipeline",
    )
    writes = {kind: count - before.get(kind, 0.0) for kind, count in _child_writes().items()}
    counts = {
        "topics": _topics(admin, prefix),
        "schema tables": _schema_tables(cnpg_database),
        "children": _children(cluster),
        "child writes": {kind: n for kind, n in writes.items() if n},
    }
    print("external writes for", len(fields), "refused specs:", json.dumps(counts))
    assert counts == {"topics": [], "schema tables": [], "children": [], "child writes": {}}

    # Fixing the spec (one schedule corrected in place, kubectl apply of the same objects) converges.
    fixed = [_pipeline(name, cluster.namespace, kafka_bootstrap, [GOOD_SCHEDULE]) for name in BAD_SCHEDULES]
    cluster.apply(*fixed)
    for name in BAD_SCHEDULES:
        cluster.wait_condition(name, "Progressing", "True", "WaitingForJob", timeout=90)
        write_flink_operator_status(cluster.kube.api_client, cluster.namespace, name)
    for name in BAD_SCHEDULES:
        cluster.wait_condition(name, "Ready", "True", timeout=60)
        assert cluster.condition(name, "SchemaMigrated")["status"] == "True"
        assert len(_topics(admin, f"{cluster.namespace}.{name}.")) == 5
        assert cluster.get("batch/v1", "CronJob", f"{name}-silver-to-gold") is not None
    assert "public.schema_migrations" in _schema_tables(cnpg_database)
    # The badly named pipeline is still refused, and still owns nothing.
    assert cluster.condition("9lives", "Degraded")["reason"] == "InvalidSpec"
    assert not [c for c in _children(cluster) if "9lives" in c]
    assert _topics(admin, f"{cluster.namespace}.9lives") == []
