"""The watch-driven operator's queue, without a cluster: what a queued reconcile does and does not run."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pytest
from fraud_operator.apply import FIELD_MANAGER
from fraud_operator.handlers import child_index, model_cache, pipeline, registration
from fraud_operator.handlers.resync import Tracked
from fraud_operator.handlers.status import observe_flink


def _background(monkeypatch: pytest.MonkeyPatch) -> tuple[registration.Background, list[Mapping[str, Any]]]:
    handed: list[Mapping[str, Any]] = []
    monkeypatch.setattr(registration, "reconcile", lambda body, **_: handed.append(body))
    background = registration.Background(interval=3600)  # its workers never start here
    background.children = registration.ChildWatches((), "", background.child_changed, lambda: None)
    background._pipelines[("ns", "p")] = Tracked(
        strimzi=True, database=None, schema_version=None, models=frozenset({"m"}), uid="u1"
    )
    return background, handed


def test_a_kick_already_served_by_a_later_reconcile_runs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    background, handed = _background(monkeypatch)
    monkeypatch.setattr(registration, "reconciled_since", lambda ns, name, since: True)
    background.kick("ns", "p")
    assert background._run(("reconcile", "ns", "p")) is None
    assert handed == []


def test_after_a_start_a_reconcile_waits_for_the_childrens_listings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the watches have listed the namespace's children, the index cannot spare a read of each."""
    background, handed = _background(monkeypatch)
    child_index.clear()
    try:
        background._listings_due = time.monotonic() + 60
        assert background._run(("roll", "ns", "p")) == registration._LISTINGS_POLL
        assert handed == []
        for kind in registration._INDEXED_KINDS:
            child_index.listed(kind, "ns", time.monotonic())
        assert background._run(("roll", "ns", "p")) is None
        assert len(handed) == 1
        child_index.clear()
        background._listings_due = time.monotonic() - 1  # waited long enough: read the children instead
        assert background._run(("roll", "ns", "p")) is None
        assert len(handed) == 2
    finally:
        child_index.clear()


def test_after_a_start_a_reconcile_waits_for_its_models_first_judgement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model listed without a phase is being judged by kopf's create handler: reconciled before that,
    the pipeline would be applied without its model and then again with it."""
    background, handed = _background(monkeypatch)
    child_index.clear()
    model_cache.clear()
    try:
        for kind in registration._INDEXED_KINDS:
            child_index.listed(kind, "ns", time.monotonic())
        background._listings_due = time.monotonic() + 60
        model_cache.remember({"metadata": {"namespace": "ns", "name": "m"}})
        assert background._run(("reconcile", "ns", "p")) == registration._LISTINGS_POLL
        assert handed == []
        model_cache.remember({"metadata": {"namespace": "ns", "name": "m"}, "status": {"phase": "Rejected"}})
        assert background._run(("reconcile", "ns", "p")) is None
        assert len(handed) == 1
        model_cache.remember(
            {"metadata": {"namespace": "ns", "name": "m"}}
        )  # judged never, but long after a start
        background._listings_due = time.monotonic() - 1
        assert background._run(("reconcile", "ns", "p")) is None
        assert len(handed) == 2
    finally:
        child_index.clear()
        model_cache.clear()


def test_a_kick_not_yet_served_reconciles_the_live_pipeline_by_name_and_uid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    background, handed = _background(monkeypatch)
    monkeypatch.setattr(registration, "reconciled_since", lambda ns, name, since: False)
    background.kick("ns", "p")
    background._run(("reconcile", "ns", "p"))
    assert handed == [{"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}}]


def test_a_reconcile_between_two_kicks_does_not_serve_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child deleted (kick 1), put back by a reconcile that started after it, then edited (kick 2)
    before the queued reconcile ran: that reconcile must still run, it is the only one to see the edit."""
    background, handed = _background(monkeypatch)
    background.kick("ns", "p")
    pipeline.forget_reconciled("ns", "p")
    pipeline._reconciled_at[("ns", "p")] = time.monotonic()  # a reconcile took the lock after kick 1
    time.sleep(0.001)
    background.kick("ns", "p")
    try:
        background._run(("reconcile", "ns", "p"))
    finally:
        pipeline.forget_reconciled("ns", "p")
    assert len(handed) == 1


