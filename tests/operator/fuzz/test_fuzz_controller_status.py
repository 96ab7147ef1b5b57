"""Fuzzing what other controllers write: FlinkDeployment status (the Flink operator) and CNPG Cluster status.

Hypothesis generates statuses with missing, wrong-typed and unknown fields; each is written through the real
API server's status subresource (which refuses what the upstream schema cannot hold, naming the field) while
the operator runs. For every accepted one the pipeline must report a clear condition (JobRunning for Flink,
SchemaMigrated for CNPG, each with a reason and a message), and the operator must not crash. A proper status
afterwards brings the pipeline back to Ready.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from streamflow_dev.standins.cnpg import AppDatabase, write_cnpg_cluster_ready
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import wait_for
from tests.operator.fuzz.strategies import sample
from tests.operator.integration.conftest import Cluster

pytestmark = pytest.mark.cluster

EXAMPLES = 150
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
)
_STATE = st.one_of(st.sampled_from(["RUNNING", "FAILED", "CREATED", "RECONCILING", "", "running"]), _ANY)
FLINK_STATUS = st.fixed_dictionaries(
    {},
    optional={
        "jobStatus": st.one_of(_ANY, st.fixed_dictionaries({}, optional={"state": _STATE, "jobId": _ANY})),
        "lifecycleState": st.one_of(st.sampled_from(["STABLE", "DEPLOYED", "FAILED", "SUSPENDED"]), _ANY),
        "observedGeneration": st.one_of(st.integers(-5, 50), _ANY),
        "error": st.one_of(
            st.sampled_from(['{"type": "x.Y", "message": "boom"}', "[1]", "{", '{"message": 7}']), _ANY
        ),
        "reconciliationStatus": st.one_of(
            _ANY,
            st.fixed_dictionaries(
                {},
                optional={
                    "lastReconciledSpec": st.one_of(
                        st.sampled_from(["", "{", "[]", '{"spec": "x"}', '{"spec": {"podTemplate": 1}}']),
                        _ANY,
                    ),
                    "state": _ANY,
                },
            ),
        ),
        "unknownField": _ANY,
    },
)
_CONDITION = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.just("Ready"), _ANY),
        "status": st.one_of(st.sampled_from(["True", "False", "Unknown"]), _ANY),
        "reason": _ANY,
        "message": _ANY,
        "lastTransitionTime": st.one_of(st.just("2026-01-01T00:00:00Z"), _ANY),
    },
)
CNPG_STATUS = st.fixed_dictionaries(
    {},
    optional={
        "phase": st.one_of(
            st.sampled_from(["Cluster in healthy state", "Setting up primary", "Waiting for user action"]),
            _ANY,
        ),
        "phaseReason": _ANY,
        "conditions": st.one_of(_ANY, st.lists(_CONDITION, max_size=3)),
        "instances": st.one_of(st.integers(-1, 5), _ANY),
        "readyInstances": st.one_of(st.integers(-1, 5), _ANY),
        "unknownField": _ANY,
    },
)


def _generate(strategy: st.SearchStrategy[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(status: dict[str, Any]) -> None:
        out.append(status)

    collect()
    return out


def _put_status(
    api: Any, group: str, version: str, namespace: str, plural: str, name: str, status: Any
) -> str:
    """Replace the object's status (as its controller would); '' when accepted, else the refusal."""
    live = api.get_namespaced_custom_object(group, version, namespace, plural, name)
    live["status"] = status
    try:
        api.replace_namespaced_custom_object_status(group, version, namespace, plural, name, live)
    except ApiException as exc:
        message = str(json.loads(exc.body or "{}").get("message") or exc.reason)
        assert int(exc.status or 0) < 500, message
        return message
    return ""


def _condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any]:
    return cluster.condition(name, type_)


@pytest.fixture(scope="module")
def statuses() -> dict[str, list[dict[str, Any]]]:
    """The statuses, generated before the operator starts (its threads must not use ``random`` meanwhile)."""
    return {"flink": _generate(FLINK_STATUS, EXAMPLES), "cnpg": _generate(CNPG_STATUS, EXAMPLES)}


def test_fuzzed_controller_statuses_give_clear_conditions(
    statuses: dict[str, list[dict[str, Any]]],
    operator: KopfRunner,
    cluster: Cluster,
    cnpg_database: AppDatabase,
    unhandled: list[str],
) -> None:
    started = time.monotonic()
    api = client.CustomObjectsApi(cluster.kube.api_client)
    cluster.apply(
        sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"), sample("fraudpipeline-payments")
    )
    wait_for(lambda: cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments"), what="deployed")
    cluster.run_flink_job("payments")
    cluster_name = sample("fraudpipeline-payments")["spec"]["database"]["cnpgCluster"]

    counts = {"flink accepted": 0, "flink refused": 0, "cnpg accepted": 0, "cnpg refused": 0}
    problems: list[str] = []
    targets = (
        ("flink", ("flink.apache.org", "v1beta1", "flinkdeployments", "payments"), "JobRunning"),
        ("cnpg", ("postgresql.cnpg.io", "v1", "clusters", cluster_name), "SchemaMigrated"),
    )
    for what, (group, version, plural, name), condition_type in targets:
        for status in statuses[what]:
            refusal = _put_status(api, group, version, cluster.namespace, plural, name, status)
            if refusal:
                counts[f"{what} refused"] += 1
                if "status" not in refusal:
                    problems.append(f"{what} refusal names no field: {refusal[:200]}")
                continue
            counts[f"{what} accepted"] += 1
            before = _condition(cluster, "payments", condition_type).get("lastTransitionTime")
            # The FlinkDeployment watch reacts at once; the database step on the next resync (2 s here).
            time.sleep(0.3 if what == "flink" else 2.5)
            found = _condition(cluster, "payments", condition_type)
            if not found.get("reason") or not found.get("message"):
                problems.append(f"{what} {json.dumps(status)[:200]}: {condition_type} {found} ({before})")
        # A proper status again: the pipeline recovers.
        if what == "flink":
            write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
        else:
            write_cnpg_cluster_ready(cluster.kube.api_client, cluster.namespace, cluster_name)
        cluster.wait_condition("payments", "Ready", "True", timeout=60)
        assert not operator.future.done(), "the operator stopped"

    print("controller status fuzz:", json.dumps({**counts, "run_s": round(time.monotonic() - started, 1)}))
    assert problems == [], "\n".join(problems[:20])
    assert unhandled == [], "\n".join(unhandled[:10])
    assert counts["flink accepted"] > 0 and counts["cnpg accepted"] > 0
