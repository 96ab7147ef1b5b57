"""Which children a plan has the API server judge (dry run) before anything is written, without a cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest
from fraud_operator.apply import Applier, ChildRejected
from fraud_operator.handlers import child_index, plan, verdicts
from fraud_operator.handlers.status import FlinkObservation

OWNER = {"apiVersion": "streamflow.io/v1alpha1", "kind": "FraudPipeline", "metadata": {"name": "p"}}


class FakeApplier(Applier):
    """Live objects by name; records reads and dry runs; refuses the kinds in ``refuse``."""

    def __init__(self, live: Mapping[str, str] | None = None, refuse: tuple[str, ...] = ()) -> None:
        self.live = dict(live or {})  # name -> "unchanged" | "changed"
        self.refuse = refuse
        self.reads: list[str] = []
        self.dry_runs: list[str] = []

    def observe(self, obj: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
        name = str(obj["metadata"]["name"])
        self.reads.append(name)
        state = self.live.get(name, "absent")
        return state, None if state == "absent" else {**obj, "status": {"jobStatus": {"state": name}}}

    def send(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        assert dry_run, "the plan never writes"
        self.dry_runs.append(str(obj["metadata"]["name"]))
        if obj["kind"] in self.refuse:
            raise ChildRejected(obj["kind"], obj["metadata"]["name"], 422, "no")
        return True


def _names(objs: list[dict[str, Any]]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objs]


def _children() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": f"p-{kind.lower()}", "namespace": "ns"}}
        for kind in ("ConfigMap", "ServiceAccount", "CronJob")
    ]


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    verdicts.forget_all()
    yield
    verdicts.forget_all()


def test_a_new_pipeline_reads_no_child_and_its_shape_is_judged_once() -> None:
    first, second = FakeApplier(), FakeApplier()
    assert _names(plan._judged(first, _children(), OWNER, shape="s", new=True)) == _names(_children())
    assert first.reads == [] and len(first.dry_runs) == 3
    judged = plan._judged(second, _children(), OWNER, shape="s", new=True)
    assert _names(judged) == _names(_children())
    assert all(obj["metadata"]["ownerReferences"][0]["name"] == "p" for obj in judged)  # adopted, as sent
    assert second.reads == [] and second.dry_runs == []  # the same shape: accepted before
    third = FakeApplier()
    plan._judged(third, _children(), OWNER, shape="other", new=True)
    assert len(third.dry_runs) == 3


def test_a_refused_creation_is_not_remembered() -> None:
    with pytest.raises(plan.SpecRefused):
        plan._judged(FakeApplier(refuse=("CronJob",)), _children(), OWNER, shape="s", new=True)
    again = FakeApplier()
    plan._judged(again, _children(), OWNER, shape="s", new=True)
    assert len(again.dry_runs) == 3


def test_updates_are_always_dry_run_and_unchanged_children_left_out() -> None:
    live = {"p-configmap": "changed", "p-serviceaccount": "unchanged"}
    for _ in range(2):
        applier = FakeApplier(live)
        changed = plan._judged(applier, _children(), OWNER, shape="s", new=False)
        assert [c["kind"] for c in changed] == ["ConfigMap", "CronJob"]
        assert applier.dry_runs == ["p-configmap", "p-cronjob"]


def test_the_flink_deployment_read_to_compare_it_is_kept_for_its_status() -> None:
    """The reconcile observes the FlinkDeployment's status from the plan's read when it applies nothing
    to it (a restart's reconciles: one read of it per pipeline instead of two)."""
    children = [
        *_children(),
        {"apiVersion": "v1", "kind": "FlinkDeployment", "metadata": {"name": "p", "namespace": "ns"}},
    ]
    live = {child["metadata"]["name"]: "unchanged" for child in children}
    read: dict[str, tuple[FlinkObservation, float]] = {}
    before = time.monotonic()
    assert plan._judged(FakeApplier(live), children, OWNER, shape="s", new=False, read=read) == []
    assert list(read) == ["FlinkDeployment"]
    observation, seen_at = read["FlinkDeployment"]
    assert observation.job_state == "p" and before <= seen_at <= time.monotonic()


def test_children_the_watches_report_as_applied_are_not_read() -> None:
    """A child whose watch event carries the applied hash of the desired object, written by no one else
    since, is unchanged without a read; the FlinkDeployment's status comes from its event."""
    children = [
        *_children(),
        {"apiVersion": "v1", "kind": "FlinkDeployment", "metadata": {"name": "p", "namespace": "ns"}},
    ]
    owner = {**OWNER, "metadata": {"name": "p", "uid": "u-1"}}
    ref = {"kind": "FraudPipeline", "name": "p", "uid": "u-1"}
    try:
        for child in children:
            applied = Applier.adopted(child, owner)
            meta = {**applied["metadata"], "ownerReferences": [ref]}
            status = {"jobStatus": {"state": "RUNNING"}} if child["kind"] == "FlinkDeployment" else None
            event = {"metadata": meta, "status": status}
            if child["kind"] == "CronJob":  # someone else wrote it after our apply: read and compared
                meta["managedFields"] = [
                    {"manager": "streamflow-operator", "time": "2026-12-06T10:00:00Z"},
                    {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-06T10:00:01Z"},
                ]
            child_index.note(child["kind"], "MODIFIED", event)
        child_index.note(
            "ServiceAccount", "DELETED", {"metadata": {"name": "p-serviceaccount", "namespace": "ns"}}
        )
        applier = FakeApplier({"p-cronjob": "unchanged", "p-serviceaccount": "unchanged"})
        read: dict[str, tuple[FlinkObservation, float]] = {}
        assert plan._judged(applier, children, owner, shape="s", new=False, read=read) == []
        assert applier.reads == ["p-serviceaccount", "p-cronjob"]
        assert read["FlinkDeployment"][0].job_state == "RUNNING"
        other = {**OWNER, "metadata": {"name": "p", "uid": "u-2"}}  # a pipeline recreated with the name
        again = FakeApplier({name: "unchanged" for name in _names(children)})
        plan._judged(again, children, other, shape="s", new=False)
        assert again.reads == _names(children)
    finally:
        child_index.clear()


class SlowApplier(FakeApplier):
    """A FakeApplier whose dry runs take a while, counted across every instance."""

    dry_runs_all: ClassVar[list[str]] = []
    lock = threading.Lock()

    def send(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        time.sleep(0.05)
        with SlowApplier.lock:
            SlowApplier.dry_runs_all.append(str(obj["metadata"]["name"]))
        return super().send(obj, dry_run=dry_run)


def _judge_at_once(appliers: list[FakeApplier]) -> list[Any]:
    """``_judged`` of the same new shape by every applier at once, each in its own thread."""
    outcomes: list[Any] = [None] * len(appliers)

    def judge(i: int) -> None:
        try:
            outcomes[i] = _names(plan._judged(appliers[i], _children(), OWNER, shape="s", new=True))
        except plan.SpecRefused as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=judge, args=(i,)) for i in range(len(appliers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_reconciles_of_one_new_shape_at_once_judge_it_once() -> None:
    """A cold start: every worker reconciles a new pipeline of the same shape at the same moment."""
    SlowApplier.dry_runs_all = []
    outcomes = _judge_at_once([SlowApplier() for _ in range(6)])
    assert outcomes == [_names(_children())] * 6
    assert sorted(SlowApplier.dry_runs_all) == sorted(_names(_children()))  # one judgment, not six


def test_a_refused_judgment_hands_the_shape_to_the_next_reconcile() -> None:
    SlowApplier.dry_runs_all = []
    outcomes = _judge_at_once([SlowApplier(refuse=("CronJob",)) for _ in range(3)])
    assert all(isinstance(o, plan.SpecRefused) for o in outcomes)  # each refused by its own dry run
    assert SlowApplier.dry_runs_all.count("p-cronjob") == 3