def _child(*managers: tuple[str, str]) -> dict[str, Any]:
    owner = {"apiVersion": "streamflow.io/v1alpha1", "kind": "FraudPipeline", "name": "p"}
    return {
        "kind": "ConfigMap",
        "metadata": {
            "namespace": "ns",
            "name": "p-detector-config",
            "ownerReferences": [owner],
            "managedFields": [{"manager": m, "operation": "Update", "time": t} for m, t in managers],
        },
    }


@pytest.mark.parametrize("type_", [None, "MODIFIED"])
def test_a_child_edited_by_someone_else_kicks_its_pipeline_also_when_listed(
    monkeypatch: pytest.MonkeyPatch, type_: str | None
) -> None:
    """A listing (a watch's reconnect) is the only news of an edit made while the watch was away."""
    background, _ = _background(monkeypatch)
    kicked: list[tuple[str, str]] = []
    monkeypatch.setattr(background, "kick", lambda ns, name, delay=0.0: kicked.append((ns, name)))
    ours = (FIELD_MANAGER, "2026-12-05T10:00:00Z")
    untouched = _child(ours)
    edited = _child(ours, ("kubectl-edit", "2026-12-05T10:00:05Z"))
    background.child_changed(type_, untouched)
    assert kicked == []
    background.child_changed(type_, edited)
    assert kicked == [("ns", "p")]


def test_a_roll_deadline_always_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconcile from before the deadline cannot have timed the roll out: the deadline runs its own."""
    background, handed = _background(monkeypatch)
    monkeypatch.setattr(registration, "reconciled_since", lambda ns, name, since: True)
    background._run(("roll", "ns", "p"))
    assert len(handed) == 1


def test_used_by_changes_are_applied_as_changes_not_as_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a start-up the index fills while the first refreshes run: a refresh must not drop a pipeline
    from usedBy only because its listing event has not been seen yet."""
    background, _ = _background(monkeypatch)
    handed: list[Mapping[str, bool] | None] = []
    monkeypatch.setattr(registration, "reconcile_model", lambda body, uses=None: handed.append(uses))

    class Applier:
        def get(self, *_: Any) -> dict[str, Any]:
            return {"metadata": {"namespace": "ns", "name": "m"}}

    class Clients:
        applier = Applier()

    monkeypatch.setattr(registration, "clients", lambda: Clients())
    background._note_uses("ns", "p", frozenset({"m"}), frozenset())
    background._note_uses("ns", "q", frozenset(), frozenset({"m"}))
    background._run(("model", "ns", "m"))
    assert handed == [{"p": True, "q": False}]
    background._run(("model", "ns", "m"))  # the periodic check: nothing to change
    assert handed[-1] == {}


class _Listing:
    """An applier whose lists return ``names``; ``during`` runs while the list is in flight."""

    def __init__(self, names: dict[str, dict[str, str]], during: Any = None) -> None:
        self._names = names
        self._during = during

    def names(self, api_version: str, kind: str, namespace: str) -> dict[str, str]:
        if self._during is not None:
            self._during()
        return self._names.get(kind, {})


def test_a_sweep_forgets_a_pipeline_deleted_while_unwatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Absent from the API server's list and not seen since: gone from the index and from usedBy."""
    background, _ = _background(monkeypatch)
    background._pipelines[("ns", "q")] = Tracked(
        strimzi=True, database=None, schema_version=None, models=frozenset({"m"}), uid="u2"
    )

    class Clients:
        applier = _Listing({"FraudPipeline": {"p": "u1"}})

    monkeypatch.setattr(registration, "clients", lambda: Clients())
    background._run(("sweep", "", ""))
    assert background.users("ns", "m") == ["p"]
    assert background._uses[("ns", "m")] == {"q": False}


