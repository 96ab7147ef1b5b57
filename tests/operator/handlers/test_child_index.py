"""The index of what the children's watches reported: which children a reconcile need not read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fraud_operator.apply import APPLIED_HASH_ANNOTATION
from fraud_operator.handlers import child_index


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    child_index.clear()
    yield
    child_index.clear()


def _child(name: str, applied: str = "h1", uid: str = "u-1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "annotations": {APPLIED_HASH_ANNOTATION: applied},
            "ownerReferences": [{"kind": "FraudPipeline", "name": "p", "uid": uid}],
            **meta,
        },
    }


def test_only_a_child_reported_with_the_same_hash_and_owner_counts_as_unchanged() -> None:
    child_index.note("ConfigMap", None, _child("c"))
    assert child_index.unchanged(_child("c"), "u-1")
    assert not child_index.unchanged(_child("c", applied="h2"), "u-1")  # the spec changed since
    assert not child_index.unchanged(_child("c"), "u-2")  # another pipeline of the same name
    assert not child_index.unchanged(_child("d"), "u-1")  # not reported (yet)
    child_index.note("ConfigMap", "DELETED", _child("c"))
    assert not child_index.unchanged(_child("c"), "u-1")


def test_a_child_written_by_another_manager_since_our_apply_is_read() -> None:
    ours = {"manager": "streamflow-operator", "operation": "Apply", "time": "2026-12-06T10:00:00Z"}
    status = {"manager": "flink-operator", "subresource": "status", "time": "2026-12-06T10:00:05Z"}
    edit = {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-06T10:00:05Z"}
    child_index.note("ConfigMap", "MODIFIED", _child("c", managedFields=[ours, status]))
    assert child_index.unchanged(_child("c"), "u-1")  # a status write is a controller's report
    child_index.note("ConfigMap", "MODIFIED", _child("c", managedFields=[ours, status, edit]))
    assert not child_index.unchanged(_child("c"), "u-1")


def test_a_new_listing_drops_children_it_no_longer_holds() -> None:
    """A child deleted while its watch was away has no DELETED event: the listing that follows lacks it."""
    child_index.note("ConfigMap", None, _child("gone"))
    child_index.note("ConfigMap", None, _child("other-ns", namespace="elsewhere"))
    started = time.monotonic()
    child_index.note("ConfigMap", None, _child("kept"))
    child_index.listed("ConfigMap", "ns", started)
    assert not child_index.unchanged(_child("gone"), "u-1")
    assert child_index.unchanged(_child("kept"), "u-1")
    assert child_index.unchanged(_child("other-ns", namespace="elsewhere"), "u-1")


def test_a_flink_deployment_keeps_what_its_status_said() -> None:
    body = {**_child("p"), "kind": "FlinkDeployment", "status": {"jobStatus": {"state": "RUNNING"}}}
    child_index.note("FlinkDeployment", "MODIFIED", body)
    state = child_index.flink_state("ns", "p")
    assert state is not None and state.flink is not None and state.flink.job_state == "RUNNING"


def test_owned_children_are_known_once_their_kind_was_listed() -> None:
    assert child_index.owned("ConfigMap", "ns", "u-1") is None  # not listed: the index may lack some
    assert not child_index.complete(["ConfigMap", "CronJob"], "ns")
    child_index.note("ConfigMap", None, _child("b"))
    child_index.note("ConfigMap", None, _child("a"))
    child_index.note("ConfigMap", None, _child("theirs", uid="u-2"))
    child_index.listed("ConfigMap", "ns", 0.0)
    assert child_index.owned("ConfigMap", "ns", "u-1") == ["a", "b"]
    assert child_index.owned("ConfigMap", "elsewhere", "u-1") is None
    child_index.listed("CronJob", None, 0.0)  # cluster-wide
    assert child_index.complete(["ConfigMap", "CronJob"], "ns")
    assert not child_index.complete(["ConfigMap", "CronJob"], "elsewhere")
    assert child_index.owned("CronJob", "elsewhere", "u-1") == []


def test_owned_children_follow_deletions_new_owners_and_listings() -> None:
    child_index.listed("ConfigMap", "ns", 0.0)
    child_index.note("ConfigMap", "ADDED", _child("a"))
    child_index.note("ConfigMap", "ADDED", _child("b"))
    child_index.note("ConfigMap", "DELETED", _child("a"))
    assert child_index.owned("ConfigMap", "ns", "u-1") == ["b"]
    child_index.note("ConfigMap", "MODIFIED", _child("b", uid="u-2"))  # adopted by a recreated pipeline
    assert child_index.owned("ConfigMap", "ns", "u-1") == []
    assert child_index.owned("ConfigMap", "ns", "u-2") == ["b"]
    started = time.monotonic()
    child_index.note("ConfigMap", None, _child("c", uid="u-2"))
    child_index.listed("ConfigMap", "ns", started)  # b was deleted while the watch was away
    assert child_index.owned("ConfigMap", "ns", "u-2") == ["c"]
