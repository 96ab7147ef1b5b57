"""Roll Events: every roll announces its start, whatever the Flink operator answered before it was written."""

from __future__ import annotations

from datetime import UTC, datetime

from fraud_operator.handlers.pipeline import roll_just_failed
from fraud_operator.handlers.resync import tracked_from
from fraud_operator.handlers.rolls import roll_deadline, roll_events

FIRST = {"toModel": "a", "at": "2026-11-30T01:00:00Z", "result": "Succeeded"}


def _roll(result: str) -> dict[str, str]:
    return {"fromModel": "a", "toModel": "b", "at": "2026-11-30T02:00:00Z", "result": result, "reason": "why"}


def test_start_then_result_each_once() -> None:
    started = [FIRST, _roll("InProgress")]
    assert roll_events([FIRST], started) == [
        ("Normal", "ModelRolling", "rolling a -> b with a savepoint upgrade")
    ]
    assert roll_events(started, [FIRST, _roll("Succeeded")]) == [("Normal", "ModelRolled", "a -> b: why")]
    assert roll_events([FIRST, _roll("Succeeded")], [FIRST, _roll("Succeeded")]) == []


def test_a_roll_that_appears_finished_still_announces_its_start() -> None:
    assert roll_events([FIRST], [FIRST, _roll("Failed")]) == [
        ("Normal", "ModelRolling", "rolling a -> b with a savepoint upgrade"),
        ("Warning", "ModelRollFailed", "a -> b: why"),
    ]
    assert [reason for _, reason, _ in roll_events([FIRST], [_roll("RolledBack")])] == [
        "ModelRolling",
        "ModelRolledBack",
    ], "a history trimmed to its limit in the same write"


def test_the_first_deployment_is_no_roll_from_anything() -> None:
    assert roll_events([], [FIRST]) == [("Normal", "ModelRolled", "-> a: ")]


def test_a_roll_in_flight_is_tracked_with_its_deadline_and_only_then() -> None:
    """The watch-driven operator schedules one reconcile past this deadline, and none without a roll."""
    spec = {"modelPolicy": {"rollTimeoutSeconds": 30}}
    rolling = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "generation": 2},
        "spec": spec,
        "status": {"observedGeneration": 2, "modelHistory": [FIRST, _roll("InProgress")]},
    }
    tracked = tracked_from(rolling)
    started = datetime(2026, 11, 30, 2, 0, tzinfo=UTC).timestamp()
    assert (tracked.uid, tracked.rolling, tracked.roll_deadline) == ("u1", True, started + 30)
    assert roll_deadline(_roll("InProgress"), {}) == started + 600, "the CRD default timeout"
    done = {**rolling, "status": {"modelHistory": [FIRST, _roll("Succeeded")]}}
    assert tracked_from(done).roll_deadline is None and not tracked_from(done).rolling


def test_only_a_roll_that_just_failed_asks_for_the_rollback_reconcile() -> None:
    before = {"modelHistory": [FIRST, _roll("InProgress")]}
    failed = {"modelHistory": [FIRST, _roll("Failed")]}
    assert roll_just_failed(before, failed)
    assert not roll_just_failed(failed, failed), "already failed before this write"
    assert not roll_just_failed(before, {"modelHistory": [FIRST, _roll("Succeeded")]})
    assert not roll_just_failed(None, failed), "nothing was written"
    assert not roll_just_failed(before, {})