def test_a_sweep_keeps_a_pipeline_recreated_meanwhile_and_one_seen_after_its_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event newer than the list wins over it; a name listed with another uid is another object."""
    background, _ = _background(monkeypatch)

    def event_during_the_list() -> None:
        asyncio.run(
            background.pipeline_event(
                "ADDED",
                kopf.Body({"metadata": {"namespace": "ns", "name": "new", "uid": "u3"}, "spec": {}}),
            )
        )

    class Clients:
        applier = _Listing({"FraudPipeline": {"p": "other-uid"}}, during=event_during_the_list)

    monkeypatch.setattr(registration, "clients", lambda: Clients())
    monkeypatch.setattr(background.scheduler, "start", lambda: False)  # no workers: the test runs the keys
    background._run(("sweep", "", ""))
    assert ("ns", "new") in background._pipelines
    assert ("ns", "p") in background._pipelines  # recreated with a new uid: its own event follows


def test_a_relisted_pipeline_whose_models_changed_meanwhile_updates_used_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A listing event of a pipeline the index knew is compared with it: usedBy follows a modelRef changed
    while the watch was disconnected."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    body = {"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}, "spec": {"modelRef": {"name": "n"}}}
    asyncio.run(background.pipeline_event(None, kopf.Body(cast(kopf.RawBody, body))))
    assert background._uses == {("ns", "n"): {"p": True}, ("ns", "m"): {"p": False}}


def _deployment(state: str) -> dict[str, Any]:
    owner = {"apiVersion": "streamflow.io/v1alpha1", "kind": "FraudPipeline", "name": "p", "uid": "u1"}
    return {
        "metadata": {"namespace": "ns", "name": "p", "generation": 1, "ownerReferences": [owner]},
        "status": {"jobStatus": {"state": state}, "lifecycleState": "STABLE", "observedGeneration": 1},
    }


def _flink_event(monkeypatch: pytest.MonkeyPatch, mirrored: str, event: str) -> Any:
    """The background handlers after a FlinkDeployment event in state ``event`` while the pipeline's status
    mirrors state ``mirrored``."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    status = _deployment(mirrored)
    monkeypatch.setattr(registration, "mirrored", lambda ns, name: observe_flink(status))
    background.flink_event("MODIFIED", _deployment(event))
    return background


