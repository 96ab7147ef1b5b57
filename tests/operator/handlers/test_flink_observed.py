"""Where a reconcile takes the FlinkDeployment's status from: the watch's event when it can, else a read."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fraud_operator.apply import Applier
from fraud_operator.handlers import child_index, pipeline
from fraud_operator.handlers.plan import PipelinePlan
from fraud_operator.handlers.status import FlinkObservation, observe_flink


class _Reads(Applier):
    def __init__(self) -> None:
        self.reads: list[str] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(name)
        return {
            "metadata": {"name": name, "ownerReferences": [{"uid": "u-1"}]},
            "status": {"jobStatus": {"state": "READ"}},
        }


def _plan(new: bool) -> PipelinePlan:
    meta = SimpleNamespace(name="p", namespace="ns", uid="u-1")
    deployment = {"kind": "FlinkDeployment", "metadata": {"name": "p", "namespace": "ns"}}
    plan = SimpleNamespace(pipeline=SimpleNamespace(metadata=meta), changed=[deployment], read={}, new=new)
    return cast(PipelinePlan, plan)


def _event(state: str, uid: str = "u-1") -> Mapping[str, Any]:
    owner = {"kind": "FraudPipeline", "name": "p", "uid": uid}
    return {
        "metadata": {"name": "p", "namespace": "ns", "ownerReferences": [owner]},
        "status": {"jobStatus": {"state": state}},
    }


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    child_index.clear()
    pipeline._mirrored.clear()
    yield
    child_index.clear()
    pipeline._mirrored.clear()


def _unapplied_plan(read: tuple[FlinkObservation, float]) -> PipelinePlan:
    """A plan that found the FlinkDeployment as applied (from the index) and does not apply it."""
    plan = _plan(new=False)
    plan.changed.clear()
    plan.read["FlinkDeployment"] = read
    return plan


def test_a_new_pipelines_flink_deployment_is_observed_from_its_event_after_the_act() -> None:
    acted_at = time.monotonic()
    child_index.note("FlinkDeployment", "MODIFIED", _event("RUNNING"))
    applier = _Reads()
    flink, seen_at = pipeline._flink_deployment(applier, _plan(new=True), acted_at)
    assert (flink.job_state, applier.reads) == ("RUNNING", [])
    assert seen_at > acted_at  # the event's arrival: a later event is mirrored


@pytest.mark.parametrize("case", ["event before the act", "another owner", "not a new pipeline", "no event"])
def test_otherwise_it_is_read(case: str) -> None:
    if case == "event before the act":
        child_index.note("FlinkDeployment", "MODIFIED", _event("OLD"))
    acted_at = time.monotonic()
    if case == "another owner":  # a pipeline of the same name, deleted and created again
        child_index.note("FlinkDeployment", "MODIFIED", _event("OLD", uid="u-2"))
    elif case == "not a new pipeline":  # an update: an event of the older spec may still be on its way
        child_index.note("FlinkDeployment", "MODIFIED", _event("OLD"))
    applier = _Reads()
    flink, _ = pipeline._flink_deployment(applier, _plan(new=case != "not a new pipeline"), acted_at)
    assert (flink.job_state, applier.reads) == ("READ", ["p"])


def test_a_new_pipelines_event_is_reconciled_only_if_it_is_of_the_same_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event of a pipeline deleted and created again under the name is not the one to reconcile."""
    reconciled: list[str] = []
    monkeypatch.setattr(pipeline, "_live", lambda body: {"metadata": {"uid": "u-1", "read": True}})
    monkeypatch.setattr(
        pipeline,
        "_reconcile_locked",
        lambda live, attempt: (
            reconciled.append("read" if live["metadata"].get("read") else "event")
            or pipeline.ReconcileResult("applied")
        ),
    )
    ref = {"metadata": {"namespace": "ns", "name": "p", "uid": "u-1"}}
    pipeline.reconcile(ref, new={"metadata": {"uid": "u-1"}})
    pipeline.reconcile(ref, new={"metadata": {"uid": "u-0"}})
    pipeline.reconcile(ref)
    assert reconciled == ["event", "read", "read"]


def test_a_state_written_since_the_plan_read_is_not_put_back() -> None:
    """The plan took the deployment from the index before its status came; another reconcile read the
    status and wrote it (so the status event, matching it, queued no mirror); this reconcile waited, and
    must not write the older state over it."""
    planned = (observe_flink({"metadata": {"name": "p"}}), time.monotonic())  # no status yet
    written = (observe_flink(dict(_event("RUNNING"))), time.monotonic())
    pipeline._mirrored[("ns", "p")] = written
    applier = _Reads()
    flink, seen_at = pipeline._flink_deployment(applier, _unapplied_plan(planned), time.monotonic())
    assert (flink.job_state, seen_at, applier.reads) == ("RUNNING", written[1], [])


def test_an_event_that_came_after_the_plan_read_is_what_is_written() -> None:
    planned = (observe_flink({"metadata": {"name": "p"}}), time.monotonic())
    pipeline._mirrored[("ns", "p")] = planned  # the status says what the plan read
    child_index.note("FlinkDeployment", "MODIFIED", _event("RUNNING"))
    # A pipeline of the same name, created again: its event replaces ours in the index, and is not ours.
    child_index.note("FlinkDeployment", "MODIFIED", _event("RUNNING", uid="u-2"))
    flink, _ = pipeline._flink_deployment(_Reads(), _unapplied_plan(planned), time.monotonic())
    assert flink.job_state is None
    child_index.note("FlinkDeployment", "MODIFIED", _event("RUNNING"))
    flink, _ = pipeline._flink_deployment(_Reads(), _unapplied_plan(planned), time.monotonic())
    assert flink.job_state == "RUNNING"


def test_an_older_written_state_does_not_replace_a_newer_read() -> None:
    pipeline._mirrored[("ns", "p")] = (observe_flink(dict(_event("OLD"))), time.monotonic())
    flink, _ = pipeline._flink_deployment(_Reads(), _plan(new=False), time.monotonic())
    assert flink.job_state == "READ"


def test_after_an_update_a_later_event_is_not_taken_over_the_read() -> None:
    """An event of the older spec can arrive after the read that followed the apply: the read is kept."""
    applier = _Reads()
    plan = _plan(new=False)  # the FlinkDeployment is among the changed children: applied, then read
    real_get = applier.get

    def get_then_old_event(*args: str) -> dict[str, Any] | None:
        live = real_get(*args)
        child_index.note("FlinkDeployment", "MODIFIED", _event("OLD"))  # arrives just after the read
        return live

    applier.get = get_then_old_event  # type: ignore[method-assign]
    flink, _ = pipeline._flink_deployment(applier, plan, time.monotonic())
    assert flink.job_state == "READ"
