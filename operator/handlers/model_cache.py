"""The FraudModels as their watch last reported them: a reconcile reads its models here, not from the API.

The informer pattern, for the one kind every reconcile reads and few objects share: at a cold start of
1,000 pipelines on three models, 1,000+ reads of the same three objects. The watch handler
(:meth:`Background.model_event`) stores each model before it queues the reconciles of the pipelines that
use it, so a reconcile it causes reads what caused it. A model not stored yet (created moments ago, its
event still on the way) is read from the API server, and not stored: only the watch stores.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from fraud_operator.api.common import API_VERSION
from fraud_operator.apply import Applier
from fraud_operator.handlers.models import KIND

__all__ = ["clear", "forget", "model_body", "remember", "unjudged"]

_lock = threading.Lock()
_bodies: dict[tuple[str, str], Mapping[str, Any]] = {}


def remember(body: Mapping[str, Any]) -> None:
    """Store a model as its latest watch event shows it."""
    meta = body.get("metadata") or {}
    with _lock:
        _bodies[(str(meta.get("namespace")), str(meta.get("name")))] = dict(body)


def forget(namespace: str, name: str) -> None:
    """A deleted model."""
    with _lock:
        _bodies.pop((namespace, name), None)


def clear() -> None:
    """An operator (re)start: the watch's listing refills the cache."""
    with _lock:
        _bodies.clear()


def unjudged(namespace: str, name: str) -> bool:
    """Whether the watch reported the model but no judgement of it yet (no ``status.phase``)."""
    with _lock:
        body = _bodies.get((namespace, name))
    return body is not None and not (body.get("status") or {}).get("phase")


def model_body(applier: Applier, namespace: str, name: str) -> Mapping[str, Any] | None:
    """The model from the cache, else from the API server (None: it does not exist)."""
    with _lock:
        body = _bodies.get((namespace, name))
    return body if body is not None else applier.get(API_VERSION, KIND, namespace, name)