def test_a_flink_deployment_event_the_status_already_says_queues_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reconcile that applied a FlinkDeployment observed it in its status write: its event is spent."""
    background = _flink_event(monkeypatch, mirrored="RUNNING", event="RUNNING")
    assert background.scheduler.queued() == 0


def test_a_flink_deployment_change_is_mirrored_by_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    background = _flink_event(monkeypatch, mirrored="RUNNING", event="FAILED")
    assert background.scheduler.queued() == 1
    mirrored: list[tuple[str, ...]] = []
    monkeypatch.setattr(registration, "mirror_flink", lambda *args: mirrored.append(args))
    background._run(("flink", "ns", "p"))
    assert [args[:5] for args in mirrored] == [("ns", "p", "p", "u1", observe_flink(_deployment("FAILED")))]
    assert isinstance(mirrored[0][5], float)  # the event's arrival; no read: the event's observation


def test_a_flink_deployment_found_by_a_listing_is_mirrored_late_only_at_a_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At a start the pipelines' own reconciles observe their FlinkDeployments anyway; a listing later on
    (the watch's events expired) reports a change no event brought, which must not wait."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    monkeypatch.setattr(registration, "mirrored", lambda ns, name: observe_flink(_deployment("RUNNING")))
    background._listings_due = time.monotonic() + 60
    background.flink_event(None, _deployment("FAILED"))
    due = background.scheduler._due[("flink", "ns", "p")] - time.monotonic()
    assert registration._LISTED_FLINK_DELAY - 1 < due <= registration._LISTED_FLINK_DELAY
    background.scheduler.forget(("flink", "ns", "p"))
    background._listings_due = time.monotonic() - 1
    background.flink_event(None, _deployment("FAILED"))
    assert background.scheduler._due[("flink", "ns", "p")] <= time.monotonic()


def test_an_event_older_than_the_reconciles_read_is_not_mirrored_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FlinkDeployment created by a reconcile: its ADDED event (no status yet) is queued, the Flink
    operator reports RUNNING, the reconcile reads RUNNING and writes it. The queued ADDED must not then
    overwrite RUNNING with "no status": no later event would put RUNNING back."""
    writes: list[dict[str, Any]] = []
    monkeypatch.setattr(
        registration, "write_pipeline_status", lambda *args, **kwargs: writes.append(kwargs) or (None, {})
    )
    monkeypatch.setattr(registration, "clients", lambda: type("Ctx", (), {"applier": None})())
    created = observe_flink({**_deployment("RUNNING"), "status": {}})
    running = observe_flink(_deployment("RUNNING"))
    arrived = time.monotonic()
    pipeline._mirrored[("ns", "p")] = (running, arrived + 0.01)  # the reconcile's read came after the event
    try:
        registration.mirror_flink("ns", "p", "p", "u1", created, arrived)
        assert writes == []
        failed = observe_flink(_deployment("FAILED"))
        registration.mirror_flink("ns", "p", "p", "u1", failed, time.monotonic() + 0.02)  # a newer event
        assert [w["flink"] for w in writes] == [failed]
    finally:
        pipeline.forget_reconciled("ns", "p")


def test_the_level_check_mirrors_a_status_left_behind_its_flink_deployments_latest_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a status write ever put an older state over a newer event's (the event, matching the status
    at its arrival, queued nothing), the level check finds the two apart and mirrors the newer one."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    monkeypatch.setattr(background, "kick", lambda *args, **kwargs: None)
    child_index.clear()
    waiting = observe_flink({**_deployment("RUNNING"), "status": {}})
    try:
        pipeline._mirrored[("ns", "p")] = (waiting, time.monotonic())
        child_index.note("FlinkDeployment", "MODIFIED", _deployment("RUNNING"))  # arrived later
        background._run(("check", "ns", "p"))
        assert background.scheduler.queued() == 1
        assert background._flink[("ns", "p")][2] == observe_flink(_deployment("RUNNING"))
        queued = dict(background._flink)
        background._run(("check", "ns", "p"))  # its mirror is queued already: left as it is
        assert background._flink == queued
        # Once the status says it (or was written from a read after the event), nothing is queued.
        background.scheduler.forget(("flink", "ns", "p"))
        background._flink.clear()
        pipeline._mirrored[("ns", "p")] = (waiting, time.monotonic())  # read after the event arrived
        background._run(("check", "ns", "p"))
        pipeline._mirrored[("ns", "p")] = (observe_flink(_deployment("RUNNING")), 0.0)
        background._run(("check", "ns", "p"))
        assert background.scheduler.queued() == 0
    finally:
        pipeline.forget_reconciled("ns", "p")
        child_index.clear()


def test_every_watch_event_handler_is_a_coroutine() -> None:
    """Every watch event handler is a coroutine that queues its work: a spec change's handler never waits in
    kopf's thread pool behind thousands of child or FlinkDeployment events (a cold start's)."""
    registry = kopf.OperatorRegistry()
    registration.register(registry, resync_seconds=3600)
    threaded = sorted(
        str(handler.id)
        for handler in registry._watching.get_all_handlers()
        if not asyncio.iscoroutinefunction(handler.fn)
    )
    assert threaded == []


