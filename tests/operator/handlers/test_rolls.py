"""Roll Events: every roll announces its start, whatever the Flink operator answered before it was written."""

from __future__ import annotations

from fraud_operator.handlers.rolls import roll_events

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
