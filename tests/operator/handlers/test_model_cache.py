"""Reconciles read their models from what the models' watch reported; a model not reported yet is read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any, cast

import kopf
import pytest
from fraud_operator.handlers import model_cache, registration


class Applier:
    """Counts reads; the API server's copy of every model is ``live``."""

    def __init__(self, live: Mapping[str, Any] | None) -> None:
        self.live = live
        self.reads: list[tuple[str, ...]] = []

    def get(self, *args: str) -> Mapping[str, Any] | None:
        self.reads.append(args)
        return self.live


def _model(version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "m", "uid": "u"}, "spec": {"version": version}}


@pytest.fixture(autouse=True)
def empty() -> Iterator[None]:
    model_cache.clear()
    yield
    model_cache.clear()


def test_a_model_the_watch_reported_is_not_read_again() -> None:
    applier = Applier(_model("api"))
    model_cache.remember(_model("watched"))
    body = model_cache.model_body(cast(Any, applier), "ns", "m")
    assert body is not None and body["spec"]["version"] == "watched"
    assert applier.reads == []


def test_a_model_not_reported_yet_is_read_and_not_stored() -> None:
    applier = Applier(_model("api"))
    for _ in range(2):
        body = model_cache.model_body(cast(Any, applier), "ns", "m")
        assert body is not None and body["spec"]["version"] == "api"
    assert len(applier.reads) == 2  # only the watch stores: a read could be older than its next event


def test_the_watch_handler_stores_before_it_kicks_and_forgets_on_deletion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    background = registration.Background(interval=3600)
    monkeypatch.setattr(background.scheduler, "start", lambda: False)
    seen: list[Mapping[str, Any] | None] = []
    monkeypatch.setattr(background, "users", lambda ns, name: ["p"])

    def kick(namespace: str, name: str) -> None:
        seen.append(model_cache.model_body(cast(Any, Applier(None)), namespace, "m"))

    monkeypatch.setattr(background, "kick", kick)
    asyncio.run(background.model_event("MODIFIED", kopf.Body(cast(kopf.RawBody, _model("v2")))))
    assert [b["spec"]["version"] if b else None for b in seen] == ["v2"]  # the kicked reconcile reads v2

    asyncio.run(background.model_event("DELETED", kopf.Body(cast(kopf.RawBody, _model("v2")))))
    applier = Applier(None)
    assert model_cache.model_body(cast(Any, applier), "ns", "m") is None and len(applier.reads) == 1