def test_kopf_watches_the_pipelines_and_models_only() -> None:
    """The children, the FlinkDeployments included, are watched outside kopf (:mod:`.child_watch`)."""
    registry = kopf.OperatorRegistry()
    registration.register(registry, resync_seconds=3600)
    watched = {str(h.selector.any_name) for h in registry._watching.get_all_handlers() if h.selector}
    changed = {str(h.selector.any_name) for h in registry._changing.get_all_handlers() if h.selector}
    assert (watched, changed) == ({"fraudpipelines", "fraudmodels"}, {"fraudmodels"})


def test_kopfs_diff_base_is_built_for_models_only() -> None:
    """Only the models have change handlers: a pipeline's event costs no deep copy of its body."""
    storage = registration.ModelsDiffBase(prefix="streamflow.io", key="last-handled-configuration")
    pipeline = {"apiVersion": "streamflow.io/v1alpha1", "kind": "FraudPipeline", "spec": {"x": 1}}
    model = {"apiVersion": "streamflow.io/v1alpha1", "kind": "FraudModel", "spec": {"x": 1}}
    assert storage.build(body=kopf.Body(cast(kopf.RawBody, pipeline))) == {}
    assert storage.build(body=kopf.Body(cast(kopf.RawBody, model))) == {"spec": {"x": 1}}


def test_kopfs_success_lines_of_event_handlers_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    registration.configure(kopf.OperatorSettings())
    logger = logging.getLogger("kopf.objects")
    with caplog.at_level(logging.INFO, logger="kopf.objects"):
        logger.info("Handler 'pipeline-event' succeeded.")
        logger.info("Handler 'model-create' succeeded.")
        logger.error("Handler 'pipeline-event' failed with an exception. Will retry.")
    assert [r.getMessage() for r in caplog.records] == [
        "Handler 'model-create' succeeded.",
        "Handler 'pipeline-event' failed with an exception. Will retry.",
    ]


def test_no_timer_or_daemon_makes_kopf_keep_each_objects_body() -> None:
    """kopf keeps the latest body of every object of a kind that has a timer or daemon (for the next run),
    even where the handler's filter excludes the object: 44 KB per pipeline, measured. The periodic work
    runs on the background queue instead."""
    registry = kopf.OperatorRegistry()
    registration.register(registry, resync_seconds=3600)
    assert [str(handler.id) for handler in registry._spawning.get_all_handlers()] == []


