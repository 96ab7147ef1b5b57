"""Condition bookkeeping: transitions move lastTransitionTime, repeats do not; output fits the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fraud_operator.api.conditions import condition_status, set_condition
from fraud_operator.api.pipeline import FraudPipelineStatus

T0 = datetime(2026, 11, 29, 22, 0, 0, 123456, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_is_appended() -> None:
    conditions = set_condition([], "Ready", "False", "JobStarting", "waiting", observed_generation=3, now=T0)
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "JobStarting",
            "message": "waiting",
            "lastTransitionTime": "2026-11-29T22:00:00Z",
            "observedGeneration": 3,
        }
    ]
    status = FraudPipelineStatus.model_validate({"conditions": conditions})
    assert status.conditions[0].last_transition_time == T0.replace(microsecond=0)


def test_same_status_keeps_transition_time_but_updates_reason() -> None:
    first = set_condition([], "Ready", "False", "JobStarting", "a", observed_generation=1, now=T0)
    second = set_condition(first, "Ready", "False", "JobDeploying", "b", observed_generation=2, now=T1)
    assert second[0]["lastTransitionTime"] == "2026-11-29T22:00:00Z"
    assert (second[0]["reason"], second[0]["observedGeneration"]) == ("JobDeploying", 2)


def test_status_change_moves_transition_time_and_keeps_others() -> None:
    base = set_condition([], "Degraded", "False", "AsExpected", "", observed_generation=1, now=T0)
    base = set_condition(base, "Ready", "False", "JobStarting", "", observed_generation=1, now=T0)
    after = set_condition(
        base, "Ready", "True", "JobRunning", "RUNNING/STABLE", observed_generation=1, now=T1
    )
    assert [c["type"] for c in after] == ["Degraded", "Ready"]
    assert after[0] == base[0]
    assert after[1]["lastTransitionTime"] == "2026-11-29T22:05:00Z"
    assert condition_status(after, "Ready") == "True"
    assert condition_status(after, "JobRunning") is None


@pytest.mark.parametrize(("status", "reason"), [("Maybe", "Fine"), ("True", ""), ("True", "not camel case")])
def test_bad_condition_is_refused(status: str, reason: str) -> None:
    with pytest.raises(ValueError, match="condition Ready"):
        set_condition([], "Ready", status, reason, "", observed_generation=None, now=T0)  # type: ignore[arg-type]
