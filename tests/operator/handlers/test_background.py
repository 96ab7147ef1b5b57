"""The watch-driven operator's queue, without a cluster: what a queued reconcile does and does not run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from fraud_operator.handlers import registration
from fraud_operator.handlers.resync import Tracked


def _background(monkeypatch: pytest.MonkeyPatch) -> tuple[registration.Background, list[Mapping[str, Any]]]:
    handed: list[Mapping[str, Any]] = []
    monkeypatch.setattr(registration, "reconcile", lambda body, **_: handed.append(body))
    background = registration.Background(interval=3600)  # its workers never start here
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


def test_a_kick_not_yet_served_reconciles_the_live_pipeline_by_name_and_uid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    background, handed = _background(monkeypatch)
    monkeypatch.setattr(registration, "reconciled_since", lambda ns, name, since: False)
    background.kick("ns", "p")
    background._run(("reconcile", "ns", "p"))
    assert handed == [{"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}}]


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