def test_a_shadow_model_schedules_comparisons_of_the_live_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    spec = {"modelRef": {"name": "m"}, "shadowModelRef": {"name": "s"}}
    body = {"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}, "spec": spec}
    asyncio.run(background.pipeline_event("MODIFIED", kopf.Body(cast(kopf.RawBody, body))))
    assert ("shadow", "ns", "p") in background.scheduler._due

    compared: list[Mapping[str, Any]] = []
    live = {**body, "status": {"activeModel": "m"}}
    applier = type("Applier", (), {"get": staticmethod(lambda *args: live)})()
    monkeypatch.setattr(registration, "clients", lambda: type("Ctx", (), {"applier": applier})())
    monkeypatch.setattr(registration, "compare_pipeline", compared.append)
    assert background._run(("shadow", "ns", "p")) == background.shadow_interval
    assert compared == [live]

    del spec["shadowModelRef"]  # dropped: no more comparisons
    asyncio.run(background.pipeline_event("MODIFIED", kopf.Body(cast(kopf.RawBody, body))))
    assert ("shadow", "ns", "p") not in background.scheduler._due
    assert background._run(("shadow", "ns", "p")) is None
    assert compared == [live]


def _pipeline_body(generation: int, **meta: Any) -> kopf.Body:
    body = {
        "metadata": {"namespace": "ns", "name": "p", "uid": "u1", "generation": generation, **meta},
        "spec": {"modelRef": {"name": "m"}},
        "status": {"observedGeneration": 1},
    }
    return kopf.Body(cast(kopf.RawBody, body))


@pytest.mark.parametrize(
    ("type_", "generation", "meta", "queued"),
    [
        ("MODIFIED", 1, {}, False),  # our status write, or a label: the generation is the same
        ("MODIFIED", 2, {}, True),  # a spec change
        (None, 1, {}, True),  # a listing: a start-up, where each pipeline is reconciled once
        ("MODIFIED", 2, {"deletionTimestamp": "2026-12-06T00:00:00Z"}, False),  # the garbage collector's
    ],
)
def test_a_pipelines_own_event_queues_its_reconcile_only_for_a_new_generation_or_a_listing(
    monkeypatch: pytest.MonkeyPatch, type_: str | None, generation: int, meta: dict[str, Any], queued: bool
) -> None:
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    background._pipelines[("ns", "p")] = registration.tracked_from(_pipeline_body(1))
    asyncio.run(background.pipeline_event(type_, _pipeline_body(generation, **meta)))
    assert (("reconcile", "ns", "p") in background.scheduler._due) is queued


def test_a_created_pipeline_is_reconciled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    del background._pipelines[("ns", "p")]
    asyncio.run(background.pipeline_event("ADDED", _pipeline_body(1)))
    assert background.scheduler._due[("reconcile", "ns", "p")] <= time.monotonic()


def test_a_new_pipeline_is_reconciled_from_its_latest_event_and_one_with_a_status_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pipeline without a status has had nothing but its creation and spec edits happen to it, each with
    an event: the latest one is reconciled instead of a read. Once it has a status, it is read."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    handed: list[Mapping[str, Any] | None] = []
    monkeypatch.setattr(registration, "reconcile", lambda body, *, attempt, new=None: handed.append(new))
    del background._pipelines[("ns", "p")]
    created = {"metadata": {"namespace": "ns", "name": "p", "uid": "u1", "generation": 1}, "spec": {}}
    edited = {**created, "metadata": {**created["metadata"], "generation": 2}}
    asyncio.run(background.pipeline_event("ADDED", kopf.Body(cast(kopf.RawBody, created))))
    asyncio.run(background.pipeline_event("MODIFIED", kopf.Body(cast(kopf.RawBody, edited))))
    background._run(("reconcile", "ns", "p"))
    asyncio.run(background.pipeline_event("MODIFIED", _pipeline_body(3)))  # has a status now
    background._run(("reconcile", "ns", "p"))
    assert [(h or {}).get("metadata", {}).get("generation") for h in handed] == [2, None]


def test_failures_in_a_row_lengthen_the_backoff_until_a_new_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The count of failed reconciles reaches the reconcile (the database step's backoff grows with it);
    the delay each failure asks for is the next run's; a success or a new spec starts again from 0."""
    background, _ = _background(monkeypatch)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    background._pipelines[("ns", "p")] = registration.tracked_from(_pipeline_body(1))
    attempts: list[int] = []
    outcome: dict[str, Exception | None] = {"error": kopf.TemporaryError("no cluster", delay=15)}

    def reconcile(body: Mapping[str, Any], *, attempt: int, new: Mapping[str, Any] | None = None) -> None:
        attempts.append(attempt)
        if outcome["error"] is not None:
            raise outcome["error"]

    monkeypatch.setattr(registration, "reconcile", reconcile)
    assert [background._run(("roll", "ns", "p")) for _ in range(3)] == [15.0, 15.0, 15.0]
    outcome["error"] = RuntimeError("a bug")
    assert background._run(("roll", "ns", "p")) == registration._ERROR_RETRY_SECONDS
    asyncio.run(background.pipeline_event("MODIFIED", _pipeline_body(2)))  # a new spec
    outcome["error"] = kopf.PermanentError("invalid spec")
    assert background._run(("roll", "ns", "p")) is None  # waits for the next generation
    outcome["error"] = None
    background._run(("roll", "ns", "p"))
    assert attempts == [0, 1, 2, 3, 0, 0]
    assert background._attempts == {}
