"""When a pipeline carries the operator's finalizer for its admin-API topics, without a cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from fraud_operator.apply import Applier
from fraud_operator.handlers.cleanup import FINALIZER, ensure_finalizer, pending_cleanup


class FakeApplier(Applier):
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def set_finalizer(self, body: Mapping[str, Any], finalizer: str, present: bool) -> dict[str, Any] | None:
        self.calls.append((finalizer, present))
        return dict(body)


def _body(policy: str, strimzi: bool, finalizers: list[str], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns", "finalizers": finalizers}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    kafka = {"strimziCluster": "kafka"} if strimzi else {"bootstrapServers": "kafka:9092"}
    return {"metadata": meta, "spec": {"topicDeletionPolicy": policy, "kafka": kafka}}


@pytest.mark.parametrize(
    ("policy", "strimzi", "finalizers", "calls"),
    [
        ("Delete", False, [], [(FINALIZER, True)]),  # admin-API topics to delete with it
        ("Delete", False, [FINALIZER], []),
        ("Retain", False, [FINALIZER], [(FINALIZER, False)]),  # the policy changed: released
        ("Delete", True, [], []),  # Strimzi's KafkaTopics go with the garbage collector
        ("Retain", False, ["someone.else/x"], []),
    ],
)
def test_the_finalizer_follows_the_spec(
    policy: str, strimzi: bool, finalizers: list[str], calls: list[tuple[str, bool]]
) -> None:
    applier = FakeApplier()
    assert ensure_finalizer(applier, _body(policy, strimzi, finalizers)) is not None
    assert applier.calls == calls


def test_a_pipeline_being_deleted_keeps_its_finalizer_for_the_cleanup() -> None:
    applier = FakeApplier()
    body = _body("Retain", False, [FINALIZER], deleting=True)
    assert ensure_finalizer(applier, body) == body and applier.calls == []
    assert pending_cleanup(body)
    assert not pending_cleanup(_body("Delete", False, [FINALIZER]))
