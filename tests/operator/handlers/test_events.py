"""Events posted by the operator's own threads, on the real API server: what `kubectl describe` shows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from fraud_operator.handlers import events
from fraud_operator.handlers.context import reset_clients
from kubernetes import client

from tests.conftest import KubeCluster

pytestmark = pytest.mark.cluster


def _subject(namespace: str, uid: str) -> dict[str, object]:
    return {
        "apiVersion": "streamflow.io/v1alpha1",
        "kind": "FraudPipeline",
        "metadata": {"name": "payments", "namespace": namespace, "uid": uid, "labels": {"x": "y"}},
        "spec": {"ignored": True},
    }


def test_an_event_names_its_object_and_keeps_both_ends_of_a_long_message() -> None:
    now = datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=UTC)
    long = "start " + "x" * 2000 + " end"
    event = events.event_for(_subject("ns", "u-1"), "Warning", "Degraded", long, now=now)
    assert event["involvedObject"] == {
        "apiVersion": "streamflow.io/v1alpha1",
        "kind": "FraudPipeline",
        "name": "payments",
        "namespace": "ns",
        "uid": "u-1",
    }
    assert event["metadata"] == {"namespace": "ns", "generateName": "payments."}
    assert len(event["message"]) == 1024
    assert event["message"].startswith("start ") and event["message"].endswith(" end")
    assert "..." in event["message"]
    assert event["firstTimestamp"] == "2026-12-06T11:00:00Z"
    assert event["eventTime"] == "2026-12-06T11:00:00.123456Z"
    assert events.event_for(_subject("ns", "u"), "Normal", "Ready", "short")["message"] == "short"


def test_posted_events_are_what_the_api_server_lists_for_the_object(
    kube: KubeCluster, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    reset_clients()
    subject = _subject(namespace, "0b5c2d7e-0000-4000-8000-000000000001")
    assert events.info(subject, reason="Ready", message="job RUNNING and STABLE")
    assert events.warn(subject, reason="Degraded", message="x" * 3000)
    listed = client.CoreV1Api(kube.api_client).list_namespaced_event(namespace).items
    by_reason = {e.reason: e for e in listed}
    assert set(by_reason) == {"Ready", "Degraded"}
    ready, degraded = by_reason["Ready"], by_reason["Degraded"]
    assert (ready.type, ready.message) == ("Normal", "job RUNNING and STABLE")
    assert degraded.type == "Warning" and len(degraded.message) == 1024
    for event in (ready, degraded):
        assert event.involved_object.kind == "FraudPipeline"
        assert event.involved_object.uid == subject["metadata"]["uid"]  # type: ignore[index]
        assert event.source.component == events.REPORTING_COMPONENT
        assert event.reporting_component == events.REPORTING_COMPONENT
        assert event.metadata.name.startswith("payments.")


def test_a_refused_post_is_logged_and_reported_not_raised(
    kube: KubeCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
    reset_clients()
    caplog.set_level(logging.WARNING, logger=events.__name__)
    # The namespace does not exist: the API server refuses the Event (404).
    subject = _subject("no-such-namespace-for-events", "u-2")
    assert events.info(subject, reason="Applied", message="created 15 children") is False
    assert any("Applied" in r.getMessage() and "not posted" in r.getMessage() for r in caplog.records)
